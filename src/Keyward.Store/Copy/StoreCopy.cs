using System.Globalization;
using Keyward.Core.Errors;
using Keyward.Core.Store;
using Keyward.Store.Contract;
using Keyward.Store.Encryption;
using Keyward.Store.Postgres;
using Keyward.Store.Sqlite;

namespace Keyward.Store.Copy;

/// <summary>What <c>keyward store copy</c> copied, and what the audit verify of the target found (empty: intact).</summary>
public sealed record StoreCopyResult(string StoreId, int Credentials, int Versions, int LedgerEntries, int AuditEntries, int Sinks, int Journals,
    IReadOnlyList<string> AuditProblems);

/// <summary>
/// Moves a store between the embedded SQLite file and PostgreSQL, either way. The target keeps the source's store id
/// and data key (wrapped to the same recipients): the associated data of every value, every keyed fingerprint (sink
/// records, ledger, audit) and every audit hash are bound to them, so keeping them is what lets the audit chain arrive
/// intact — re-keying would mean recomputing the chain, i.e. forging the history it exists to protect. The copy goes
/// through the store contract: every value is decrypted (and so authenticated) from the source and re-encrypted with a
/// fresh nonce into the target; every audit event is re-appended and must reproduce the source's hash. Both sides are
/// held under their writer locks. After a copy, use one of the two and retire the other: two live stores with one id
/// would diverge.
/// </summary>
public static class StoreCopy
{
    /// <summary><c>--from STATE_DIR --to CONN</c>: the SQLite store of <paramref name="stateDirectory"/> into an empty PostgreSQL database;
    /// the identity stays in <paramref name="stateDirectory"/>, which then serves as the replica's <c>--state</c>.</summary>
    public static Task<StoreCopyResult> ToPostgresAsync(string stateDirectory, PostgresConnection target, StateLockOptions lockOptions, TimeProvider time, CancellationToken ct) =>
        ToPostgresAsync(stateDirectory, target, lockOptions, time, AgeDataKeyWrap.Instance, ct);

    /// <summary><c>--from CONN --to STATE_DIR</c>: a PostgreSQL store (unlocked with the identity in <paramref name="identityDirectory"/>)
    /// into a new SQLite store in <paramref name="targetDirectory"/>, which receives a copy of that identity when it has none.</summary>
    public static Task<StoreCopyResult> ToDirectoryAsync(string identityDirectory, PostgresConnection source, string targetDirectory, StateLockOptions lockOptions, TimeProvider time, CancellationToken ct) =>
        ToDirectoryAsync(identityDirectory, source, targetDirectory, lockOptions, time, AgeDataKeyWrap.Instance, ct);

    internal static async Task<StoreCopyResult> ToPostgresAsync(string stateDirectory, PostgresConnection target, StateLockOptions lockOptions, TimeProvider time, IDataKeyWrap wrap, CancellationToken ct)
    {
        await using var from = await StateDirectory.OpenForWriteAsync(stateDirectory, lockOptions, time, wrap, ct).ConfigureAwait(false);
        await using var to = await PostgresState.CreateCopyTargetAsync(stateDirectory, target, from, lockOptions, time, ct).ConfigureAwait(false);
        return await CopyRowsAsync(from.Store, to.Store, ct).ConfigureAwait(false);
    }

    internal static async Task<StoreCopyResult> ToDirectoryAsync(string identityDirectory, PostgresConnection source, string targetDirectory, StateLockOptions lockOptions, TimeProvider time, IDataKeyWrap wrap, CancellationToken ct)
    {
        await using var from = await PostgresState.OpenForWriteAsync(identityDirectory, source, lockOptions, time, wrap, ct).ConfigureAwait(false);
        await using var to = await CreateDirectoryTargetAsync(targetDirectory, from, lockOptions, time, ct).ConfigureAwait(false);
        return await CopyRowsAsync(from.Store, to.Store, ct).ConfigureAwait(false);
    }

    /// <summary>A new SQLite store in <paramref name="dir"/> with the source's store id and data key (and its identity, copied, when the directory has none).</summary>
    private static async Task<OpenedState> CreateDirectoryTargetAsync(string dir, OpenedState source, StateLockOptions lockOptions, TimeProvider time, CancellationToken ct)
    {
        var databasePath = Path.Combine(dir, StateDirectory.DatabaseFileName);
        var identityPath = Path.Combine(dir, StateDirectory.IdentityFileName);
        if (File.Exists(databasePath))
            throw ErrorCodes.StoreCopyTargetNotEmpty.Exception($"{databasePath} already exists; `store copy` only fills an empty state directory");
        StateDirectory.PrepareDirectory(dir);
        var held = await StateLock.AcquireAsync(dir, lockOptions, ct).ConfigureAwait(false);
        try
        {
            if (!File.Exists(identityPath))
            {
                StateDirectory.WriteNewFile(identityPath, await File.ReadAllBytesAsync(source.IdentityPath, ct).ConfigureAwait(false));
            }
            var keys = source.KeyedStore.Keys;
            StateDirectory.WriteNewFile(databasePath, []);
            await using (var connection = SqliteDatabase.Open(databasePath, time))
            using (var tx = connection.BeginTransaction(deferred: false))
            {
                SqliteDatabase.WriteMeta(connection, tx, StoreMetaKeys.StoreId, keys.StoreId);
                SqliteDatabase.WriteMeta(connection, tx, StoreMetaKeys.WrappedDataKey, source.Wrap.Wrap(keys.DataKey.Reveal(), source.Recipients));
                SqliteDatabase.WriteMeta(connection, tx, StoreMetaKeys.Recipients, string.Join('\n', source.Recipients));
                SqliteDatabase.WriteMeta(connection, tx, StoreMetaKeys.KeyCheck, keys.KeyCheck);
                SqliteDatabase.WriteMeta(connection, tx, StoreMetaKeys.CreatedAt, StoreTime.Format(time.GetUtcNow()));
                tx.Commit();
            }
            StatePosix.FsyncDirectory(dir);
            var state = await StateDirectory.OpenAsync(dir, null, time, source.Wrap, ct).ConfigureAwait(false);
            state.Hold(held);
            return state;
        }
        catch
        {
            held.Dispose();
            throw;
        }
    }

