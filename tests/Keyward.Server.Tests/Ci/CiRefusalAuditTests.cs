using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using Keyward.Engine.Ci;
using Microsoft.Extensions.Time.Testing;

namespace Keyward.Server.Tests.Ci;

/// <summary>Refusals of genuine tokens are audited, but not without bound: a public issuer's tokens are anyone's to have
/// (any GitHub repository can ask for one with Keyward's audience), so past <see cref="CiTokenExchange.MaxRefusalAuditsPerMinute"/>
/// a minute they are counted, and the next audited refusal says how many were left out. The server's clock is a fake
/// one set to now (the issuer signs with the real time) and only moved by the test.</summary>
[Trait("Category", "Interop")]
public sealed class CiRefusalAuditTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Refusals_of_genuine_tokens_are_audited_up_to_the_budget_then_counted()
    {
        await using var issuer = await PythonIssuer.StartAsync();
        var clock = new FakeTimeProvider(TimeProvider.System.GetUtcNow());
        await using var served = await ServedState.StartAsync($$"""
            apiVersion: keyward/v1
            credentials:
              attic-jwt-secret: { kind: secret, bytes: 64, owner: o, purpose: signs Attic tokens }
            trustedPublishers:
              gh-main:
                issuer: {{issuer.Issuer}}
                audience: https://keyward.test
                signedBy: attic-jwt-secret
                claims: { repository: example-org/infra }
                caches: { main: [pull] }
            """, time: clock, adjust: o => o with { RunController = false, RateLimit = RateLimiting.RateLimitOptions.Parse("off") });
        using var http = new HttpClient { BaseAddress = served.Url, Timeout = TimeSpan.FromSeconds(60) };
        var now = TimeProvider.System.GetUtcNow().ToUnixTimeSeconds();
        async Task<HttpStatusCode> SendForeignJob(int i)
        {
            var token = await issuer.MintAsync("rsa-1", new JsonObject
            {
                ["jti"] = $"job-{i}", ["iss"] = issuer.Issuer, ["aud"] = "https://keyward.test", ["sub"] = "repo:mallory/x:ref:refs/heads/main",
                ["repository"] = "mallory/x", ["iat"] = now, ["exp"] = now + 600,
            });
            using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/ci/attic-token");
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            using var response = await http.SendAsync(request, Ct);
            return response.StatusCode;
        }

        var budget = CiTokenExchange.MaxRefusalAuditsPerMinute;
        for (var i = 0; i < budget + 5; i++) Assert.Equal(HttpStatusCode.Forbidden, await SendForeignJob(i));
        clock.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal(HttpStatusCode.Forbidden, await SendForeignJob(budget + 5));

        await using var state = await served.OpenAsync();
        var refused = (await state.Store.ReadAuditAsync(null, Ct)).Where(a => a.Event.Action == "ci-token-refused").ToList();
        Assert.Equal(budget + 1, refused.Count);
        Assert.Contains("5 earlier refusal(s) not audited", refused[^1].Event.Detail, StringComparison.Ordinal);
        Assert.DoesNotContain("not audited", refused[^2].Event.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Every_refusal_is_one_line_of_the_server_log_with_its_detail_and_a_forged_kid_cannot_add_lines()
    {
        await using var issuer = await PythonIssuer.StartAsync();
        var lines = new System.Collections.Concurrent.ConcurrentQueue<string>();
        await using var served = await ServedState.StartAsync($$"""
            apiVersion: keyward/v1
            credentials:
              attic-jwt-secret: { kind: secret, bytes: 64, owner: o, purpose: signs Attic tokens }
            trustedPublishers:
              gh-main:
                issuer: {{issuer.Issuer}}
                audience: https://keyward.test
                signedBy: attic-jwt-secret
                claims: { repository: example-org/infra }
                caches: { main: [pull] }
            """, adjust: o => o with { RunController = false, Log = lines.Enqueue });
        using var http = new HttpClient { BaseAddress = served.Url, Timeout = TimeSpan.FromSeconds(60) };
        var now = TimeProvider.System.GetUtcNow().ToUnixTimeSeconds();
        var token = (string)(await issuer.AskAsync(new JsonObject
        {
            ["cmd"] = "mint", ["kid"] = "rsa-1", ["header"] = new JsonObject { ["kid"] = "nope\nkeyward: CI token forged issued" },
            ["claims"] = new JsonObject { ["iss"] = issuer.Issuer, ["aud"] = "https://keyward.test", ["repository"] = "example-org/infra", ["iat"] = now, ["exp"] = now + 300 },
        }))["token"]!;
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/ci/attic-token");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using (var response = await http.SendAsync(request, Ct)) Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);

        var line = Assert.Single(lines, l => l.StartsWith("CI token refused (KW1418)", StringComparison.Ordinal));
        Assert.Contains("publishes no key 'nope?keyward: CI token forged issued'", line, StringComparison.Ordinal);
        Assert.All(lines, l => Assert.DoesNotContain("\n", l, StringComparison.Ordinal));
        Assert.DoesNotContain(lines, l => l.Contains(token.Split('.')[2], StringComparison.Ordinal));
    }
}
