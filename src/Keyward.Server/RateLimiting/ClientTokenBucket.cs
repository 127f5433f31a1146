using System.Threading.RateLimiting;

namespace Keyward.Server.RateLimiting;

/// <summary>
/// A token bucket for one client on the server's <see cref="TimeProvider"/> (the framework's own limiters read the
/// system clock, so a test could only drive them with real sleeps): <c>capacity</c> requests at once, refilled evenly at
/// <c>capacity</c> per <c>period</c>. Never queues: a request without a token is refused at once, and the refusal's lease
/// says how long until one is back (<see cref="MetadataName.RetryAfter"/>, which becomes the answer's Retry-After).
/// <see cref="IdleDuration"/> counts from the moment the bucket is full again, so the partitioned limiter that holds one
/// bucket per client drops the idle ones (its heartbeat removes a partition idle for more than 10 s).
/// </summary>
internal sealed class ClientTokenBucket : RateLimiter
{
    private readonly Lock _lock = new();
    private readonly int _capacity;
    private readonly TimeSpan _period;
    private readonly TimeProvider _time;
    // Exact arithmetic: one permit is worth period.Ticks units and every tick earns capacity units, so the wait for the
    // next permit is a whole number of ticks (no floating-point remainder to round the wrong way).
    private readonly long _permit;
    private readonly long _full;
    private long _units;
    private long _last;
    private long _fullSince;
    private long _granted;
    private long _refused;

    public ClientTokenBucket(int capacity, TimeSpan period, TimeProvider time)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(period, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(period, RateLimitOptions.MaxPeriod);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(capacity, RateLimitOptions.MaxPermits);
        _capacity = capacity;
        _period = period;
        _time = time;
        _permit = period.Ticks;
        _full = _units = checked(_permit * capacity);
        _last = _fullSince = time.GetTimestamp();
    }

    public override TimeSpan? IdleDuration
    {
        get
        {
            lock (_lock)
            {
                var now = Refill();
                return _units >= _full ? _time.GetElapsedTime(_fullSince, now) : null;
            }
        }
    }

    public override RateLimiterStatistics? GetStatistics()
    {
        lock (_lock)
        {
            Refill();
            return new RateLimiterStatistics
            {
                CurrentAvailablePermits = _units / _permit,
                CurrentQueuedCount = 0,
                TotalSuccessfulLeases = _granted,
                TotalFailedLeases = _refused,
            };
        }
    }

    protected override RateLimitLease AttemptAcquireCore(int permitCount)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(permitCount);
        if (permitCount > _capacity) throw new ArgumentOutOfRangeException(nameof(permitCount), permitCount, $"at most {_capacity} permits at once");
        lock (_lock)
        {
            Refill();
            // Zero permits asks whether one is available, and takes nothing (RateLimiter's contract).
            var needed = Math.Max(permitCount, 1) * _permit;
            if (_units >= needed)
            {
                _units -= permitCount * _permit;
                _granted++;
                return Lease.Granted;
            }
            _refused++;
            var missing = needed - _units;
            return new Lease(false, TimeSpan.FromTicks((missing + _capacity - 1) / _capacity));
        }
    }

    protected override ValueTask<RateLimitLease> AcquireAsyncCore(int permitCount, CancellationToken cancellationToken) =>
        ValueTask.FromResult(AttemptAcquireCore(permitCount));

    /// <summary>Adds the tokens earned since the last look; returns now (a timestamp).</summary>
    private long Refill()
    {
        var now = _time.GetTimestamp();
        if (_units < _full)
        {
            // A pause longer than the period refills the bucket whatever its level: clamp before multiplying.
            var elapsed = Math.Min(_time.GetElapsedTime(_last, now).Ticks, _period.Ticks);
            _units = Math.Min(_full, _units + Math.Max(0, elapsed) * _capacity);
            if (_units >= _full) _fullSince = now;
        }
        _last = now;
        return now;
    }

    private sealed class Lease(bool acquired, TimeSpan? retryAfter) : RateLimitLease
    {
        public static readonly Lease Granted = new(true, null);

        public override bool IsAcquired => acquired;

        public override IEnumerable<string> MetadataNames => retryAfter is null ? [] : [MetadataName.RetryAfter.Name];

        public override bool TryGetMetadata(string metadataName, out object? metadata)
        {
            if (retryAfter is { } r && metadataName == MetadataName.RetryAfter.Name)
            {
                metadata = r;
                return true;
            }
            metadata = null;
            return false;
        }
    }
}
