using Keyward.Core.Rotation;
using Keyward.Store.Contract;

namespace Keyward.Engine.Rotation;

/// <summary>Maps the store's version list and ledger to the planner's <see cref="StoreFacts"/> (two queries).</summary>
public static class StoreFactsReader
{
    public static async Task<StoreFacts> ReadAsync(ICredentialStore store, CancellationToken ct) =>
        await ReadAsync(store, await store.ListVersionsAsync(ct).ConfigureAwait(false), ct).ConfigureAwait(false);

    /// <summary>The same, from a version list the caller has already read (apply reads it once for everything).</summary>
    public static async Task<StoreFacts> ReadAsync(ICredentialStore store, IReadOnlyList<CredentialVersion> versions, CancellationToken ct)
    {
        var ledger = await store.ListLedgerAsync(ct).ConfigureAwait(false);
        return new StoreFacts(
            versions.Select(v => new VersionFact(v.Name, v.Version, Map(v.State), v.CreatedAt, v.ExpiresAt, v.Fingerprint, v.Metadata)).ToList(),
            ledger.Select(t => new TokenFact(t.TokenId, t.Credential, t.Version, t.Subject, t.ExpiresAt, t.SignedBy, t.SignedByVersion, t.RevokedAt)).ToList());
    }

    private static FactState Map(VersionState s) => s switch
    {
        VersionState.Staged => FactState.Staged,
        VersionState.Active => FactState.Active,
        VersionState.Previous => FactState.Previous,
        _ => FactState.Retired,
    };
}
