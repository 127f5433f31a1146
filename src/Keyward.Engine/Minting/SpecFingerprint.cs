using System.Security.Cryptography;
using System.Text;
using Keyward.Core.Attic;
using Keyward.Core.Manifest;

namespace Keyward.Engine.Minting;

/// <summary>
/// A hash of the fields that determine what a credential's value must look like (length, key name, claims…),
/// stored as version metadata so <c>apply</c> can say "claims changed" without comparing values. Contains no secret.
/// </summary>
internal static class SpecFingerprint
{
    public const string MetadataKey = "spec";

    public static string Of(Credential c)
    {
        var text = c switch
        {
            SecretCredential s => $"secret|{s.Bytes}|{s.Encoding.Name()}",
            RsaKeyCredential r => $"rsa|{r.Bits}|{r.Format}",
            NixSigningKeyCredential n => $"nix|{n.KeyName}",
            AtticTokenCredential t => $"attic|{t.SignedBy}|{t.Subject}|{t.Validity.Value.Ticks}|{t.Issuer}|{string.Join(',', t.Audiences)}|" +
                string.Join(';', t.Caches.Select(g => g.Pattern.Text + "=" + string.Join(',', g.Permissions.Select(p => p.Name())))),
            ExternalCredential e => $"external|{e.Provider.Name()}|{e.Host}",
            _ => throw new ArgumentOutOfRangeException(nameof(c)),
        };
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..16];
    }

    /// <summary>A one-line description of the claims, for the ledger and the plan (no secret).</summary>
    public static string PermissionsSummary(AtticTokenCredential t) =>
        string.Join(' ', t.Caches.Select(g => $"{g.Pattern.Text}:{string.Join(',', g.Permissions.Select(p => p.Name()))}"));
}
