using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Keyward.Core.Errors;
using Keyward.Core.Manifest;
using Keyward.Core.Secrets;
using Keyward.Crypto.Attic;
using Keyward.Crypto.Nix;
using Keyward.Crypto.Tokens;
using Keyward.Engine.Minting;
using Keyward.Services.Bootstrap;
using Keyward.Core.Store;

namespace Keyward.Engine.Agenix;

/// <summary>What an imported value becomes: its kind, the non-secret metadata and expiry to store with it.</summary>
public sealed record CheckedValue(string Kind, IReadOnlyDictionary<string, string> Metadata, DateTimeOffset? ExpiresAt, IReadOnlyList<KeywardError> Warnings);

/// <summary>
/// Checks that a value read from outside (an agenix file) is what the credential is: a <c>secret</c> of its declared length,
/// an RSA private key PEM of its declared size, a Nix secret key with its declared key name, an Attic JWT for its subject
/// signed by the active signer. Error messages name the credential and the rule, never the value.
/// </summary>
internal sealed class ImportedValueCheck(ICredentialStore store, TimeProvider time, string source = "agenix")
{
    public async Task<CheckedValue> CheckAsync(string name, Credential? spec, string? storedKind, Secret value,
        IReadOnlyDictionary<string, PendingValue> pending, CancellationToken cancellationToken)
    {
        var kind = spec?.Kind.Name() ?? storedKind ?? CredentialKind.External.Name();
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal) { ["source"] = source };
        if (spec is not null) metadata[SpecFingerprint.MetadataKey] = SpecFingerprint.Of(spec);
        var warnings = new List<KeywardError>();
        DateTimeOffset? expires = null;
        if (value.Length == 0) throw Mismatch(name, kind, "the file decrypts to an empty value");
        if (Placeholder.IsPlaceholder(Encoding.UTF8.GetString(value.Reveal()[..Math.Min(value.Length, 64)])))
            throw Mismatch(name, kind, "the file holds Keyward's bootstrap placeholder, not a value (run `keyward bootstrap` for the token)");
        switch (kind)
        {
            case "secret":
                if (spec is SecretCredential s)
                {
                    if (value.Length != s.Bytes)
                        throw Mismatch(name, kind, $"it holds {value.Length} bytes, the manifest declares bytes: {s.Bytes}");
                    if (s.Encoding == ValueEncoding.Alphanumeric && !value.Reveal().ToArray().All(b => char.IsAsciiLetterOrDigit((char)b)))
                        throw Mismatch(name, kind, "it declares encoding alphanumeric, the value holds other characters");
                }
                break;
            case "rsa-key":
                var bits = RsaBits(name, value);
                if (spec is RsaKeyCredential r && bits != r.Bits)
                    throw Mismatch(name, kind, $"it is a {bits}-bit RSA key, the manifest declares bits: {r.Bits}");
                metadata["bits"] = bits.ToString(CultureInfo.InvariantCulture);
                break;
            case "nix-signing-key":
                NixSecretKey key;
                try { key = NixSecretKey.Parse(value); }
                catch (KeywardException e) { throw Mismatch(name, kind, e.First.Message); }
                using (key)
                {
                    if (spec is NixSigningKeyCredential n && key.Name != n.KeyName)
                        throw Mismatch(name, kind, $"its key name is '{key.Name}', the manifest declares keyName: {n.KeyName}");
                    metadata[Delivery.VersionMetadata.KeyNameKey] = key.Name;
                    metadata[Delivery.VersionMetadata.PublicKeyKey] = key.PublicKey.ToString();
                }
                break;
            case "attic-token":
                expires = await CheckTokenAsync(name, spec as AtticTokenCredential, value, metadata, pending, cancellationToken).ConfigureAwait(false);
                break;
            default:
                if (spec is ExternalCredential x)
                {
                    warnings.AddRange(ExternalImporter.Recognise(x, value, out var detected));
                    metadata["provider"] = x.Provider.Name();
                    metadata["detected"] = detected;
                    if (x.Host is not null) metadata["host"] = x.Host;
                    expires = x.Expires;
                }
                else metadata["detected"] = TokenRecognizer.Recognize(value).Description;
                break;
        }
        return new CheckedValue(kind, metadata, expires, warnings);
    }

    private int RsaBits(string name, Secret value)
    {
        var chars = Encoding.UTF8.GetChars(value.Reveal().ToArray());
        try
        {
            using var rsa = RSA.Create();
            rsa.ImportFromPem(chars);
            _ = rsa.ExportParameters(includePrivateParameters: true); // a public key alone is not an rsa-key credential
            return rsa.KeySize;
        }
        catch (Exception e) when (e is CryptographicException or ArgumentException)
        {
            throw Mismatch(name, "rsa-key", "it is not an unencrypted RSA private key PEM (PKCS#1 or PKCS#8)");
        }
        finally { Array.Clear(chars); }
    }

    private async Task<DateTimeOffset?> CheckTokenAsync(string name, AtticTokenCredential? spec, Secret value, Dictionary<string, string> metadata,
        IReadOnlyDictionary<string, PendingValue> pending, CancellationToken cancellationToken)
    {
        var jwt = Encoding.UTF8.GetString(value.Reveal()).Trim();
        DecodedAtticToken decoded;
        try { decoded = AtticTokens.Decode(jwt); }
        catch (KeywardException e) { throw Mismatch(name, "attic-token", $"not an Attic JWT: {e.First.Message}"); }
        if (spec is not null)
        {
            if (decoded.Subject != spec.Subject)
                throw Mismatch(name, "attic-token", $"its subject is '{decoded.Subject}', the manifest declares subject: {spec.Subject}");
            string signerKind;
            int signerVersion;
            Secret signerValue;
            if (pending.TryGetValue(spec.SignedBy, out var p))
                (signerKind, signerVersion, signerValue) = (p.Kind, p.Version, Secret.FromBytes(p.Value.Reveal()));
            else
            {
                var signer = await store.GetActiveAsync(spec.SignedBy, cancellationToken).ConfigureAwait(false)
                    ?? throw Mismatch(name, "attic-token", $"its signer '{spec.SignedBy}' has no active value to verify it with (import or apply the signer first)");
                (signerKind, signerVersion) = (signer.Kind, signer.Version);
                signerValue = await store.RevealAsync(spec.SignedBy, signer.Version, cancellationToken).ConfigureAwait(false);
            }
            using var disposeSigner = signerValue;
            using var key = AtticSigningKey.ForSigner(signerKind, signerValue, spec.SignedBy);
            try { AtticTokens.Verify(jwt, key, time); }
            catch (KeywardException e) { throw Mismatch(name, "attic-token", $"it does not verify with the active version of '{spec.SignedBy}': {e.First.Message}"); }
            metadata["subject"] = spec.Subject;
            metadata[Delivery.VersionMetadata.SignedByKey] = spec.SignedBy;
            metadata[Delivery.VersionMetadata.SignedByVersionKey] = signerVersion.ToString(CultureInfo.InvariantCulture);
            metadata["permissions"] = SpecFingerprint.PermissionsSummary(spec);
            metadata["algorithm"] = key.Algorithm;
        }
        else if (decoded.Subject is not null) metadata["subject"] = decoded.Subject;
        return decoded.ExpiresAtSeconds is { } exp ? DateTimeOffset.FromUnixTimeSeconds(exp) : null;
    }

    private KeywardException Mismatch(string name, string kind, string why) =>
        ErrorCodes.AgenixKindMismatch.Exception($"{(source == "agenix" ? $"'{name}.age'" : $"the {source} value")} cannot be imported as {kind} '{name}': {why}");
}
