using Keyward.Core.Attic;
using Keyward.Core.Errors;
using Keyward.Core.Secrets;
using Keyward.Crypto.Attic;
using Microsoft.Extensions.Time.Testing;

namespace Keyward.Crypto.Tests.Attic;

/// <summary>Regression: some malformed base64url made Decode throw FormatException, and invalid UTF-8 in a header string
/// made Decode/Verify throw InvalidOperationException, so bad input surfaced as an internal error. Every mutation of a
/// valid token must either decode or fail with a KW06xx error.</summary>
public sealed class MalformedTokenFuzzTests
{
    [Fact]
    public void Header_WithInvalidUtf8_IsMalformedInput()
    {
        const string token = "eyJhbGciOiL__iIsInR5cCI6IkpXVCJ9.e30.AAAA";
        Assert.Equal(ErrorCodes.AtticTokenMalformed.Code, Assert.Throws<KeywardException>(() => AtticTokens.Decode(token)).First.Code.Code);
        using var key = AtticSigningKey.Hs256(Secret.FromUtf8("k"));
        Assert.IsType<KeywardException>(Assert.ThrowsAny<Exception>(() => AtticTokens.Verify(token, key, new FakeTimeProvider())));
    }

    [Fact]
    public void EveryMutation_DecodesOrFailsWithAKeywardError()
    {
        using var key = AtticSigningKey.Hs256(Secret.FromUtf8("fuzz-secret"));
        var now = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
        var minted = AtticTokens.Mint(new AtticTokenRequest("ci", now.AddDays(1), now,
            [new AtticGrant(CacheNamePattern.Parse("main"), [AtticPermission.Pull, AtticPermission.Push])]), key);
        var token = minted.Jwt.RevealString();
        const string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=.+/ ";
        var random = new Random(4711);
        var time = new FakeTimeProvider(now);
        for (var i = 0; i < 20_000; i++)
        {
            var chars = token.ToCharArray();
            for (var n = random.Next(1, 4); n > 0; n--) chars[random.Next(chars.Length)] = alphabet[random.Next(alphabet.Length)];
            var mutated = new string(chars);
            foreach (var action in new Action[] { () => AtticTokens.Decode(mutated), () => AtticTokens.Verify(mutated, key, time) })
            {
                try { action(); }
                catch (KeywardException) { }
                catch (Exception e) { Assert.Fail($"mutation {i} threw {e.GetType().Name}: {e.Message}"); }
            }
        }
    }
}
