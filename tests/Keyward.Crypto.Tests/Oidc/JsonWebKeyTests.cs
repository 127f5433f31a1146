using System.Security.Cryptography;
using System.Text;
using Keyward.Crypto.Oidc;

namespace Keyward.Crypto.Tests.Oidc;

public sealed class JsonWebKeyTests
{
    private static string B64Url(byte[] b) => Convert.ToBase64String(b).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    /// <summary>About 1 key in 128 has a coordinate with a leading zero byte; PyJWT before 2.8 (Debian's) writes it
    /// without that byte. Such a JWKS must still verify the issuer's ES256 tokens.</summary>
    [Fact]
    public void An_EC_key_whose_coordinate_lost_its_leading_zero_byte_still_verifies()
    {
        ECDsa? key = null;
        ECParameters p = default;
        for (var i = 0; i < 20_000 && key is null; i++) // bounded: finds one within a few hundred tries
        {
            var candidate = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var q = candidate.ExportParameters(false);
            if (q.Q.X![0] == 0) { key = candidate; p = q; }
            else candidate.Dispose();
        }
        Assert.NotNull(key);
        using var _ = key;
        var json = $$"""{"keys":[{"kty":"EC","crv":"P-256","kid":"short","x":"{{B64Url(p.Q.X![1..])}}","y":"{{B64Url(p.Q.Y!)}}"}]}""";
        using var set = JsonWebKeySet.Parse(Encoding.UTF8.GetBytes(json));
        var jwk = set?.Find("short");
        Assert.NotNull(jwk);
        var input = "header.payload"u8.ToArray();
        Assert.True(jwk.Verify(input, key.SignData(input, HashAlgorithmName.SHA256)));
    }
}
