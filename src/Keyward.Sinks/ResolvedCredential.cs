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
    private Lock? _deriving;

    /// <summary>A public key derived on first use: planning resolves every credential, but only the sinks that
    /// render a public key need one, and deriving it (parsing the private key) for 1,000 keys on every run is waste.
    /// Sinks are inspected on several threads: the key is derived once, and a thread that finds it derived sees it.</summary>
    public static ResolvedCredential Deferred(Credential spec, Secret? value, Func<string?> derivePublicKey) =>
        new(spec, value, (string?)null) { _derivePublicKey = derivePublicKey, _deriving = new Lock() };

    public string? PublicKey
    {
        get
        {
            if (Volatile.Read(ref _derivePublicKey) is not null)
            {
                lock (_deriving!)
                {
                    if (_derivePublicKey is { } derive)
                    {
                        _publicKey = derive();
                        Volatile.Write(ref _derivePublicKey, null); // after the key: whoever reads null reads the key
                    }
                }
            }
            return _publicKey;
        }
        init => _publicKey = value;
    }
}
