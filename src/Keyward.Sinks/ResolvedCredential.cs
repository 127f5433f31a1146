using Keyward.Core.Manifest;
using Keyward.Core.Secrets;

namespace Keyward.Sinks;

/// <summary>What the engine resolved for one credential before rendering (renderers do no crypto and no I/O).</summary>
/// <param name="Spec">The manifest declaration.</param>
/// <param name="Value">The active value, or null when it does not exist yet.</param>
/// <param name="PublicKey">Nix <c>name:base64</c> or an RSA public key PEM, for keys; null otherwise.</param>
public sealed record ResolvedCredential(Credential Spec, Secret? Value, string? PublicKey);
