using System.Text;
using Keyward.Crypto.Tests.Age;
using Keyward.Crypto.Tokens;

namespace Keyward.Crypto.Tests.Tokens;

/// <summary>Seed 003: the structure of a 1Password service-account token, checked without keeping any of it.</summary>
public sealed class OnePasswordServiceAccountTokenTests
{
    // The example's token has the real structure (fake values).
    private static string Example() => File.ReadAllText(Path.Combine(CctvVectorSource.RepoRoot(), "examples", "homelab", "op-token")).Trim();

    [Fact]
    public void WellFormedToken_IsValid_AndGivesItsSignInAddress()
    {
        var shape = OnePasswordServiceAccountToken.Inspect(Encoding.UTF8.GetBytes(Example()));
        Assert.True(shape.Valid, shape.Problem);
        Assert.Equal("example.1password.com", shape.SignInAddress);
    }

    [Fact]
    public void CutOffToken_IsInvalid_AndSaysSo()
    {
        var t = Example();
        var shape = OnePasswordServiceAccountToken.Inspect(Encoding.UTF8.GetBytes(t[..(t.Length / 2)]));
        Assert.False(shape.Valid);
        Assert.Contains("cut off", shape.Problem, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("ghp_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "does not start with 'ops_'")]
    [InlineData("ops_eyJzaWduSW5BZGRyZXNzIjoiZXhhbXBsZS4xcGFzc3dvcmQuY29tIn0", "lacks email")]
    [InlineData("ops_!!!!not-base64!!!!!!!!", "not base64url")]
    public void OtherValues_AreInvalid(string value, string problem)
    {
        var shape = OnePasswordServiceAccountToken.Inspect(Encoding.UTF8.GetBytes(value));
        Assert.False(shape.Valid);
        Assert.Contains(problem, shape.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Problems_NeverQuoteTheToken()
    {
        var t = Example();
        var body = t[4..];
        foreach (var cut in new[] { 20, 100, t.Length - 10 })
            Assert.DoesNotContain(body[..16], OnePasswordServiceAccountToken.Inspect(Encoding.UTF8.GetBytes(t[..cut])).Problem, StringComparison.Ordinal);
    }
}
