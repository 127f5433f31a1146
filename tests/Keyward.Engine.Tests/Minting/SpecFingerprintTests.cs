using System.Security.Cryptography;
using System.Text;
using Keyward.Core.Manifest;
using Keyward.Engine.Minting;

namespace Keyward.Engine.Tests.Minting;

/// <summary>The spec fingerprint is stored in every version's metadata: a change in how it is computed would make every
/// stored credential look re-declared. It is the first 16 hex digits of SHA-256 over the spec's text.</summary>
public sealed class SpecFingerprintTests
{
    [Fact]
    public void Of_IsTheFirst16HexDigitsOfTheSha256OfTheSpecText()
    {
        var path = Path.Combine(Directory.CreateTempSubdirectory("kw-spec-").FullName, "keyward.yaml");
        File.WriteAllText(path, """
            apiVersion: keyward/v1
            credentials:
              signer: { kind: secret, bytes: 48, owner: attic, purpose: signs tokens }
              ci: { kind: attic-token, signedBy: signer, subject: ci, validity: 30d, owner: ci, purpose: push, caches: { main: [pull, push] } }
            """);
        var manifest = ManifestLoader.Load(path).OrThrow();
        static string Expected(string text) => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(text))).ToLowerInvariant()[..16];

        var signer = (SecretCredential)manifest.FindCredential("signer")!;
        Assert.Equal(Expected($"secret|48|{signer.Encoding.Name()}"), SpecFingerprint.Of(signer));
        var ci = (AtticTokenCredential)manifest.FindCredential("ci")!;
        Assert.Equal(Expected($"attic|signer|ci|{TimeSpan.FromDays(30).Ticks}|{ci.Issuer}|{string.Join(',', ci.Audiences)}|main=pull,push"), SpecFingerprint.Of(ci));
        Assert.True(SpecFingerprint.Matches(ci, SpecFingerprint.Of(ci)));
        Assert.False(SpecFingerprint.Matches(ci, SpecFingerprint.Of(signer)));
        Assert.False(SpecFingerprint.Matches(ci, SpecFingerprint.Of(ci)[..15]));
        Directory.Delete(Path.GetDirectoryName(path)!, recursive: true);
    }
}
