using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using Keyward.Core.Attic;
using Keyward.Core.Errors;
using Keyward.Core.Secrets;
using Keyward.Crypto.Attic;
using Keyward.Crypto.Rsa;
using Microsoft.Extensions.Time.Testing;

namespace Keyward.Crypto.Tests.Attic;

public sealed class AtticTokenTests
{
    private static readonly byte[] SecretBytes = Encoding.UTF8.GetBytes("test secret for keyward");
    private static readonly DateTimeOffset Now = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);
    private static FakeTimeProvider Clock(DateTimeOffset? at = null) => new(at ?? Now);

    private static AtticGrant G(string pattern, params AtticPermission[] ps) => new(CacheNamePattern.Parse(pattern), ps);

    private static string Part(string json) => Base64Url.EncodeToString(Encoding.UTF8.GetBytes(json));

    /// <summary>A hand-built HS256 token from raw header and payload JSON (to test what Keyward refuses).</summary>
    internal static string Craft(string headerJson, string payloadJson, byte[]? key = null)
    {
        var input = Part(headerJson) + "." + Part(payloadJson);
        return input + "." + Base64Url.EncodeToString(HMACSHA256.HashData(key ?? SecretBytes, Encoding.ASCII.GetBytes(input)));
    }

    private const string Hs = """{"alg":"HS256","typ":"JWT"}""";
    private const string Ns = "https://jwt.attic.rs/v1";

    private static string Payload(string caches, string extra = "") =>
        "{\"exp\":" + Now.AddDays(1).ToUnixTimeSeconds() + ",\"nbf\":" + Now.AddDays(-1).ToUnixTimeSeconds() + ",\"sub\":\"t\"" + extra + ",\"" + Ns + "\":{\"caches\":" + caches + "}}";

    // RSA key generation is slow: one PKCS#1 and one PKCS#8 key shared by every test here (never disposed: shared).
    private static readonly Lazy<Secret> Pkcs1 = new(() => RsaKeys.Generate(2048, pkcs8: false));
    private static readonly Lazy<Secret> Pkcs8 = new(() => RsaKeys.Generate(2048, pkcs8: true));

    private static AtticSigningKey Key() => AtticSigningKey.Hs256(Secret.FromBytes(SecretBytes));

    [Fact]
    public void Mint_Hs256_HasAtticadmShapeExactly()
    {
        using var key = Key();
        var request = new AtticTokenRequest("ci-runner", Now.AddDays(30), Now,
            [G("main", AtticPermission.Pull, AtticPermission.Push), G("team+*", AtticPermission.CreateCache, AtticPermission.Pull)],
            Issuer: "keyward", Audiences: ["attic"]);
        var minted = AtticTokens.Mint(request, key);
        var jwt = minted.Jwt.RevealString();
        Assert.DoesNotContain("=", jwt, StringComparison.Ordinal);
        var parts = jwt.Split('.');
        Assert.Equal(3, parts.Length);
        Assert.Equal("""{"alg":"HS256","typ":"JWT"}""", Encoding.UTF8.GetString(Base64Url.DecodeFromChars(parts[0])));
        var expected = ("""{"exp":""" + (Now.AddDays(30).ToUnixTimeSeconds()) + ""","nbf":""" + (Now.ToUnixTimeSeconds()) + ""","iss":"keyward","sub":"ci-runner","aud":["attic"],"https://jwt.attic.rs/v1":{"caches":{"main":{"r":1,"w":1},"team+*":{"r":1,"cc":1}}}}""");
        Assert.Equal(expected, Encoding.UTF8.GetString(Base64Url.DecodeFromChars(parts[1])));
        Assert.Equal(HMACSHA256.HashData(SecretBytes, Encoding.ASCII.GetBytes(parts[0] + "." + parts[1])), Base64Url.DecodeFromChars(parts[2]));
        Assert.Empty(minted.Warnings);

        var back = AtticTokens.Verify(jwt, key, Clock(), "keyward", ["other", "attic"]);
        Assert.Equal("ci-runner", back.Subject);
        Assert.Null(back.IssuedAtSeconds);
        Assert.Equal(["attic"], back.Audiences);
        Assert.True(back.PermissionsFor("team+x").Can(AtticPermission.CreateCache));
    }

    [Fact]
    public void Mint_WithoutIssuerAndAudience_OmitsThem()
    {
        using var key = Key();
        var jwt = AtticTokens.Mint(new AtticTokenRequest("alice", Now.AddHours(1), Now, [G("hello", AtticPermission.Pull)]), key).Jwt.RevealString();
        var payload = Encoding.UTF8.GetString(Base64Url.DecodeFromChars(jwt.Split('.')[1]));
        Assert.Equal(("""{"exp":""" + (Now.AddHours(1).ToUnixTimeSeconds()) + ""","nbf":""" + (Now.ToUnixTimeSeconds()) + ""","sub":"alice","https://jwt.attic.rs/v1":{"caches":{"hello":{"r":1}}}}"""), payload);
    }

    [Fact]
    public void Mint_RepeatedPattern_MergesIntoFirstEntryLikeAtticadm()
    {
        using var key = Key();
        var jwt = AtticTokens.Mint(new AtticTokenRequest("a", Now.AddHours(1), Now,
            [G("dev-*", AtticPermission.Pull), G("prod", AtticPermission.Pull), G("dev-*", AtticPermission.Push)]), key).Jwt.RevealString();
        var t = AtticTokens.Decode(jwt);
        Assert.Equal(["dev-*", "prod"], t.Grants.Select(g => g.Pattern.Text));
        Assert.Equal([AtticPermission.Pull, AtticPermission.Push], t.Grants[0].Permissions);
    }

    [Fact]
    public void Mint_WildcardBeforeNarrowerPattern_WarnsAboutShadowing()
    {
        using var key = Key();
        // Attic issue #133: --pull "*" --push "starlite-*" denies push to starlite-nonfree.
        var minted = AtticTokens.Mint(new AtticTokenRequest("a", Now.AddHours(1), Now,
            [G("*", AtticPermission.Pull), G("starlite-*", AtticPermission.Push)]), key);
        var w = Assert.Single(minted.Warnings);
        Assert.Contains("'starlite-*'", w, StringComparison.Ordinal);
        Assert.Contains("never applies", w, StringComparison.Ordinal);
        // The order is kept as given (the warning says what to change).
        Assert.Equal("*", AtticTokens.Decode(minted.Jwt.RevealString()).Grants[0].Pattern.Text);
        Assert.Equal(ErrorCodes.AtticGrantShadowed, AtticTokens.CheckGrantOrder([G("*", AtticPermission.Pull), G("starlite-*", AtticPermission.Push)])[0].Code);
    }

    [Fact]
    public void Mint_ExactNameAfterWildcardWithMorePermissions_WarnsPermissionsAreNotMerged()
    {
        var warnings = AtticTokens.CheckGrantOrder([G("*", AtticPermission.Pull), G("starlite", AtticPermission.Push)]);
        var w = Assert.Single(warnings);
        Assert.Contains("named exactly", w.Message, StringComparison.Ordinal);
        Assert.Contains("pull", w.Message, StringComparison.Ordinal);
        // When the exact entry already has everything the wildcard gives, there is nothing to warn about.
        Assert.Empty(AtticTokens.CheckGrantOrder([G("*", AtticPermission.Pull), G("starlite", AtticPermission.Pull, AtticPermission.Push)]));
        // Specific first, wildcard later: the intended order, no warning.
        Assert.Empty(AtticTokens.CheckGrantOrder([G("starlite-*", AtticPermission.Push), G("*", AtticPermission.Pull)]));
    }

    [Fact]
    public void PermissionsFor_ExactKeyBeatsEarlierPattern()
    {
        var t = AtticTokens.Decode(Craft(Hs, Payload("""{"ca*":{"r":1},"cache":{"w":1}}""")));
        Assert.Equal([AtticPermission.Push], t.PermissionsFor("cache").Permissions);
        Assert.True(t.PermissionsFor("cache").ExactMatch);
        Assert.Equal([AtticPermission.Pull], t.PermissionsFor("cache2").Permissions);
        Assert.False(t.CanDiscover("other"));
    }

    [Fact]
    public void Verify_PythonStyleTokenWithFloatTimesAndStringAud_IsAccepted()
    {
        using var key = Key();
        var payload = ("""{"sub":"x","exp":""" + (Now.AddDays(1).ToUnixTimeSeconds()) + """.5,"aud":"one","https://jwt.attic.rs/v1":{"caches":{}}}""");
        var t = AtticTokens.Verify(Craft("""{"typ":"JWT","alg":"HS256"}""", payload), key, Clock(), null, ["one"]);
        Assert.Equal(["one"], t.Audiences);
        Assert.Empty(t.Grants);
    }

    [Fact]
    public void Verify_TypJoseJwtSuffix_IsAccepted_OtherTypRefused()
    {
        using var key = Key();
        AtticTokens.Verify(Craft("""{"alg":"HS256","typ":"at+jwt"}""", Payload("{}")), key, Clock());
        AtticTokens.Verify(Craft("""{"alg":"HS256"}""", Payload("{}")), key, Clock());
        Assert.Equal(ErrorCodes.AtticTokenAlgorithm, Refused(Craft("""{"alg":"HS256","typ":"JWS"}""", Payload("{}"))).First.Code);
    }

    private static KeywardException Refused(string jwt, AtticSigningKey? key = null, FakeTimeProvider? time = null, string? iss = null, string[]? aud = null)
    {
        using var k = Key();
        return Assert.Throws<KeywardException>(() => AtticTokens.Verify(jwt, key ?? k, time ?? Clock(), iss, aud));
    }

    [Fact]
    public void Verify_AlgNone_IsRefused()
    {
        var jwt = Part("""{"alg":"none","typ":"JWT"}""") + "." + Part(Payload("{}")) + ".";
        var ex = Refused(jwt);
        Assert.Equal(ErrorCodes.AtticTokenAlgorithm, ex.First.Code);
        Assert.Contains("none", ex.Message, StringComparison.Ordinal);
        Assert.Equal("none", AtticTokens.Decode(jwt).Header.Algorithm); // inspect can still show it
    }

    [Fact]
    public void Verify_Hs256TokenSignedWithTheRsaPublicKeyBytes_IsRefusedAsAlgorithmConfusion()
    {
        var pem = Pkcs1.Value;
        var publicPem = RsaKeys.PublicPem(pem);
        using var rsaKey = AtticSigningKey.Rs256PublicOnly(publicPem);
        // The classic attack: HMAC keyed with the public key PEM, header claims HS256.
        var forged = Craft(Hs, Payload("""{"*":{"r":1,"w":1}}"""), Encoding.UTF8.GetBytes(publicPem));
        var ex = Refused(forged, rsaKey);
        Assert.Equal(ErrorCodes.AtticTokenAlgorithm, ex.First.Code);
        Assert.Contains("confusion", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Verify_Rs256TokenAgainstHs256Key_IsRefused()
    {
        var pem = Pkcs8.Value;
        using var rsa = AtticSigningKey.Rs256(pem);
        var jwt = AtticTokens.Mint(new AtticTokenRequest("a", Now.AddHours(1), Now, []), rsa).Jwt.RevealString();
        Assert.Equal(ErrorCodes.AtticTokenAlgorithm, Refused(jwt).First.Code);
        Assert.True(AtticTokens.Verify(jwt, rsa, Clock()).SignatureVerified);
    }

    [Fact]
    public void Verify_BooleanTrueFlag_IsRefused()
    {
        var ex = Refused(Craft(Hs, Payload("""{"main":{"r":true}}""")));
        Assert.Equal(ErrorCodes.AtticTokenClaims, ex.First.Code);
        Assert.Contains("boolean", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"main":{"r":2}}""")]
    [InlineData("""{"main":{"r":"1"}}""")]
    [InlineData("""{"main":{"r":1.0}}""")]
    [InlineData("""{"main":{"r":null}}""")]
    public void Verify_NonZeroOneFlag_IsRefused(string caches) =>
        Assert.Equal(ErrorCodes.AtticTokenClaims, Refused(Craft(Hs, Payload(caches))).First.Code);

    [Theory]
    [InlineData("""{"ma?n":{"r":1}}""")]
    [InlineData("""{"-main":{"r":1}}""")]
    [InlineData("""{"*-but-normal-restrictions-still-apply!!!":{"r":1}}""")]
    [InlineData("""{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa":{"r":1}}""")] // 51 characters
    public void Verify_InvalidPattern_IsRefused(string caches)
    {
        var ex = Refused(Craft(Hs, Payload(caches)));
        Assert.Equal(ErrorCodes.AtticTokenClaims, ex.First.Code);
        Assert.Contains("not a valid cache name pattern", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Verify_UnknownFlagKeys_AreIgnored_FalseFlagsAreNotGrants()
    {
        using var key = Key();
        var t = AtticTokens.Verify(Craft(Hs, Payload("""{"main":{"r":1,"w":0,"zz":true}}""")), key, Clock());
        Assert.Equal([AtticPermission.Pull], t.PermissionsFor("main").Permissions);
    }

    [Theory]
    [InlineData("not-a-jwt")]
    [InlineData("a.b")]
    [InlineData("a.b.c.d")]
    [InlineData("eyJhbGciOiJIUzI1NiJ9.e30.!!!")]
    [InlineData("eyJhbGciOiJIUzI1NiJ9=.e30.AAAA")]
    [InlineData("eyJhbGciOiJIUzI1NiJ9.e 30.AAAA")]
    [InlineData(".e30.AAAA")]
    [InlineData("eyJhbGciOiJIUzI1NiJ9.e.AAAA")] // impossible base64 length
    public void Verify_BadBase64OrShape_IsMalformed(string jwt) =>
        Assert.Equal(ErrorCodes.AtticTokenMalformed, Refused(jwt).First.Code);

    [Fact]
    public void Verify_HeaderNotJson_IsMalformed() =>
        Assert.Equal(ErrorCodes.AtticTokenMalformed, Refused(Part("{alg:HS256}") + "." + Part(Payload("{}")) + ".AAAA").First.Code);

    [Fact]
    public void Verify_OversizeHeader_IsRefused()
    {
        var header = "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"x\":\"" + new string('a', 6200) + "\"}";
        Assert.True(Part(header).Length > AtticTokens.MaxHeaderLength);
        Assert.Equal(ErrorCodes.AtticTokenHeaderTooLarge, Refused(Craft(header, Payload("{}"))).First.Code);
        // Just under the limit is fine.
        var ok = "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"x\":\"" + new string('a', 6000) + "\"}";
        Assert.True(Part(ok).Length <= AtticTokens.MaxHeaderLength);
        using var key = Key();
        AtticTokens.Verify(Craft(ok, Payload("{}")), key, Clock());
    }

    [Fact]
    public void Verify_NotAnAtticToken_IsRefused()
    {
        var ex = Refused(Craft(Hs, """{"sub":"x","exp":4102324986}"""));
        Assert.Equal(ErrorCodes.AtticTokenClaims, ex.First.Code);
        Assert.Equal(ErrorCodes.AtticTokenClaims, Refused(Craft(Hs, ("""{"sub":"x","https://jwt.attic.rs/v1":{}}"""))).First.Code); // no caches
    }

    [Fact]
    public void Verify_TimeClaims_ZeroSkew()
    {
        using var key = Key();
        var exp = Now.ToUnixTimeSeconds();
        var atExp = Craft(Hs, ("""{"exp":""" + (exp) + ""","sub":"s","https://jwt.attic.rs/v1":{"caches":{}}}"""));
        AtticTokens.Verify(atExp, key, Clock()); // exp == now is still valid (exp >= now)
        Assert.Equal(ErrorCodes.AtticTokenExpired, Refused(atExp, time: Clock(Now.AddSeconds(1))).First.Code);

        var nbf = Craft(Hs, ("""{"nbf":""" + (exp + 1) + ""","sub":"s","https://jwt.attic.rs/v1":{"caches":{}}}"""));
        Assert.Equal(ErrorCodes.AtticTokenNotYetValid, Refused(nbf).First.Code);
        AtticTokens.Verify(nbf, key, Clock(Now.AddSeconds(1)));

        var iat = Craft(Hs, ("""{"iat":""" + (exp + 1) + ""","sub":"s","https://jwt.attic.rs/v1":{"caches":{}}}"""));
        Assert.Equal(ErrorCodes.AtticTokenNotYetValid, Refused(iat).First.Code);

        var forever = Craft(Hs, ("""{"sub":"s","https://jwt.attic.rs/v1":{"caches":{}}}"""));
        AtticTokens.Verify(forever, key, Clock(Now.AddYears(500))); // no exp: never expires, as in atticd
    }

    [Fact]
    public void Verify_BoundIssuerAndAudiences()
    {
        var none = Craft(Hs, Payload("{}"));
        Assert.Equal(ErrorCodes.AtticTokenIssuer, Refused(none, iss: "keyward").First.Code);
        Assert.Equal(ErrorCodes.AtticTokenIssuer, Refused(Craft(Hs, Payload("{}", ",\"iss\":\"other\"")), iss: "keyward").First.Code);
        Assert.Equal(ErrorCodes.AtticTokenAudience, Refused(none, aud: ["attic"]).First.Code);
        Assert.Equal(ErrorCodes.AtticTokenAudience, Refused(Craft(Hs, Payload("{}", ",\"aud\":[\"x\",\"y\"]")), aud: ["attic"]).First.Code);
        using var key = Key();
        AtticTokens.Verify(Craft(Hs, Payload("{}", ",\"iss\":\"keyward\",\"aud\":[\"x\",\"attic\"]")), key, Clock(), "keyward", ["attic"]);
    }

    [Fact]
    public void Verify_TamperedPayload_FailsSignature()
    {
        using var key = Key();
        var jwt = AtticTokens.Mint(new AtticTokenRequest("a", Now.AddHours(1), Now, [G("main", AtticPermission.Pull)]), key).Jwt.RevealString();
        var parts = jwt.Split('.');
        var forged = parts[0] + "." + Part(Encoding.UTF8.GetString(Base64Url.DecodeFromChars(parts[1])).Replace("\"r\":1", "\"r\":1,\"w\":1", StringComparison.Ordinal)) + "." + parts[2];
        Assert.Equal(ErrorCodes.AtticTokenSignature, Refused(forged).First.Code);
    }

    [Fact]
    public void Verify_DuplicateClaim_IsRefused() =>
        Assert.Equal(ErrorCodes.AtticTokenClaims, Refused(Craft(Hs, Payload("{}", ",\"sub\":\"root\""))).First.Code);

    [Fact]
    public void Mint_PublicOnlyKey_IsRefused()
    {
        var pem = Pkcs1.Value;
        using var pub = AtticSigningKey.Rs256PublicOnly(RsaKeys.PublicPem(pem));
        Assert.Equal(ErrorCodes.AtticSigningKeyPublicOnly,
            Assert.Throws<KeywardException>(() => AtticTokens.Mint(new AtticTokenRequest("a", Now.AddHours(1), Now, []), pub)).First.Code);
    }

    [Fact]
    public void Mint_EmptySubjectOrNonPositiveValidity_IsRefused()
    {
        using var key = Key();
        Assert.Throws<KeywardException>(() => AtticTokens.Mint(new AtticTokenRequest("", Now.AddHours(1), Now, []), key));
        Assert.Throws<KeywardException>(() => AtticTokens.Mint(new AtticTokenRequest("a", Now, Now, []), key));
    }

    [Fact]
    public void SigningKey_FromEnvironment_FollowsAtticdPrecedence()
    {
        var pem = Pkcs1.Value;
        var rsB64 = Convert.ToBase64String(pem.Reveal());
        var pubB64 = Convert.ToBase64String(Encoding.UTF8.GetBytes(RsaKeys.PublicPem(pem)));
        var hsB64 = Convert.ToBase64String(SecretBytes);
        using (var k = AtticSigningKey.FromEnvironment(Env(("ATTIC_SERVER_TOKEN_HS256_SECRET_BASE64", hsB64), ("ATTIC_SERVER_TOKEN_RS256_SECRET_BASE64", rsB64))))
            Assert.True(k is { Algorithm: "RS256", CanSign: true });
        using (var k = AtticSigningKey.FromEnvironment(Env(("ATTIC_SERVER_TOKEN_RS256_PUBKEY_BASE64", pubB64), ("ATTIC_SERVER_TOKEN_RS256_SECRET_BASE64", rsB64))))
            Assert.True(k is { Algorithm: "RS256", CanSign: false });
        using (var k = AtticSigningKey.FromEnvironment(Env(("ATTIC_SERVER_TOKEN_HS256_SECRET_BASE64", hsB64), ("ATTIC_SERVER_TOKEN_RS256_SECRET_BASE64", ""))))
            Assert.Equal("HS256", k.Algorithm);
        Assert.Equal(ErrorCodes.AtticSigningKeyMissing, Assert.Throws<KeywardException>(() => AtticSigningKey.FromEnvironment(Env())).First.Code);
        var bad = Assert.Throws<KeywardException>(() => AtticSigningKey.FromEnvironment(Env(("ATTIC_SERVER_TOKEN_HS256_SECRET_BASE64", "not base64!"))));
        Assert.Equal(ErrorCodes.AtticSigningKeyInvalid, bad.First.Code);
        Assert.DoesNotContain("not base64!", bad.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void SigningKey_FromBase64ValueDetect_TellsPemFromBytes()
    {
        var pem = Pkcs8.Value;
        using var rsa = AtticSigningKey.FromBase64ValueDetect(Secret.FromUtf8(Convert.ToBase64String(pem.Reveal()) + "\n"));
        Assert.Equal("RS256", rsa.Algorithm);
        using var hs = AtticSigningKey.FromBase64ValueDetect(Secret.FromUtf8("wyggPC0gaW52YWxpZCB1dGY4\n"));
        Assert.Equal("HS256", hs.Algorithm);
    }

    private static Func<string, string?> Env(params (string Key, string Value)[] vars) =>
        name => vars.FirstOrDefault(v => v.Key == name).Value;
}
