using System.Text.Json;
using Keyward.Core.Attic;
using Keyward.Core.Secrets;
using Keyward.Crypto.Attic;
using Keyward.Crypto.Tests.Nix;
using Microsoft.Extensions.Time.Testing;

namespace Keyward.Crypto.Tests.Attic;

/// <summary>Attic's own token test vector (zhaofengli/attic token/src/tests.rs, test_basic), from the shared vectors folder.</summary>
public sealed class AtticVectorTests
{
    private static JsonElement? Vector()
    {
        var dir = ToolProcess.VectorsDirectory();
        if (dir is null) return null;
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "attic.json")));
        return doc.RootElement.GetProperty("attic_hs256").Clone();
    }

    [Fact]
    public void AtticHs256Vector_VerifiesAndGivesExactlyTheListedPermissions()
    {
        if (Vector() is not { } v) { Assert.Skip("the shared vectors folder (<repo>/../shared/vectors) is absent"); return; }
        using var key = AtticSigningKey.FromBase64Value(Secret.FromUtf8(v.GetProperty("secret_base64").GetString()!), rsa: false);
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        var token = AtticTokens.Verify(v.GetProperty("token").GetString()!, key, time);
        Assert.True(token.SignatureVerified);
        Assert.Equal("meow", token.Subject);
        Assert.Equal(4102324986, token.ExpiresAtSeconds);

        var checkedAny = 0;
        foreach (var cache in v.GetProperty("expected").EnumerateObject())
        {
            var access = token.PermissionsFor(cache.Name);
            foreach (var p in cache.Value.EnumerateObject())
            {
                var expected = p.Value.GetBoolean();
                var actual = p.Name switch
                {
                    "any" => token.CanDiscover(cache.Name),
                    "pull" => access.Can(AtticPermission.Pull),
                    "push" => access.Can(AtticPermission.Push),
                    "delete" => access.Can(AtticPermission.Delete),
                    "create_cache" => access.Can(AtticPermission.CreateCache),
                    "configure_cache" => access.Can(AtticPermission.ConfigureCache),
                    "configure_cache_retention" => access.Can(AtticPermission.ConfigureCacheRetention),
                    "destroy_cache" => access.Can(AtticPermission.DestroyCache),
                    _ => throw new InvalidOperationException("unknown expectation " + p.Name),
                };
                Assert.True(expected == actual, $"{cache.Name}.{p.Name}: expected {expected}, got {actual}");
                checkedAny++;
            }
        }
        Assert.True(checkedAny >= 10);
    }

    [Fact]
    public void AtticHs256Vector_FirstMatchWins_AllStarShadowsAllCiStar()
    {
        if (Vector() is not { } v) { Assert.Skip("the shared vectors folder (<repo>/../shared/vectors) is absent"); return; }
        var token = AtticTokens.Decode(v.GetProperty("token").GetString()!);
        Assert.Equal(["all-*", "all-ci-*", "cache-ro", "cache-rw", "team-*"], token.Grants.Select(g => g.Pattern.Text));
        var access = token.PermissionsFor("all-ci-abc");
        Assert.Equal("all-*", access.MatchedBy!.Text);
        Assert.Equal([AtticPermission.Pull], access.Permissions);
        Assert.False(token.SignatureVerified);
    }

    [Fact]
    public void AtticHs256Vector_WrongSecret_Fails()
    {
        if (Vector() is not { } v) { Assert.Skip("the shared vectors folder (<repo>/../shared/vectors) is absent"); return; }
        using var key = AtticSigningKey.Hs256(Secret.FromUtf8("not the secret"));
        var ex = Assert.Throws<Keyward.Core.Errors.KeywardException>(() =>
            AtticTokens.Verify(v.GetProperty("token").GetString()!, key, new FakeTimeProvider(DateTimeOffset.FromUnixTimeSeconds(1_800_000_000))));
        Assert.Equal(Keyward.Core.Errors.ErrorCodes.AtticTokenSignature, ex.First.Code);
    }

    [Fact]
    public void LegacyVector_FromReference_Verifies()
    {
        // zhaofengli/attic server/src/access/tests.rs (stale file), secret "very secure secret"
        const string jwt = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJtZW93IiwiZXhwIjo0MTAyMzI0OTg2LCJodHRwczovL2p3dC5hdHRpYy5ycy92MSI6eyJjYWNoZXMiOnsiY2FjaGUtcnciOnsiciI6MSwidyI6MX0sImNhY2hlLXJvIjp7InIiOjF9LCJ0ZWFtLSoiOnsiciI6MSwidyI6MSwiY2MiOjF9fX19.UlsIM9bQHr9SXGAcSQcoVPo9No8Zhh6Y5xfX8vCmKmA";
        using var key = AtticSigningKey.FromBase64Value(Secret.FromUtf8("dmVyeSBzZWN1cmUgc2VjcmV0"), rsa: false);
        var token = AtticTokens.Verify(jwt, key, new FakeTimeProvider(DateTimeOffset.FromUnixTimeSeconds(1_800_000_000)));
        Assert.True(token.PermissionsFor("team-xyz").Can(AtticPermission.CreateCache));
        Assert.False(token.CanDiscover("forbidden-cache"));
        Assert.Null(token.NotBeforeSeconds);
    }
}
