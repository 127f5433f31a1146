using Keyward.Core.Manifest;
using Keyward.Core.Secrets;

namespace Keyward.Sinks;

/// <summary>What the engine resolved for one credential before rendering (renderers do no crypto and no I/O).</summary>
/// <param name="Spec">The manifest declaration.</param>
/// <param name="Value">The active value, or null when it does not exist yet.</param>
/// <param name="PublicKey">Nix <c>name:base64</c> or an RSA public key PEM, for keys; null otherwise.</param>
public sealed record ResolvedCredential(Credential Spec, Secret? Value, string? PublicKey)
{
    private Func<string?>? _derivePublicKey;
    private string? _publicKey = PublicKey;

    /// <summary>A public key derived on first use: planning resolves every credential, but only the sinks that
    /// render a public key need one, and deriving it (parsing the private key) for 1,000 keys on every run is waste.</summary>
    public static ResolvedCredential Deferred(Credential spec, Secret? value, Func<string?> derivePublicKey) =>
        new(spec, value, (string?)null) { _derivePublicKey = derivePublicKey };

    public string? PublicKey
    {
        get
        {
            if (_derivePublicKey is { } derive)
            {
                _publicKey = derive();
                _derivePublicKey = null;
            }
            return _publicKey;
        }
        init => _publicKey = value;
    }
}
