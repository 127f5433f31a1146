using Keyward.Services;

namespace Keyward.Engine;

/// <summary>
/// Which of the uses of stored tokens that a loop makes pass after pass (<c>keyward serve</c>'s checks and cache
/// reconciles) go into the audit log as <c>service.use</c>. Recorded: the first use of a token for one request to one
/// service, a use of another version of it, a use whose outcome differs from the one last recorded (valid → invalid,
/// a failure, back to valid), and otherwise one use per <see cref="Period"/> (a day) as a sign of life. Every 5 minutes,
/// the loop would otherwise write 288 identical events per token a day, forever, and bury the rest of the log.
/// A person's <c>keyward check</c> or <c>keyward reconcile</c> takes no filter: each of its uses is recorded.
/// The memory is the process's: a restarted server, or another replica taking the lead, records each use once more.
/// </summary>
public sealed class RoutineUseFilter(TimeProvider time, TimeSpan? period = null)
{
    /// <summary>How often an unchanged use is recorded again.</summary>
    public static readonly TimeSpan DefaultPeriod = TimeSpan.FromDays(1);

    private readonly Lock _gate = new();
    private readonly Dictionary<(string Service, string Credential, string What), (int? Version, string Outcome, DateTimeOffset At)> _recorded = [];

    public TimeSpan Period { get; } = period ?? DefaultPeriod;

    /// <summary>The uses of <paramref name="uses"/> to record now, in their order (one of several equal uses in the batch).
    /// Call <see cref="Recorded"/> with them once they are in the log.</summary>
    public IReadOnlyList<ServiceUse> Due(IReadOnlyList<ServiceUse> uses)
    {
        ArgumentNullException.ThrowIfNull(uses);
        var now = time.GetUtcNow();
        var due = new List<ServiceUse>();
        var batch = new HashSet<(string, string, string, int?, string)>();
        lock (_gate)
        {
            foreach (var use in uses)
            {
                if (!batch.Add((use.Service, use.Credential, use.What, use.Version, use.Outcome))) continue;
                if (!_recorded.TryGetValue((use.Service, use.Credential, use.What), out var last)
                    || last.Version != use.Version || last.Outcome != use.Outcome || now - last.At >= Period || now < last.At)
                    due.Add(use);
            }
        }
        return due;
    }

    /// <summary>Notes <paramref name="uses"/> as written to the audit log now.</summary>
    public void Recorded(IEnumerable<ServiceUse> uses)
    {
        ArgumentNullException.ThrowIfNull(uses);
        var now = time.GetUtcNow();
        lock (_gate)
            foreach (var use in uses)
                _recorded[(use.Service, use.Credential, use.What)] = (use.Version, use.Outcome, now);
    }
}
