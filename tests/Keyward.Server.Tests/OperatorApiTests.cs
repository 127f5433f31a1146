using System.Net;
using System.Text;
using System.Text.Json;
using Keyward.Engine;
using Keyward.Engine.Ledger;

namespace Keyward.Server.Tests;

/// <summary>The operator read API: every route refuses no token, a wrong token and a revoked one (401) and answers the
/// right one (200); no response carries a stored value in any encoding; every call is audited under the token's name.</summary>
public sealed class OperatorApiTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static readonly string[] RouteList = ["/api/v1/credentials", "/api/v1/credentials/push-token", "/api/v1/plan", "/api/v1/audit"];

    public static TheoryData<string> Routes => new(RouteList);

    [Theory]
    [MemberData(nameof(Routes))]
    public async Task Every_route_refuses_missing_wrong_and_revoked_tokens_and_answers_the_right_one(string route)
    {
        await using var h = await new ServerHarness().StartAsync();
        Assert.True(await h.PassAsync());
        var (good, _) = await h.CreateOperatorTokenAsync("alice");
        var (revoked, revokedId) = await h.CreateOperatorTokenAsync("bob");
        await using (var s = await h.OpenAsync())
            await new TokenLedger(s.Store, new EngineOptions { Time = h.Time }).RevokeAsync(revokedId, Ct);
        var wrongSecret = good[..^4] + (good.EndsWith("AAAA", StringComparison.Ordinal) ? "BBBB" : "AAAA");

        foreach (var (bearer, what) in new[] { ((string?)null, "no token"), ("kwop_0000000000000000_nothing", "unknown token"), (wrongSecret, "wrong secret"), (revoked, "revoked token") })
        {
            using var r = await h.GetAsync(route, bearer);
            Assert.True(r.StatusCode == HttpStatusCode.Unauthorized, $"{route} with {what}: {(int)r.StatusCode}");
            Assert.Contains("Bearer", r.Headers.WwwAuthenticate.ToString(), StringComparison.Ordinal);
        }
        using (var ok = await h.GetAsync(route, good))
            Assert.True(ok.StatusCode == HttpStatusCode.OK, $"{route}: {(int)ok.StatusCode} {await ok.Content.ReadAsStringAsync(Ct)}");

        await using (var s = await h.OpenAsync())
        {
            var audit = await s.Store.ReadAuditAsync(null, Ct);
            Assert.Contains(audit, a => a.Event.Actor == "alice" && a.Event.Action == "api" && a.Event.Detail!.StartsWith($"GET {route} -> 200", StringComparison.Ordinal));
            Assert.Equal(4, audit.Count(a => a.Event.Action == "api-refused" && a.Event.Detail!.StartsWith($"GET {route}:", StringComparison.Ordinal)));
            Assert.DoesNotContain(audit, a => a.Event.Detail?.Contains(good, StringComparison.Ordinal) == true);
        }
    }

    [Fact]
    public async Task An_expired_operator_token_is_refused()
    {
        await using var h = await new ServerHarness().StartAsync();
        Assert.True(await h.PassAsync());
        var (token, _) = await h.CreateOperatorTokenAsync("carol", TimeSpan.FromHours(1));
        using (var r = await h.GetAsync("/api/v1/credentials", token)) Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        h.Fake!.Advance(TimeSpan.FromHours(2));
        using (var r = await h.GetAsync("/api/v1/credentials", token)) Assert.Equal(HttpStatusCode.Unauthorized, r.StatusCode);
    }

    [Fact]
    public async Task No_response_carries_a_stored_value_raw_base64_or_hex()
    {
        await using var h = await new ServerHarness().StartAsync();
        Assert.True(await h.PassAsync());
        h.Fake!.Advance(TimeSpan.FromMinutes(61));
        Assert.True(await h.PassAsync()); // a second token version, so previous versions exist too
        var (token, _) = await h.CreateOperatorTokenAsync("alice");
        var values = new List<byte[]>();
        await using (var s = await h.OpenAsync())
            foreach (var v in await s.Store.ListVersionsAsync(Ct))
                using (var secret = await s.Store.RevealAsync(v.Name, v.Version, Ct))
                    values.Add(secret.Reveal().ToArray());
        Assert.True(values.Count >= 4);
        var needles = values.SelectMany(Encodings).Where(n => n.Length >= 12).ToArray();

        foreach (var route in RouteList.Append("/metrics").Append("/readyz").Append("/healthz"))
        {
            using var r = await h.GetAsync(route, token);
            var body = await r.Content.ReadAsStringAsync(Ct);
            Assert.True(r.IsSuccessStatusCode, $"{route}: {(int)r.StatusCode} {body}");
            foreach (var n in needles)
                Assert.False(body.Contains(n, StringComparison.OrdinalIgnoreCase), $"{route} carries a stored value ({n[..4]}…)");
            Assert.DoesNotContain(token, body, StringComparison.Ordinal);
        }
    }

    /// <summary>A value as text, base64 (standard and URL-safe, unpadded), hex, and the JWT payload part of a token.</summary>
    private static IEnumerable<string> Encodings(byte[] value)
    {
        var text = Encoding.UTF8.GetString(value);
        yield return text;
        var b64 = Convert.ToBase64String(value);
        yield return b64.TrimEnd('=');
        yield return b64.TrimEnd('=').Replace('+', '-').Replace('/', '_');
        yield return Convert.ToHexString(value);
        foreach (var part in text.Split('.').Where(p => p.Length >= 12)) yield return part;
    }

    [Fact]
    public async Task Credentials_lists_names_kinds_versions_expiry_and_conditions()
    {
        await using var h = await new ServerHarness().StartAsync();
        Assert.True(await h.PassAsync());
        var (token, _) = await h.CreateOperatorTokenAsync("alice");
        using var r = await h.GetAsync("/api/v1/credentials/push-token", token);
        using var doc = JsonDocument.Parse(await r.Content.ReadAsStringAsync(Ct));
        var c = doc.RootElement;
        Assert.Equal("push-token", c.GetProperty("name").GetString());
        Assert.Equal("attic-token", c.GetProperty("kind").GetString());
        Assert.Equal(1, c.GetProperty("activeVersion").GetInt32());
        Assert.Equal(h.Time.GetUtcNow().AddHours(2).ToUnixTimeSeconds(), c.GetProperty("expiresAt").GetDateTimeOffset().ToUnixTimeSeconds());
        Assert.NotEmpty(c.GetProperty("conditions").EnumerateArray());
        using var missing = await h.GetAsync("/api/v1/credentials/nope", token);
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
    }
}
