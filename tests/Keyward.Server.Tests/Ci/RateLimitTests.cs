using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using System.Threading.RateLimiting;
using Keyward.Server.RateLimiting;
using Microsoft.Extensions.Time.Testing;

namespace Keyward.Server.Tests.Ci;

/// <summary>The per-client bound on the endpoints anyone can call: the bucket's arithmetic on a fake clock, who a client
/// is (proxies, IPv6), and a started server answering 429 with Retry-After — each area with its own buckets, refused
/// operator calls counted without slowing accepted ones. The fake clock is the only clock: nothing here sleeps.</summary>
public sealed class RateLimitTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static FakeTimeProvider Clock() => new(new DateTimeOffset(2026, 12, 1, 0, 0, 0, TimeSpan.Zero));

    [Fact]
    public void A_bucket_grants_its_capacity_then_refuses_with_the_wait_until_the_next_permit_and_refills_evenly()
    {
        var time = Clock();
        using var bucket = new ClientTokenBucket(3, TimeSpan.FromMinutes(1), time);
        for (var i = 0; i < 3; i++)
            using (var granted = bucket.AttemptAcquire()) Assert.True(granted.IsAcquired, $"permit {i + 1}");
        using (var refused = bucket.AttemptAcquire())
        {
            Assert.False(refused.IsAcquired);
            Assert.True(refused.TryGetMetadata(MetadataName.RetryAfter, out var wait));
            Assert.Equal(TimeSpan.FromSeconds(20), wait); // 3 per minute: one every 20 s
        }
        time.Advance(TimeSpan.FromSeconds(19));
        using (var early = bucket.AttemptAcquire())
        {
            Assert.False(early.IsAcquired);
            Assert.True(early.TryGetMetadata(MetadataName.RetryAfter, out var wait));
            Assert.Equal(TimeSpan.FromSeconds(1), wait);
        }
        time.Advance(TimeSpan.FromSeconds(1));
        using (var one = bucket.AttemptAcquire()) Assert.True(one.IsAcquired);
        using (var none = bucket.AttemptAcquire()) Assert.False(none.IsAcquired);
        Assert.Equal(4, bucket.GetStatistics()!.TotalSuccessfulLeases);
        Assert.Equal(3, bucket.GetStatistics()!.TotalFailedLeases);
    }

    [Fact]
    public void A_bucket_is_idle_only_once_full_again_so_the_partitioned_limiter_may_drop_it()
    {
        var time = Clock();
        using var bucket = new ClientTokenBucket(2, TimeSpan.FromSeconds(10), time);
        Assert.Equal(TimeSpan.Zero, bucket.IdleDuration);
        using (bucket.AttemptAcquire()) { }
        Assert.Null(bucket.IdleDuration);
        time.Advance(TimeSpan.FromSeconds(5)); // one permit earned back: full
        Assert.Equal(TimeSpan.Zero, bucket.IdleDuration);
        time.Advance(TimeSpan.FromSeconds(30));
        Assert.Equal(TimeSpan.FromSeconds(30), bucket.IdleDuration);
        time.Advance(TimeSpan.FromHours(1)); // a long pause never earns more than the capacity
        for (var i = 0; i < 2; i++) using (var l = bucket.AttemptAcquire()) Assert.True(l.IsAcquired);
        using (var l = bucket.AttemptAcquire()) Assert.False(l.IsAcquired);
    }

    [Theory]
    [InlineData("203.0.113.7", "", "", "203.0.113.7")]
    // A client's own X-Forwarded-For is ignored unless the peer is a trusted proxy.
    [InlineData("203.0.113.7", "198.51.100.1", "", "203.0.113.7")]
    [InlineData("127.0.0.1", "198.51.100.1", "127.0.0.1", "198.51.100.1")]
    // Read from the right: the leftmost entries are whatever the client wrote.
    [InlineData("127.0.0.1", "1.1.1.1, 198.51.100.1", "127.0.0.1", "198.51.100.1")]
    [InlineData("127.0.0.1", "1.1.1.1, 198.51.100.1, 10.0.0.2", "127.0.0.1,10.0.0.2", "198.51.100.1")]
    // An entry that is not a bare address stops the walk at the last trusted hop.
    [InlineData("127.0.0.1", "198.51.100.1:5555", "127.0.0.1", "127.0.0.1")]
    [InlineData("127.0.0.1", "unknown", "127.0.0.1", "127.0.0.1")]
    // IPv6 clients count per /64; an IPv4-mapped peer is its IPv4 address.
    [InlineData("2001:db8:1:2:aaaa::1", "", "", "2001:db8:1:2::/64")]
    [InlineData("2001:db8:1:2:bbbb::9", "", "", "2001:db8:1:2::/64")]
    [InlineData("::ffff:203.0.113.7", "", "", "203.0.113.7")]
    public void A_client_is_its_address_or_what_a_trusted_proxy_saw(string peer, string forwardedFor, string trusted, string expected)
    {
        var proxies = trusted.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(RateLimitOptions.ParseProxy).ToList();
        Assert.Equal(expected, ClientRateLimits.ClientKey(IPAddress.Parse(peer), forwardedFor.Length == 0 ? [] : [forwardedFor], proxies));
    }

    [Theory]
    [InlineData("30/1m", 30, 60)]
    [InlineData("5/10s", 5, 10)]
    [InlineData("off", 0, 60)]
    public void The_option_reads_permits_per_period_or_off(string text, int permits, int seconds)
    {
        var o = RateLimitOptions.Parse(text);
        Assert.Equal(permits, o.Permits);
        Assert.Equal(TimeSpan.FromSeconds(seconds), o.Period);
        Assert.Equal(permits > 0, o.Enabled);
    }

    [Theory]
    [InlineData("30")]
    [InlineData("0/1m")]
    [InlineData("-1/1m")]
    [InlineData("30/0s")]
    [InlineData("30/soon")]
    [InlineData("30/2d")]
    public void A_malformed_option_is_KW0009(string text) =>
        Assert.Equal("KW0009", Assert.Throws<Core.Errors.KeywardException>(() => RateLimitOptions.Parse(text)).First.Code.Code);

    private static async Task<HttpResponseMessage> PostCiAsync(ServerHarness h)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/ci/attic-token");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "not.a.jwt");
        return await h.Http.SendAsync(request, Ct);
    }

    private static async Task AssertLimitedAsync(HttpResponseMessage r, string retryAfter)
    {
        Assert.Equal(HttpStatusCode.TooManyRequests, r.StatusCode);
        Assert.Equal(retryAfter, r.Headers.GetValues("Retry-After").Single());
        var body = JsonNode.Parse(await r.Content.ReadAsStringAsync(Ct))!;
        Assert.Equal("KW1207", (string?)body["code"]);
        Assert.Equal("rate-limited", (string?)body["error"]);
    }

    [Fact]
    public async Task The_CI_exchange_answers_429_with_Retry_After_past_the_bound_and_again_once_the_clock_moved()
    {
        await using var h = await new ServerHarness().StartAsync(o => o with { RateLimit = RateLimitOptions.Parse("3/1m") });
        for (var i = 0; i < 3; i++)
            using (var r = await PostCiAsync(h)) Assert.Equal(HttpStatusCode.Unauthorized, r.StatusCode);
        using (var r = await PostCiAsync(h)) await AssertLimitedAsync(r, "20");

        // Another area has buckets of its own: the agent challenge still answers (401: no host has this key).
        using (var r = await h.GetAsync("/api/v1/agent/challenge?key=age1nobody")) Assert.Equal(HttpStatusCode.Unauthorized, r.StatusCode);

        h.Fake!.Advance(TimeSpan.FromSeconds(20));
        using (var r = await PostCiAsync(h)) Assert.Equal(HttpStatusCode.Unauthorized, r.StatusCode);
        using (var r = await PostCiAsync(h)) await AssertLimitedAsync(r, "20");
    }

    [Fact]
    public async Task The_agent_challenge_is_bounded_per_client()
    {
        await using var h = await new ServerHarness().StartAsync(o => o with { RateLimit = RateLimitOptions.Parse("2/10s") });
        for (var i = 0; i < 2; i++)
            using (var r = await h.GetAsync("/api/v1/agent/challenge?key=age1nobody")) Assert.Equal(HttpStatusCode.Unauthorized, r.StatusCode);
        using (var r = await h.GetAsync("/api/v1/agent/challenge?key=age1nobody")) await AssertLimitedAsync(r, "5");
    }

    [Fact]
    public async Task The_dashboard_login_post_is_bounded_per_client()
    {
        await using var h = await new ServerHarness().StartAsync(o => o with { DashboardLogin = true, RateLimit = RateLimitOptions.Parse("2/1m") });
        async Task<HttpResponseMessage> Post()
        {
            using var content = new FormUrlEncodedContent([new("token", "kwop_wrong"), new("csrf", "x")]);
            return await h.Http.PostAsync("/dashboard/login", content, Ct);
        }
        for (var i = 0; i < 2; i++)
            using (var r = await Post()) Assert.Equal(HttpStatusCode.Forbidden, r.StatusCode); // no CSRF cookie: refused, but counted
        using (var r = await Post()) await AssertLimitedAsync(r, "30");
    }

    [Fact]
    public async Task Refused_operator_calls_are_bounded_and_not_audited_past_the_bound_while_accepted_calls_never_count()
    {
        await using var h = await new ServerHarness().StartAsync(o => o with { RateLimit = RateLimitOptions.Parse("2/1m") });
        Assert.True(await h.PassAsync());
        var (good, _) = await h.CreateOperatorTokenAsync("alice");
        for (var i = 0; i < 5; i++)
            using (var r = await h.GetAsync("/api/v1/credentials", good)) Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        for (var i = 0; i < 2; i++)
            using (var r = await h.GetAsync("/api/v1/credentials", "kwop_0000000000000000_guess")) Assert.Equal(HttpStatusCode.Unauthorized, r.StatusCode);
        for (var i = 0; i < 3; i++)
            using (var r = await h.GetAsync("/api/v1/credentials", "kwop_0000000000000000_guess")) await AssertLimitedAsync(r, "30");
        // The operator's own calls go on.
        using (var r = await h.GetAsync("/api/v1/credentials", good)) Assert.Equal(HttpStatusCode.OK, r.StatusCode);

        await using var s = await h.OpenAsync();
        Assert.Equal(2, (await s.Store.ReadAuditAsync(null, Ct)).Count(a => a.Event.Action == "api-refused"));
    }

    [Fact]
    public async Task Off_means_no_bound()
    {
        await using var h = await new ServerHarness().StartAsync(o => o with { RateLimit = RateLimitOptions.Parse("off") });
        for (var i = 0; i < 40; i++)
            using (var r = await PostCiAsync(h)) Assert.Equal(HttpStatusCode.Unauthorized, r.StatusCode);
    }
}
