using Keyward.Core.Manifest;
using Keyward.Core.Secrets;
using Keyward.Crypto.Nix;
using Keyward.Crypto.Rsa;
using Keyward.Sinks;

namespace Keyward.Engine.Delivery;

/// <summary>Turns stored values into what renderers need: the value and, for keys, the public half.</summary>
public static class CredentialValues
{
    public static ResolvedCredential Resolve(Credential spec, Secret? value) =>
        value is null || spec is not (NixSigningKeyCredential or RsaKeyCredential)
            ? new(spec, value, null)
            : ResolvedCredential.Deferred(spec, value, () => PublicKeyOf(spec, value)); // derived only if a sink renders it

    public static string? PublicKeyOf(Credential spec, Secret value) => spec switch
    {
        NixSigningKeyCredential => NixPublicKeyText(value),
        RsaKeyCredential => RsaKeys.PublicPem(value),
        _ => null,
    };

    private static string NixPublicKeyText(Secret value)
    {
        using var key = NixSecretKey.Parse(value);
        return key.PublicKey.ToString();
    }
}
