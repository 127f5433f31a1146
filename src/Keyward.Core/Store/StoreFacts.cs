namespace Keyward.Core.Store;

/// <summary>The store state the graph, the planner and the due policy read: every version's metadata and the token
/// ledger, never a value. A snapshot: read once, then asked many times.</summary>
public sealed record StoreFacts(IReadOnlyList<CredentialVersion> Versions, IReadOnlyList<LedgerEntry> Ledger)
{
    public static readonly StoreFacts Empty = new([], []);

    private Dictionary<string, CredentialVersion>? _active;

    public CredentialVersion? Active(string name)
    {
        _active ??= Versions.Where(v => v.State == VersionState.Active)
            .GroupBy(v => v.Name, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.MaxBy(v => v.Version)!, StringComparer.Ordinal);
        return _active.GetValueOrDefault(name);
    }

    /// <summary>Reads the version list and the ledger (two queries).</summary>
    public static async Task<StoreFacts> ReadAsync(ICredentialStore store, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(store);
        return await ReadAsync(store, await store.ListVersionsAsync(ct).ConfigureAwait(false), ct).ConfigureAwait(false);
    }

    /// <summary>The same, from a version list the caller has already read (apply reads it once for everything).</summary>
    public static async Task<StoreFacts> ReadAsync(ITokenLedger store, IReadOnlyList<CredentialVersion> versions, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(store);
        return new StoreFacts(versions, await store.ListLedgerAsync(ct).ConfigureAwait(false));
    }
}
