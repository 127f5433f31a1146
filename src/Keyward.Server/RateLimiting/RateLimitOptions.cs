using System.Globalization;
using System.Net;
using Keyward.Core.Errors;
using Keyward.Core.Time;

namespace Keyward.Server.RateLimiting;

/// <summary>
/// The per-client bound on the endpoints anyone can call (<c>keyward serve --rate-limit N/PERIOD</c>, default 30/1m):
/// each client may make <see cref="Permits"/> calls at once to each such area, earning them back evenly over
/// <see cref="Period"/>. A client is its IP address (an IPv6 client its /64, which one host owns whole); behind a proxy
/// named in <see cref="TrustedProxies"/>, the address that proxy saw (<c>X-Forwarded-For</c>, read from the right).
/// </summary>
public sealed record RateLimitOptions
{
    /// <summary>Calls a client may make at once to one area; 0 turns the limit off.</summary>
    public int Permits { get; init; } = 30;

    /// <summary>The time in which <see cref="Permits"/> calls are earned back.</summary>
    public TimeSpan Period { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>Proxies whose <c>X-Forwarded-For</c> names the client (<c>--trusted-proxy</c>); from any other peer the
    /// header is ignored, since a client can write it.</summary>
    public IReadOnlyList<IPAddress> TrustedProxies { get; init; } = [];

    public bool Enabled => Permits > 0;

    /// <summary>Bounds of the option (the bucket counts in ticks × permits, which must fit in 64 bits).</summary>
    public const int MaxPermits = 1_000_000;
    public static readonly TimeSpan MaxPeriod = TimeSpan.FromDays(1);

    /// <summary>Parses <c>N/PERIOD</c> (<c>30/1m</c>, <c>5/10s</c>) or <c>off</c>; anything else is KW0009.</summary>
    public static RateLimitOptions Parse(string text, IReadOnlyList<IPAddress>? trustedProxies = null)
    {
        ArgumentNullException.ThrowIfNull(text);
        trustedProxies ??= [];
        if (string.Equals(text.Trim(), "off", StringComparison.OrdinalIgnoreCase)) return new RateLimitOptions { Permits = 0, TrustedProxies = trustedProxies };
        var slash = text.IndexOf('/', StringComparison.Ordinal);
        if (slash > 0
            && int.TryParse(text.AsSpan(0, slash), NumberStyles.None, CultureInfo.InvariantCulture, out var permits) && permits is > 0 and <= MaxPermits
            && HumanDuration.TryParse(text[(slash + 1)..], out var period, out _) && period.Value > TimeSpan.Zero && period.Value <= MaxPeriod)
            return new RateLimitOptions { Permits = permits, Period = period.Value, TrustedProxies = trustedProxies };
        throw ErrorCodes.InvalidArgument.Exception($"--rate-limit '{text}': give N/PERIOD, e.g. 30/1m (N from 1 to 1000000, PERIOD at most 1d), or off");
    }

    /// <summary>Parses one <c>--trusted-proxy</c> IP address.</summary>
    public static IPAddress ParseProxy(string text) =>
        IPAddress.TryParse(text, out var ip) ? Canonical(ip)
            : throw ErrorCodes.InvalidArgument.Exception($"--trusted-proxy '{text}': give the proxy's IP address (e.g. 127.0.0.1 or ::1)");

    internal static IPAddress Canonical(IPAddress ip) => ip.IsIPv4MappedToIPv6 ? ip.MapToIPv4() : ip;
}
