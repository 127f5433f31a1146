namespace Keyward.Engine.Checks;

/// <summary>
/// What a long-running checker (<c>keyward serve</c>) keeps of the sinks' and caches' condition history between runs:
/// <c>conditions.json</c> as it last read it, bytes and parse. A run still reads the file every time (comparing it with the
/// kept bytes as it reads), and takes the kept parse only when the file holds exactly the kept bytes; any other file — one
/// this process wrote since, one edited by hand, one another replica wrote — is parsed afresh and kept instead. So the
/// answer is always the file's, as a run without the cache would parse it; only the parse is saved.
/// Shared by the runs of one process, one at a time or not (a lock guards the one entry).
/// </summary>
public sealed class ConditionHistoryCache
{
    private readonly Lock _gate = new();
    private ConditionFile? _file;

    /// <summary>The kept parse when the file at <paramref name="path"/> holds exactly the kept bytes, compared while reading
    /// through one small buffer (no copy of a multi-megabyte file made just to find it unchanged); null otherwise (the caller
    /// then reads and parses the file). Reads through one open handle: a file replaced meanwhile is compared as it was when
    /// opened, as a whole read of it would have been.</summary>
    internal async Task<ConditionFile?> LookupAsync(string path, CancellationToken cancellationToken)
    {
        ConditionFile? kept;
        lock (_gate) kept = _file;
        if (kept is null) return null;
        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1, FileOptions.SequentialScan);
            if (stream.Length != kept.Bytes.Length) return null;
            var at = 0;
            while (true)
            {
                var n = await stream.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
                if (n == 0) break;
                if (at + n > kept.Bytes.Length || !buffer.AsSpan(0, n).SequenceEqual(kept.Bytes.AsSpan(at, n))) return null;
                at += n;
            }
            if (at != kept.Bytes.Length) return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }
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
