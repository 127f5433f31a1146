using Keyward.Core.Errors;
using Keyward.Core.Manifest;
using Keyward.Core.Secrets;
using Keyward.Crypto.Tokens;

namespace Keyward.Crypto.Tests.Tokens;

public sealed class TokenRecognizerTests
{
    private static RecognizedToken R(string t) => TokenRecognizer.Recognize(Secret.FromUtf8(t));

    [Fact]
    public void GitHub_ReadmeExample_HasAValidChecksum()
    {
        // therootcompany/base62-token.js README example (checksum recomputed with Python zlib.crc32)
        var r = R("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");
        Assert.Equal(TokenType.GitHubClassicPat, r.Type);
        Assert.Equal(ExternalProvider.GitHub, r.Provider);
        Assert.True(r.ChecksumValid);
    }

    [Fact]
    public void GitHub_ComputedExample_ForEveryPrefix()
    {
        // entropy "abcdefghijklmnopqrstuvwxyzABCD": CRC32 0x… base62 "4dNndU" (Python: zlib.crc32 + base62)
        foreach (var (prefix, type) in new[] { ("ghp", TokenType.GitHubClassicPat), ("gho", TokenType.GitHubOAuth), ("ghu", TokenType.GitHubUserToServer), ("ghs", TokenType.GitHubServerToServer), ("ghr", TokenType.GitHubRefresh) })
        {
            var r = R(prefix + "_abcdefghijklmnopqrstuvwxyzABCD4dNndU");
            Assert.Equal(type, r.Type);
            Assert.True(r.ChecksumValid, prefix);
        }
    }

    [Theory]
    [InlineData("ghp_zQWBuTSOoRi4A9spHcVY5ncnsDkxkJ0mLq18")] // last checksum character changed
    [InlineData("ghp_zQWBuTSOoRi4A9spHcVY5ncnsDkxkJ1mLq17")] // first checksum character changed
    [InlineData("ghp_aQWBuTSOoRi4A9spHcVY5ncnsDkxkJ0mLq17")] // entropy changed
    public void GitHub_WrongChecksum_IsFlagged(string token)
    {
        var r = R(token);
        Assert.Equal(TokenType.GitHubClassicPat, r.Type);
        Assert.False(r.ChecksumValid);
        var warnings = TokenRecognizer.CheckDeclared(r, ExternalProvider.GitHub);
        Assert.Equal(ErrorCodes.TokenChecksumInvalid, Assert.Single(warnings).Code);
    }

    [Fact]
    public void GitHub_FineGrained()
    {
        var r = R("github_pat_11ABCDEFG0123456789abc_" + new string('x', 59));
        Assert.Equal(TokenType.GitHubFineGrainedPat, r.Type);
        Assert.Null(r.ChecksumValid);
    }

    [Fact]
    public void GitLab_LegacyAndRoutable()
    {
        Assert.Equal(TokenType.GitLabPat, R("glpat-abcdefghij_klmnop-qr").Type);
        // Built per gitlabhq lib/authn/token_field/generator/routable_token.rb with 16 bytes 00..0f and payload "c:1\no:2s\nu:5c"
        const string routable = "glpat-AAECAwQFBgcICQoLDA0OD2M6MQpvOjJzCnU6NWMN.01.141urh5pk";
        var r = R(routable);
        Assert.Equal(TokenType.GitLabRoutablePat, r.Type);
        Assert.True(r.ChecksumValid);
        var bad = R(routable[..^1] + "j");
        Assert.Equal(TokenType.GitLabRoutablePat, bad.Type);
        Assert.False(bad.ChecksumValid);
        Assert.False(R(routable.Replace("AAEC", "AAED", StringComparison.Ordinal)).ChecksumValid);
        Assert.Equal(TokenType.GitLabOther, R("glrt-abcdefghijklmnopqrst").Type);
    }

    [Fact]
    public void Gitea_Coder_OnePassword_Attic()
    {
        Assert.Equal(TokenType.GiteaAccessToken, R("0123456789abcdef0123456789abcdef01234567").Type);
        Assert.Equal(TokenType.Unknown, R("0123456789ABCDEF0123456789abcdef01234567").Type);
        Assert.Equal(TokenType.CoderApiToken, R("AbCdE12345-abcdefghijABCDEFGHIJ12").Type);
        Assert.Equal(TokenType.Unknown, R("AbCdE12345-abc").Type);
        var op = R("ops_eyJzaWduSW5BZGRyZXNzIjoiZXhhbXBsZS4xcGFzc3dvcmQuY29tIn0");
        Assert.Equal(TokenType.OnePasswordServiceAccount, op.Type);
        Assert.DoesNotContain("example", op.Description, StringComparison.Ordinal); // never decoded
        var attic = R(Attic.AtticTokenTests.Craft("""{"alg":"HS256","typ":"JWT"}""", """{"sub":"secret-subject","https://jwt.attic.rs/v1":{"caches":{"a":{"r":1}}}}"""));
        Assert.Equal(TokenType.AtticJwt, attic.Type);
        Assert.DoesNotContain("secret-subject", attic.Description, StringComparison.Ordinal);
        Assert.Equal(TokenType.Jwt, R(Attic.AtticTokenTests.Craft("""{"alg":"HS256"}""", """{"sub":"x"}""")).Type);
        Assert.Equal(TokenType.Unknown, R("hunter2").Type);
    }

    [Fact]
    public void CheckDeclared_WarnsOnDisagreement_NotForGenericOrS3()
    {
        var gh = R("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");
        Assert.Empty(TokenRecognizer.CheckDeclared(gh, ExternalProvider.GitHub));
        Assert.Equal(ErrorCodes.TokenProviderMismatch, Assert.Single(TokenRecognizer.CheckDeclared(gh, ExternalProvider.GitLab)).Code);
        Assert.Empty(TokenRecognizer.CheckDeclared(gh, ExternalProvider.Generic));
        Assert.Equal(ErrorCodes.TokenProviderMismatch, Assert.Single(TokenRecognizer.CheckDeclared(R("hunter2"), ExternalProvider.Gitea)).Code);
        Assert.Empty(TokenRecognizer.CheckDeclared(R("hunter2"), ExternalProvider.S3));
    }

    [Fact]
    public void Descriptions_NeverContainTheToken()
    {
        string[] tokens =
        [
            "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", "ghp_zQWBuTSOoRi4A9spHcVY5ncnsDkxkJ0mLq18", "github_pat_11ABCDEFG0123456789abc_" + new string('x', 59),
            "glpat-abcdefghij_klmnop-qr", "glpat-AAECAwQFBgcICQoLDA0OD2M6MQpvOjJzCnU6NWMN.01.141urh5pk", "0123456789abcdef0123456789abcdef01234567",
            "AbCdE12345-abcdefghijABCDEFGHIJ12", "ops_eyJzaWduSW5BZGRyZXNzIjoiZXhhbXBsZS4xcGFzc3dvcmQuY29tIn0", "hunter2-unknown-token",
        ];
        foreach (var t in tokens)
        {
            var r = R(t);
            Assert.DoesNotContain(t, r.Description, StringComparison.Ordinal);
            Assert.DoesNotContain(t[^10..], r.Description, StringComparison.Ordinal);
            foreach (var p in Enum.GetValues<ExternalProvider>())
                foreach (var w in TokenRecognizer.CheckDeclared(r, p))
                    Assert.DoesNotContain(t[^10..], w.Message, StringComparison.Ordinal);
        }
    }
}
