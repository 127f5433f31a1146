using System.Globalization;
using System.Net;
using System.Threading.RateLimiting;
using Keyward.Core.Errors;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.DependencyInjection;

namespace Keyward.Server.RateLimiting;

/// <summary>The answer to a limited client: 429 with <c>Retry-After</c> and this body.</summary>
internal sealed record RateLimitedResponse(string Error, string Code, string Message);

/// <summary>
/// Per-client rate limits of the endpoints anyone can call, on ASP.NET Core's rate limiter (the middleware and its
/// partitioned limiter; AOT-safe) with one <see cref="ClientTokenBucket"/> per client and area. Areas, each with its own
/// buckets so a CI storm never locks an agent out: <see cref="Ci"/> (the OIDC exchange), <see cref="Login"/> (the
/// dashboard's login POST), <see cref="Agent"/> (the agent challenge, which holds a nonce for a minute). Operator API
/// refusals are counted with <see cref="OperatorRefusals"/>: only refused calls spend a permit, so an operator's own
/// scripts are never slowed while a token guesser — whose every refusal would be an audit row — is.
/// </summary>
internal static class ClientRateLimits
{
    public const string Ci = "ci";
    public const string Login = "dashboard-login";
    public const string Agent = "agent";

    private static readonly string[] Areas = [Ci, Login, Agent];

    public static void Add(IServiceCollection services, ServeOptions options)
    {
        var limits = options.RateLimit;
        var time = options.Time;
        services.AddRateLimiter(o =>
        {
            o.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            o.OnRejected = (context, ct) => RejectAsync(context.HttpContext, context.Lease, ct);
            foreach (var area in Areas)
                o.AddPolicy(area, ctx => Partition(ctx, limits, time));
        });
        // Made by a factory, so the container disposes it (and the partitioned limiter's heartbeat timer) with the host.
        services.AddSingleton(_ => new OperatorRefusalLimiter(PartitionedRateLimiter.Create<HttpContext, string>(ctx => Partition(ctx, limits, time))));
    }

    /// <summary>A client's bucket, or no limit when <see cref="RateLimitOptions.Enabled"/> is off.</summary>
    private static RateLimitPartition<string> Partition(HttpContext ctx, RateLimitOptions limits, TimeProvider time) =>
        limits.Enabled
            ? RateLimitPartition.Get(ClientKey(ctx.Connection.RemoteIpAddress, ctx.Request.Headers["X-Forwarded-For"], limits.TrustedProxies),
                _ => new ClientTokenBucket(limits.Permits, limits.Period, time))
            : RateLimitPartition.GetNoLimiter("off");

    /// <summary>
    /// Who the client is: the peer's address, or — when the peer is a trusted proxy — the rightmost address of
    /// <c>X-Forwarded-For</c> that is not itself a trusted proxy (the leftmost entries are whatever the client wrote).
    /// An entry that is not a bare IP address stops the walk at the last trusted hop. IPv6 addresses count per /64.
    /// </summary>
    internal static string ClientKey(IPAddress? peer, IEnumerable<string?> forwardedFor, IReadOnlyList<IPAddress> trustedProxies)
    {
        if (peer is null) return "unknown";
        var client = RateLimitOptions.Canonical(peer);
        if (trustedProxies.Count > 0 && trustedProxies.Contains(client))
        {
            var hops = forwardedFor.SelectMany(v => (v ?? "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)).ToList();
            for (var i = hops.Count - 1; i >= 0; i--)
            {
                if (!IPAddress.TryParse(hops[i], out var hop) || (hops[i].Contains(':', StringComparison.Ordinal) && hop.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork))
                    break; // "1.2.3.4:5678" or a name: not an address this server can trust
                client = RateLimitOptions.Canonical(hop);
                if (!trustedProxies.Contains(client)) break;
            }
        }
        if (client.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6)
        {
            var bytes = client.GetAddressBytes();
            Array.Clear(bytes, 8, 8);
            return new IPAddress(bytes) + "/64";
        }
        return client.ToString();
    }

    /// <summary>429, <c>Retry-After</c> in whole seconds (at least 1), <c>no-store</c>, and a body with KW1207.</summary>
    internal static ValueTask RejectAsync(HttpContext http, RateLimitLease lease, CancellationToken ct)
    {
        var response = http.Response;
        response.StatusCode = StatusCodes.Status429TooManyRequests;
        var seconds = lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter) ? Math.Max(1, (long)Math.Ceiling(retryAfter.TotalSeconds)) : 1;
        response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
        response.Headers.CacheControl = "no-store";
        return new ValueTask(response.WriteAsJsonAsync(new RateLimitedResponse("rate-limited", ErrorCodes.RateLimited.Code, ErrorCodes.RateLimited.Title),
            ServerJson.Default.RateLimitedResponse, contentType: null, ct));
    }
}

/// <summary>The per-client bound on refused operator API calls (<see cref="ClientRateLimits"/>).</summary>
internal sealed class OperatorRefusalLimiter(PartitionedRateLimiter<HttpContext> limiter) : IDisposable
{
    /// <summary>Spends one of the client's permits for a refusal; a lease that is not acquired means: answer 429.</summary>
    public RateLimitLease Refusal(HttpContext http) => limiter.AttemptAcquire(http);

    public void Dispose() => limiter.Dispose();
}
