using System.Security.Cryptography;
using System.Text;
using Keyward.Core.Errors;
using Keyward.Core.Secrets;

namespace Keyward.Crypto.Rsa;

/// <summary>RSA keys for RS256 Attic signing (the <c>rsa-key</c> credential kind).</summary>
public static class RsaKeys
{
    /// <summary>A new private key as PEM: PKCS#1 (<c>BEGIN RSA PRIVATE KEY</c>, what Attic's docs and
    /// <c>openssl genrsa -traditional</c> give) or PKCS#8 (<c>BEGIN PRIVATE KEY</c>, <c>openssl genpkey</c>). LF line ends.</summary>
    public static Secret Generate(int bits, bool pkcs8)
    {
        if (bits is < 2048 or > 16384 || bits % 8 != 0)
            throw ErrorCodes.InvalidArgument.Exception($"RSA key size {bits} is not supported", "use 2048, 3072 or 4096 bits (Attic's own setup uses 4096)");
        using var rsa = RSA.Create(bits);
        var pem = pkcs8 ? rsa.ExportPkcs8PrivateKeyPem() : rsa.ExportRSAPrivateKeyPem();
        return Secret.FromUtf8(pem + "\n");
    }

    /// <summary>The SPKI public key PEM (<c>BEGIN PUBLIC KEY</c>) of a PKCS#1 or PKCS#8 private key PEM.</summary>
    public static string PublicPem(Secret privatePem)
    {
        ArgumentNullException.ThrowIfNull(privatePem);
        var chars = new char[Encoding.UTF8.GetCharCount(privatePem.Reveal())];
        Encoding.UTF8.GetChars(privatePem.Reveal(), chars);
        try
        {
            using var rsa = RSA.Create();
            try { rsa.ImportFromPem(chars); }
            catch (Exception e) when (e is CryptographicException or ArgumentException)
            {
                throw ErrorCodes.AtticSigningKeyInvalid.Exception("the RSA private key PEM cannot be read (PKCS#1 or PKCS#8, unencrypted)");
            }
            return rsa.ExportSubjectPublicKeyInfoPem() + "\n";
        }
        finally { Array.Clear(chars); }
    }
}