    /// <summary>Copies every row through the contract into an empty store with the same keys, then verifies the target's audit chain.</summary>
    internal static async Task<StoreCopyResult> CopyRowsAsync(ICredentialStore from, ICredentialStore to, CancellationToken ct)
    {
        if (from.StoreId != to.StoreId) throw new InvalidOperationException("a copy keeps the store id");
        if ((await to.ListVersionsAsync(ct).ConfigureAwait(false)).Count > 0 || (await to.ReadAuditAsync(null, ct).ConfigureAwait(false)).Count > 0)
            throw ErrorCodes.StoreCopyTargetNotEmpty.Exception("the target store already holds credentials or audit entries");

        var versions = await from.ListVersionsAsync(ct).ConfigureAwait(false);
        var ledger = await from.ListLedgerAsync(ct).ConfigureAwait(false);
        var audit = await from.ReadAuditAsync(null, ct).ConfigureAwait(false);
        var sinks = await from.ListSinksAsync(ct).ConfigureAwait(false);
        var journals = await ReadAllJournalsAsync(from, ct).ConfigureAwait(false);

        // Journals first: each call commits on its own and may not run inside the transaction below.
        foreach (var journal in journals)
        {
            var id = await to.BeginJournalAsync(journal.Operation, journal.Intent, journal.StartedAt, ct).ConfigureAwait(false);
            foreach (var step in journal.Steps) await to.AppendJournalStepAsync(id, step.Kind, step.Target, step.Status, step.Data, step.At, ct).ConfigureAwait(false);
            if (journal.Status != JournalStatuses.Open) await to.SetJournalStatusAsync(id, journal.Status, ct).ConfigureAwait(false);
        }

        await using (var tx = await to.BeginAsync(ct).ConfigureAwait(false))
        {
            foreach (var credential in versions.GroupBy(v => v.Name, StringComparer.Ordinal))
            {
                foreach (var v in credential.OrderBy(v => v.Version))
                {
                    using var value = await from.RevealAsync(v.Name, v.Version, ct).ConfigureAwait(false);
                    // Staged first, states after: activating while putting would demote the versions already copied.
                    var put = await to.PutAsync(new NewVersion(v.Name, v.Kind, value, VersionState.Staged, v.CreatedAt, v.ExpiresAt, v.Origin, v.Metadata), ct).ConfigureAwait(false);
                    if (put.Version != v.Version || put.Fingerprint != v.Fingerprint)
                        throw ErrorCodes.StoreCorrupt.Exception(string.Create(CultureInfo.InvariantCulture, $"version {v.Version} of '{v.Name}' did not copy as itself (the source's versions have a gap)"));
                }
                // Active first (nothing to demote yet), then the others, which never demote.
                foreach (var v in credential.OrderBy(v => v.State == VersionState.Active ? 0 : 1))
                    if (v.State != VersionState.Staged) await to.SetStateAsync(v.Name, v.Version, v.State, ct).ConfigureAwait(false);
            }
            foreach (var entry in ledger) await to.RecordTokenAsync(entry, ct).ConfigureAwait(false);
            foreach (var sink in sinks) await to.PutSinkAsync(sink, ct).ConfigureAwait(false);
            foreach (var row in audit) await to.AppendAuditAsync(row.Event, ct).ConfigureAwait(false);
            await tx.CommitAsync(ct).ConfigureAwait(false);
        }

        var problems = new List<string>(await to.VerifyAuditAsync(ct).ConfigureAwait(false));
        var copied = await to.ReadAuditAsync(null, ct).ConfigureAwait(false);
        for (var i = 0; i < Math.Min(audit.Count, copied.Count); i++)
        {
            if (audit[i].Sequence != copied[i].Sequence || audit[i].Hash != copied[i].Hash)
            {
                problems.Add(string.Create(CultureInfo.InvariantCulture, $"audit entry {audit[i].Sequence} did not copy to the same hash"));
                break;
            }
        }
        if (copied.Count != audit.Count) problems.Add(string.Create(CultureInfo.InvariantCulture, $"the source has {audit.Count} audit entries, the target {copied.Count}"));
        return new StoreCopyResult(from.StoreId, versions.Select(v => v.Name).Distinct(StringComparer.Ordinal).Count(), versions.Count, ledger.Count,
            copied.Count, sinks.Count, journals.Count, problems);
    }

    /// <summary>The contract lists open journals only; a copy wants closed ones too, so each backend is asked directly.</summary>
    private static Task<IReadOnlyList<JournalRecord>> ReadAllJournalsAsync(ICredentialStore store, CancellationToken ct) => store switch
    {
        IJournalHistory history => history.AllJournalsAsync(ct),
        _ => store.OpenJournalsAsync(ct),
    };
}

/// <summary>Every journal, closed ones included (for <see cref="StoreCopy"/>).</summary>
internal interface IJournalHistory
{
    Task<IReadOnlyList<JournalRecord>> AllJournalsAsync(CancellationToken cancellationToken);
}
