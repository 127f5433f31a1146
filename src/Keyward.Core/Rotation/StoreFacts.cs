namespace Keyward.Core.Rotation;

/// <summary>Version lifecycle as the planner sees it (mirrors the store's VersionState; Core cannot reference the store).</summary>
public enum FactState
{
    Staged,
    Active,
    Previous,
    Retired,
}

/// <summary>What the store knows about one version: metadata, never the value.</summary>
public sealed record VersionFact(
    string Name,
    int Version,
    FactState State,
    DateTimeOffset CreatedAt,
    DateTimeOffset? ExpiresAt,
    string Fingerprint,
    IReadOnlyDictionary<string, string> Metadata);

/// <summary>One minted token from the ledger: which signer version signed it.</summary>
public sealed record TokenFact(
    string TokenId,
    string Credential,
    int Version,
    string Subject,
    DateTimeOffset ExpiresAt,
    string SignedBy,
    int SignedByVersion,
    DateTimeOffset? RevokedAt);

/// <summary>The store state the graph and the planner read (the engine maps the store's records to these).</summary>
public sealed record StoreFacts(IReadOnlyList<VersionFact> Versions, IReadOnlyList<TokenFact> Ledger)
{
    public static readonly StoreFacts Empty = new([], []);

    private Dictionary<string, VersionFact>? _active;

    public VersionFact? Active(string name)
    {
        _active ??= Versions.Where(v => v.State == FactState.Active)
            .GroupBy(v => v.Name, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.MaxBy(v => v.Version)!, StringComparer.Ordinal);
        return _active.GetValueOrDefault(name);
    }
}
