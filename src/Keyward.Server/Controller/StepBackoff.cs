namespace Keyward.Server.Controller;

/// <summary>
/// Per-step back-off of the loop (one key per service, "apply", "rotation"): after a failure the step is skipped until
/// <c>base × 2^(failures-1)</c> (capped) has passed on the server's clock; a success clears it. Other steps go on.
/// </summary>
public sealed class StepBackoff(TimeProvider time, TimeSpan initial, TimeSpan cap)
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, (int Failures, DateTimeOffset Until, string Reason)> _state = new(StringComparer.Ordinal);

    public bool Ready(string key)
    {
        lock (_gate) return !_state.TryGetValue(key, out var s) || time.GetUtcNow() >= s.Until;
    }

    public DateTimeOffset Failed(string key, string reason)
    {
        lock (_gate)
        {
            var failures = _state.TryGetValue(key, out var s) ? s.Failures + 1 : 1;
            var ticks = Math.Min(cap.Ticks, initial.Ticks * (long)Math.Pow(2, Math.Min(failures - 1, 30)));
            var until = time.GetUtcNow() + TimeSpan.FromTicks(Math.Max(ticks, 0));
            _state[key] = (failures, until, reason);
            return until;
        }
    }

    public void Succeeded(string key)
    {
        lock (_gate) _state.Remove(key);
    }

    /// <summary>Steps that failed and are (or were) waiting: key, consecutive failures, retry time, last reason.</summary>
    public IReadOnlyList<(string Key, int Failures, DateTimeOffset Until, string Reason)> Snapshot()
    {
        lock (_gate) return _state.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => (p.Key, p.Value.Failures, p.Value.Until, p.Value.Reason)).ToArray();
    }
}
