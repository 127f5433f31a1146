using System.Security.Cryptography;
using Keyward.Core.Errors;
using Keyward.Core.Manifest;
using Keyward.Core.Secrets;
using Keyward.Crypto.Attic;
using Keyward.Crypto.Nix;
using Keyward.Crypto.Rsa;
using Keyward.Core.Store;

namespace Keyward.Engine.Minting;

/// <summary>The source of the signing key for a token: the signer's spec, value and version.</summary>
public sealed record SignerValue(Credential Spec, Secret Value, int Version);

/// <summary>Makes new values for generated credentials (secret, rsa-key, nix-signing-key, attic-token).
/// External credentials are imported by <see cref="ExternalImporter"/>.</summary>
public sealed class CredentialMinter(TimeProvider time)
{
    private const string AlphanumericAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

    public MintResult Generate(Credential spec)
    {
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal) { [SpecFingerprint.MetadataKey] = SpecFingerprint.Of(spec) };
        switch (spec)
        {
            case SecretCredential s:
                var value = s.Encoding == ValueEncoding.Alphanumeric
                    ? Secret.FromUtf8(RandomNumberGenerator.GetString(AlphanumericAlphabet, s.Bytes))
                    : Secret.Random(s.Bytes);
                return new MintResult(value, null, "generated", metadata, null, []);
            case RsaKeyCredential r:
                var pem = RsaKeys.Generate(r.Bits, r.Format == RsaKeyFormat.Pkcs8);
                metadata["bits"] = r.Bits.ToString(System.Globalization.CultureInfo.InvariantCulture);
                return new MintResult(pem, null, "generated", metadata, null, []);
            case NixSigningKeyCredential n:
                using (var key = NixSecretKey.Generate(n.KeyName))
                {
                    metadata[Delivery.VersionMetadata.KeyNameKey] = n.KeyName;
                    metadata[Delivery.VersionMetadata.PublicKeyKey] = key.PublicKey.ToString();
                    return new MintResult(key.ToSecret(), null, "generated", metadata, null, []);
                }
            default:
                throw new ArgumentException($"{spec.Kind.Name()} credentials are not generated", nameof(spec));
        }
    }

    /// <summary>Mints an Attic token signed by <paramref name="signer"/> (HS256 for a secret, RS256 for an rsa-key).
    /// <paramref name="tokenId"/> (the jti and ledger id) is random unless the caller derives one: the CI exchange makes
    /// it a function of the job's ID token, so the ledger's unique id refuses a second exchange of the same token.</summary>
    public MintResult MintToken(AtticTokenCredential spec, SignerValue signer, int newVersion, Func<ReadOnlySpan<byte>, string> fingerprint, string? tokenId = null)
    {
        using var key = AtticSigningKey.ForSigner(signer.Spec.Kind, signer.Value, signer.Spec.Name);
        var now = time.GetUtcNow();
        // Whole seconds: JWT times are integers, and nbf must never be after the server's clock.
        var issued = DateTimeOffset.FromUnixTimeSeconds(now.ToUnixTimeSeconds());
        var expires = issued + spec.Validity.Value;
        var grants = spec.Caches.Select(g => new AtticGrant(g.Pattern, g.Permissions)).ToArray();
        tokenId ??= Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
        var minted = AtticTokens.Mint(new AtticTokenRequest(spec.Subject, expires, issued, grants, spec.Issuer,
            spec.Audiences.Count == 0 ? null : spec.Audiences, tokenId), key);
        var summary = SpecFingerprint.PermissionsSummary(spec);
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            [SpecFingerprint.MetadataKey] = SpecFingerprint.Of(spec),
            ["subject"] = spec.Subject,
            [Delivery.VersionMetadata.SignedByKey] = signer.Spec.Name,
            [Delivery.VersionMetadata.SignedByVersionKey] = signer.Version.ToString(System.Globalization.CultureInfo.InvariantCulture),
            [Delivery.VersionMetadata.TokenIdKey] = tokenId,
            ["permissions"] = summary,
            ["algorithm"] = key.Algorithm,
        };
        var ledger = new LedgerEntry(tokenId, spec.Name, newVersion, spec.Subject, summary, issued, expires,
            fingerprint(minted.Jwt.Reveal()), signer.Spec.Name, signer.Version, null);
        return new MintResult(minted.Jwt, expires, "minted", metadata, ledger, minted.Warnings);
    }
}
