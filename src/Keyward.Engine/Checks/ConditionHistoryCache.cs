namespace Keyward.Engine.Checks;

/// <summary>
/// What a long-running checker (<c>keyward serve</c>) keeps of the sinks' and caches' condition history between runs:
/// <c>conditions.json</c> as it last read it, bytes and parse. A run still reads the file every time (one read of a few
/// megabytes), and takes the kept parse only when the bytes it read now are exactly the kept ones; any other file — one
/// this process wrote since, one edited by hand, one another replica wrote — is parsed afresh and kept instead. So the
/// answer is always the file's, as a run without the cache would parse it; only the parse is saved.
/// Shared by the runs of one process, one at a time or not (a lock guards the one entry).
/// </summary>
public sealed class ConditionHistoryCache
{
    private readonly Lock _gate = new();
    private ConditionFile? _file;

    /// <summary>The parse of <paramref name="bytes"/> kept from an earlier run, or null when the kept file is another.</summary>
    internal ConditionFile? Lookup(ReadOnlySpan<byte> bytes)
    {
        ConditionFile? kept;
        lock (_gate) kept = _file;
        if (kept is null || !bytes.SequenceEqual(kept.Bytes)) return null;
        Interlocked.Increment(ref _reused);
        return kept;
    }

    internal void Keep(ConditionFile file)
    {
        lock (_gate) _file = file;
    }

    private int _reused;

    /// <summary>How many runs took the kept parse instead of parsing the file.</summary>
    public int Reused => Volatile.Read(ref _reused);
}

/// <summary>One parse of <c>conditions.json</c>: each subject's memory, and the texts stored (subject, then condition type),
/// which saving compares with. Never changed once made (shared between runs through <see cref="ConditionHistoryCache"/>).</summary>
internal sealed record ConditionFile(byte[] Bytes,
    IReadOnlyDictionary<string, IReadOnlyDictionary<string, ConditionMemory>> Memory,
    IReadOnlyDictionary<string, Dictionary<string, (string? Status, string? Transition, string? LastTrue)>> Raw);
