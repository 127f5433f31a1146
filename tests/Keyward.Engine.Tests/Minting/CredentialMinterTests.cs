using Keyward.Core.Manifest;
using Keyward.Core.Secrets;
using Keyward.Crypto.Attic;
using Keyward.Engine.Minting;
using Microsoft.Extensions.Time.Testing;

namespace Keyward.Engine.Tests.Minting;

/// <summary>Every Attic token Keyward mints carries its ledger id as <c>jti</c>: two tokens minted in the same second with
/// the same claims are still two different tokens, so re-minting always changes the value (a rotation a second after an
/// apply did not) and revoking the old one can never revoke the new one.</summary>
public sealed class CredentialMinterTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("kw-minter-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void TwoTokensMintedInTheSameSecond_Differ_AndEachCarriesItsLedgerIdAsJti()
    {
        var path = Path.Combine(_dir, "keyward.yaml");
        File.WriteAllText(path, """
            apiVersion: keyward/v1
            credentials:
              signer: { kind: secret, bytes: 48, owner: attic, purpose: signs tokens }
              ci: { kind: attic-token, signedBy: signer, subject: ci, validity: 30d, owner: ci, purpose: push, caches: { main: [pull, push] } }
            """);
        var manifest = ManifestLoader.Load(path).OrThrow();
        var spec = (AtticTokenCredential)manifest.FindCredential("ci")!;
        using var secret = Secret.Random(48);
        var signer = new SignerValue(manifest.FindCredential("signer")!, secret, 1);
        var minter = new CredentialMinter(new FakeTimeProvider(new DateTimeOffset(2026, 12, 2, 12, 0, 0, TimeSpan.Zero)));

        var first = minter.MintToken(spec, signer, 1, _ => "kw1:" + new string('a', 32));
        var second = minter.MintToken(spec, signer, 2, _ => "kw1:" + new string('b', 32));

        Assert.NotEqual(first.Value.RevealString(), second.Value.RevealString());
        Assert.NotEqual(first.Ledger!.TokenId, second.Ledger!.TokenId);
        using var key = AtticSigningKey.ForSigner(CredentialKind.Secret, secret, "signer");
        foreach (var minted in new[] { first, second })
        {
            var decoded = AtticTokens.Verify(minted.Value.RevealString(), key, new FakeTimeProvider(new DateTimeOffset(2026, 12, 2, 12, 0, 1, TimeSpan.Zero)));
            Assert.Equal(minted.Ledger!.TokenId, decoded.JwtId);
            Assert.Equal("ci", decoded.Subject);
        }
    }
}
