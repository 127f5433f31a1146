using System.Collections.Concurrent;
using Keyward.Engine.Checks;
using Keyward.Services;
using Keyward.Core.Store;

namespace Keyward.Server.Controller;

/// <summary>What the last pass saw, for metrics and the API: the active versions, every check report, sinks still
/// drifted after the pass, and what went wrong. Replaced whole at the end of a pass (readers never see half of one).</summary>
public sealed record ControllerSnapshot(
    DateTimeOffset At,
    IReadOnlyList<CredentialVersion> Active,
    IReadOnlyList<CheckReport> Reports,
    IReadOnlyList<string> Problems)
{
    public static ControllerSnapshot Empty { get; } = new(DateTimeOffset.MinValue, [], [], []);
}

/// <summary>The loop's results and counters, shared (singleton) by the loop, the metrics and the API.</summary>
public sealed class ControllerStatus
{
    private ControllerSnapshot _snapshot = ControllerSnapshot.Empty;
    private long _lastRunUnix;
    private long _passes;
    private long _failedPasses;
    private double _lastDurationSeconds;

    /// <summary>keyward_rotation_total: (credential, result) → count since start.</summary>
    public ConcurrentDictionary<(string Credential, string Result), long> Rotations { get; } = new();

    /// <summary>keyward_sink_repairs_total: sink → times the loop rewrote it because it differed from the store.</summary>
    public ConcurrentDictionary<string, long> SinkRepairs { get; } = new(StringComparer.Ordinal);

    public ControllerSnapshot Snapshot => Volatile.Read(ref _snapshot);

    /// <summary>When the last pass finished (null before the first).</summary>
    public DateTimeOffset? LastRun
    {
        get
        {
            var s = Interlocked.Read(ref _lastRunUnix);
            return s == 0 ? null : DateTimeOffset.FromUnixTimeMilliseconds(s);
        }
    }

    public long Passes => Interlocked.Read(ref _passes);

    public long FailedPasses => Interlocked.Read(ref _failedPasses);

    public double LastDurationSeconds => Volatile.Read(ref _lastDurationSeconds);

    /// <summary>Of the last pass: the part under the state lock (rotation, apply, reconcile) and the checks.</summary>
    public (TimeSpan WriteSteps, TimeSpan Checks) LastSplit { get; set; }

    /// <summary>Of the last pass: sinks whose check used apply's inspection, proved unchanged by one lstat.</summary>
    public int LastSinksReused { get; set; }

    /// <summary>Set once at start-up: the back-off of the loop's steps (for /readyz and the metrics).</summary>
    public StepBackoff? Backoff { get; set; }

    public void CountRotation(string credential, string result) => Rotations.AddOrUpdate((credential, result), 1, (_, n) => n + 1);

    public void Publish(ControllerSnapshot snapshot, TimeSpan duration, bool failed)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        Volatile.Write(ref _snapshot, snapshot);
        Volatile.Write(ref _lastDurationSeconds, duration.TotalSeconds);
        Interlocked.Exchange(ref _lastRunUnix, Math.Max(1, snapshot.At.ToUnixTimeMilliseconds()));
        Interlocked.Increment(ref _passes);
        if (failed) Interlocked.Increment(ref _failedPasses);
    }
}
