namespace Keyward.Core.Store;

/// <summary>The store state the graph, the planner and the due policy read: every version's metadata and the token
/// ledger, never a value. A snapshot: read once, then asked many times.</summary>
public sealed record StoreFacts(IReadOnlyList<CredentialVersion> Versions, IReadOnlyList<LedgerEntry> Ledger)
{
    public static readonly StoreFacts Empty = new([], []);

    private Dictionary<string, CredentialVersion>? _active;

    public CredentialVersion? Active(string name)
    {
        _active ??= ActiveByName(Versions);
        return _active.GetValueOrDefault(name);
    }

    /// <summary>Each name's newest active version (one pass, one lookup per version: apply asks this for 10,000 names).</summary>
    private static Dictionary<string, CredentialVersion> ActiveByName(IReadOnlyList<CredentialVersion> versions)
    {
        var active = new Dictionary<string, CredentialVersion>(StringComparer.Ordinal);
        foreach (var v in versions)
        {
            if (v.State != VersionState.Active) continue;
            ref var slot = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(active, v.Name, out var exists);
            if (!exists || v.Version > slot!.Version) slot = v;
        }
        return active;
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
