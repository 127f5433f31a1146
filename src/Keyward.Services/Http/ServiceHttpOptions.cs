namespace Keyward.Services.Http;

/// <summary>The one resilience policy every service adapter uses. Defaults suit a CLI talking to
/// services on the same network; tests shrink the delays.</summary>
public sealed record ServiceHttpOptions
{
    /// <summary>Each attempt (connect, send, read the whole body) must finish within this.</summary>
    public TimeSpan AttemptTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>All attempts and back-off delays together.</summary>
    public TimeSpan TotalTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Retries after the first attempt, for idempotent requests only.</summary>
    public int MaxRetries { get; init; } = 3;

    /// <summary>First back-off delay; doubles each retry, with jitter.</summary>
    public TimeSpan BaseDelay { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>Largest body Keyward reads from a service (answers are small JSON documents).</summary>
    public int MaxBodyBytes { get; init; } = 4 * 1024 * 1024;

    public static ServiceHttpOptions Default { get; } = new();

    internal void Validate()
    {
        if (AttemptTimeout <= TimeSpan.Zero || TotalTimeout <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(AttemptTimeout), "timeouts must be positive");
        if (MaxRetries is < 0 or > 10) throw new ArgumentOutOfRangeException(nameof(MaxRetries), "0..10 retries");
        if (BaseDelay < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(BaseDelay));
    }
}
