using System.Globalization;
using System.Security.Cryptography;
using Keyward.Core.Errors;
using Keyward.Core.Secrets;
using Keyward.Store.Audit;
using Keyward.Core.Store;
using Keyward.Store.Encryption;

namespace Keyward.Store.Memory;

/// <summary>
/// The rows of an in-memory store — what a database file holds for SQLite — kept in this process only. Several
/// <see cref="MemoryCredentialStore"/> instances may open one database (the way a store is closed and opened again).
/// Values are encrypted with the same keys and associated data as the persistent stores, and the audit log is the same
/// hash chain, so everything the shared contract suite asks of SQLite and PostgreSQL holds here too.
/// Nothing is ever written to disk; the data key lives in this object and dies with it.
/// </summary>
public sealed class MemoryDatabase : IDisposable
{
    internal object Gate { get; } = new();

    internal MemoryRows Rows { get; set; } = new();

    /// <summary>The instance holding a transaction open, if any (writes of the others wait for nothing: they fail).</summary>
    internal MemoryCredentialStore? Writer { get; set; }

    internal string StoreId { get; } = "memory-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));

    internal Secret DataKey { get; } = Secret.Random(StoreKeys.DataKeyLength);

    /// <summary>A store over these rows.</summary>
    public MemoryCredentialStore Open() => new(this);

    // ---------------------------------------------------------------- past the store
    // What someone who can write the rows but has no key could do: the contract suite's tampering tests.

    /// <summary>The raw nonce and ciphertext of one version.</summary>
    public (byte[] Nonce, byte[] Ciphertext) ReadCiphertext(string name, int version)
    {
        lock (Gate)
        {
            var row = Rows.Versions.Single(v => v.Name == name && v.Version == version);
            return (row.Nonce.ToArray(), row.Ciphertext.ToArray());
        }
    }

    /// <summary>Overwrites one version's nonce and ciphertext.</summary>
    public void WriteCiphertext(string name, int version, byte[] nonce, byte[] ciphertext)
    {
        lock (Gate)
        {
            var i = Rows.Versions.FindIndex(v => v.Name == name && v.Version == version);
            if (i < 0) throw new ArgumentException($"no version {version} of '{name}'", nameof(version));
            Rows.Versions[i] = Rows.Versions[i] with { Nonce = nonce.ToArray(), Ciphertext = ciphertext.ToArray() };
        }
    }

    /// <summary>Rewrites the event of audit row <paramref name="sequence"/>, leaving its hashes as they were.</summary>
    public void EditAudit(long sequence, Func<AuditEvent, AuditEvent> edit)
    {
        ArgumentNullException.ThrowIfNull(edit);
        lock (Gate)
        {
            var i = Rows.Audit.FindIndex(r => r.Sequence == sequence);
            if (i < 0) throw new ArgumentException($"no audit row {sequence}", nameof(sequence));
            Rows.Audit[i] = Rows.Audit[i] with { Event = edit(Rows.Audit[i].Event) };
        }
    }

    /// <summary>Deletes the audit rows <paramref name="which"/> selects (by sequence), leaving the chain head as it was.</summary>
    public void DeleteAudit(Func<long, bool> which)
    {
        ArgumentNullException.ThrowIfNull(which);
        lock (Gate) Rows.Audit.RemoveAll(r => which(r.Sequence));
    }

    public void Dispose() => DataKey.Dispose();
}

/// <summary>One version as stored: metadata plus the encrypted value.</summary>
internal sealed record VersionRow(string Name, int Version, string Kind, VersionState State, DateTimeOffset Created, DateTimeOffset? Expires,
    string Origin, SortedDictionary<string, string> Metadata, string Fingerprint, byte[] Nonce, byte[] Ciphertext)
{
    public CredentialVersion ToVersion() => new(Name, Version, Kind, State, Created, Expires, Fingerprint, Origin, Metadata);
}

internal sealed record JournalRow(long Id, string Operation, string Status, string Intent, DateTimeOffset Started, List<JournalStep> Steps);

/// <summary>Every table of the store. Rows are immutable records, so a copy of the lists is a snapshot.</summary>
internal sealed class MemoryRows
{
    public List<VersionRow> Versions { get; private init; } = [];
    public List<LedgerEntry> Ledger { get; private init; } = [];
    public List<AuditRecord> Audit { get; private init; } = [];
    public string? AuditHead { get; set; }
    public SortedDictionary<string, SinkRecord> Sinks { get; private init; } = new(StringComparer.Ordinal);
    public List<JournalRow> Journals { get; private init; } = [];
    public long LastJournalId { get; set; }

    public MemoryRows Clone() => new()
    {
        Versions = [.. Versions],
        Ledger = [.. Ledger],
        Audit = [.. Audit],
        AuditHead = AuditHead,
        Sinks = new(Sinks, StringComparer.Ordinal),
        Journals = [.. Journals.Select(j => j with { Steps = [.. j.Steps] })],
        LastJournalId = LastJournalId,
    };
}

/// <summary>
/// The in-memory store: the whole store contract with nothing on disk — for tests of the layers above the store, and for
/// embedding where nothing may persist. It behaves as the SQLite store does: values encrypted under the store's key and
/// bound to their store, name and version; a hash-chained audit log with its MAC'd head; transactions that commit
/// together or roll back entirely; journal calls that commit one by one and refuse to run inside a transaction. Every
/// write outside a transaction is atomic (it is applied to a copy of the rows, which replaces them only on success).
/// Two instances over one <see cref="MemoryDatabase"/> share committed rows; while one holds a transaction, the other's
/// writes fail (SQLite would make them wait).
/// </summary>
public class MemoryCredentialStore : ICredentialStore
{
    private readonly MemoryDatabase _db;
    private readonly StoreKeys _keys;
    private MemoryRows? _transaction;
    private bool _disposed;

    /// <summary>A store over a new, empty database of its own.</summary>
    public MemoryCredentialStore() : this(new MemoryDatabase())
    {
    }

    public MemoryCredentialStore(MemoryDatabase database)
    {
        ArgumentNullException.ThrowIfNull(database);
        _db = database;
        _keys = new StoreKeys(database.DataKey, database.StoreId);
    }

    public MemoryDatabase Database => _db;

    public string StoreId => _db.StoreId;

    public string Fingerprint(ReadOnlySpan<byte> value) => _keys.Fingerprint(value);

    /// <summary>The audit events committed (or written in this instance's open transaction), oldest first.</summary>
    public IReadOnlyList<AuditEvent> AuditEvents
    {
        get
        {
            lock (_db.Gate) return [.. Rows.Audit.Select(r => r.Event)];
        }
    }

    private MemoryRows Rows => _transaction ?? _db.Rows;

    // ---------------------------------------------------------------- calls

    private Task<T> Read<T>(Func<MemoryRows, T> work)
    {
        try
        {
            lock (_db.Gate)
            {
                ObjectDisposedException.ThrowIf(_disposed, this);
                return Task.FromResult(work(Rows));
            }
        }
        catch (Exception e)
        {
            return Task.FromException<T>(e);
        }
    }

    /// <summary>Runs <paramref name="work"/> in the open transaction, or on a copy of the rows that replaces them when it
    /// succeeds. <paramref name="durable"/> calls must commit before returning, so they refuse to join a transaction.</summary>
    private Task<T> Write<T>(Func<MemoryRows, T> work, bool durable = false)
    {
        try
        {
            lock (_db.Gate)
            {
                ObjectDisposedException.ThrowIf(_disposed, this);
                if (_transaction is not null)
                {
                    if (durable) throw new InvalidOperationException("journal writes are committed one by one and cannot run inside a store transaction");
                    return Task.FromResult(work(_transaction));
                }
                if (_db.Writer is not null) throw new InvalidOperationException("another instance holds a transaction open on this in-memory database");
                var copy = _db.Rows.Clone();
                var result = work(copy);
                _db.Rows = copy;
                return Task.FromResult(result);
            }
        }
        catch (Exception e)
        {
            return Task.FromException<T>(e);
        }
    }

    private Task Write(Action<MemoryRows> work, bool durable = false) => Write(rows => { work(rows); return true; }, durable);

    // ---------------------------------------------------------------- transactions

    public Task<IStoreTransaction> BeginAsync(CancellationToken cancellationToken)
    {
        try
        {
            lock (_db.Gate)
            {
                ObjectDisposedException.ThrowIf(_disposed, this);
                if (_transaction is not null) throw new InvalidOperationException("a store transaction is already open; store transactions do not nest");
                if (_db.Writer is not null) throw new InvalidOperationException("another instance holds a transaction open on this in-memory database");
                _transaction = _db.Rows.Clone();
                _db.Writer = this;
                return Task.FromResult<IStoreTransaction>(new Transaction(this));
            }
        }
        catch (Exception e)
        {
            return Task.FromException<IStoreTransaction>(e);
        }
    }

    private sealed class Transaction(MemoryCredentialStore owner) : IStoreTransaction
    {
        private bool _done;

        public Task CommitAsync(CancellationToken cancellationToken)
        {
            lock (owner._db.Gate)
            {
                ObjectDisposedException.ThrowIf(_done, this);
                owner._db.Rows = owner._transaction!;
                Finish();
            }
            return Task.CompletedTask;
        }

        public ValueTask DisposeAsync()
        {
            lock (owner._db.Gate)
            {
                if (!_done) Finish(); // rolled back: the copy is dropped
            }
            return ValueTask.CompletedTask;
        }

        private void Finish()
        {
            _done = true;
            owner._transaction = null;
            owner._db.Writer = null;
        }
    }

    // ---------------------------------------------------------------- versions

    private static IReadOnlyList<CredentialVersion> Sorted(IEnumerable<VersionRow> rows) =>
        [.. rows.OrderBy(v => v.Name, StringComparer.Ordinal).ThenBy(v => v.Version).Select(v => v.ToVersion())];

    public Task<IReadOnlyList<CredentialVersion>> ListVersionsAsync(CancellationToken cancellationToken) => Read(rows => Sorted(rows.Versions));

    public Task<IReadOnlyList<CredentialVersion>> GetVersionsAsync(string name, CancellationToken cancellationToken) =>
        Read(rows => Sorted(rows.Versions.Where(v => v.Name == name)));

    public Task<CredentialVersion?> GetActiveAsync(string name, CancellationToken cancellationToken) =>
        Read(rows => rows.Versions.FirstOrDefault(v => v.Name == name && v.State == VersionState.Active)?.ToVersion());

    public Task<Secret> RevealAsync(string name, int version, CancellationToken cancellationToken) =>
        Read(rows => Decrypt(Find(rows, name, version)));

    public Task<IReadOnlyDictionary<string, Secret>> RevealActiveAsync(IEnumerable<string> names, CancellationToken cancellationToken)
    {
        var wanted = names.ToHashSet(StringComparer.Ordinal);
        return Read<IReadOnlyDictionary<string, Secret>>(rows =>
        {
            var result = new Dictionary<string, Secret>(StringComparer.Ordinal);
            try
            {
                foreach (var row in rows.Versions.Where(v => v.State == VersionState.Active && wanted.Contains(v.Name)))
                    result[row.Name] = Decrypt(row);
            }
            catch
            {
                foreach (var value in result.Values) value.Dispose();
                throw;
            }
            return result;
        });
    }

    private static VersionRow Find(MemoryRows rows, string name, int version) =>
        rows.Versions.FirstOrDefault(v => v.Name == name && v.Version == version)
        ?? throw ErrorCodes.StoreVersionMissing.Exception($"credential '{name}' has no version {version} in the store");

    private Secret Decrypt(VersionRow row) =>
        _keys.Decrypt(row.Name, row.Version, row.Nonce, row.Ciphertext)
        ?? throw ErrorCodes.StoreTampered.Exception($"version {row.Version} of '{row.Name}' does not authenticate under this store's key (altered, or copied from another row or store)");

    public Task<CredentialVersion> PutAsync(NewVersion version, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(version);
        ArgumentException.ThrowIfNullOrWhiteSpace(version.Name);
        ArgumentException.ThrowIfNullOrWhiteSpace(version.Kind);
        return Write(rows =>
        {
            var number = rows.Versions.Where(v => v.Name == version.Name).Select(v => v.Version).DefaultIfEmpty(0).Max() + 1;
            if (version.State == VersionState.Active) Demote(rows, version.Name, number);
            var value = version.Value.Reveal();
            var (nonce, ciphertext) = _keys.Encrypt(version.Name, number, value);
            var row = new VersionRow(version.Name, number, version.Kind, version.State, version.CreatedAt, version.ExpiresAt, version.Origin,
                new SortedDictionary<string, string>(version.Metadata.ToDictionary(), StringComparer.Ordinal), _keys.Fingerprint(value), nonce, ciphertext);
            rows.Versions.Add(row);
            return row.ToVersion();
        });
    }

    /// <summary>Before <paramref name="except"/> becomes active: the old Previous is retired, the old Active becomes Previous.</summary>
    private static void Demote(MemoryRows rows, string name, int except)
    {
        for (var i = 0; i < rows.Versions.Count; i++)
        {
            var v = rows.Versions[i];
            if (v.Name != name || v.Version == except) continue;
            if (v.State == VersionState.Previous) rows.Versions[i] = v with { State = VersionState.Retired };
            else if (v.State == VersionState.Active) rows.Versions[i] = v with { State = VersionState.Previous };
        }
    }

    public Task SetStateAsync(string name, int version, VersionState state, CancellationToken cancellationToken) =>
        Write(rows =>
        {
            var row = Find(rows, name, version);
            if (row.State == state) return;
            if (state == VersionState.Active) Demote(rows, name, version);
            var i = rows.Versions.FindIndex(v => v.Name == name && v.Version == version);
            rows.Versions[i] = rows.Versions[i] with { State = state };
        });

    public Task SetMetadataAsync(string name, int version, IReadOnlyDictionary<string, string> metadata, DateTimeOffset? expiresAt, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        var sorted = new SortedDictionary<string, string>(metadata.ToDictionary(), StringComparer.Ordinal);
        return Write(rows =>
        {
            var row = Find(rows, name, version);
            rows.Versions[rows.Versions.IndexOf(row)] = row with { Metadata = sorted, Expires = expiresAt };
        });
    }

    // ---------------------------------------------------------------- ledger

    public Task RecordTokenAsync(LedgerEntry entry, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(entry);
        return Write(rows =>
        {
            if (rows.Ledger.Any(t => t.TokenId == entry.TokenId))
                throw ErrorCodes.StoreDuplicateToken.Exception($"token id '{entry.TokenId}' is already in the ledger");
            rows.Ledger.Add(entry);
        });
    }

    public Task<IReadOnlyList<LedgerEntry>> ListLedgerAsync(CancellationToken cancellationToken) =>
        Read<IReadOnlyList<LedgerEntry>>(rows => [.. rows.Ledger.OrderBy(t => t.IssuedAt).ThenBy(t => t.TokenId, StringComparer.Ordinal)]);

    public Task RevokeTokenAsync(string tokenId, DateTimeOffset at, CancellationToken cancellationToken) =>
        Write(rows =>
        {
            var i = rows.Ledger.FindIndex(t => t.TokenId == tokenId);
            if (i < 0) throw ErrorCodes.StoreTokenMissing.Exception($"token id '{tokenId}' is not in the ledger");
            // The first revocation time stands; revoking again is a no-op.
            if (rows.Ledger[i].RevokedAt is null) rows.Ledger[i] = rows.Ledger[i] with { RevokedAt = at };
        });

    // ---------------------------------------------------------------- audit

    public Task AppendAuditAsync(AuditEvent auditEvent, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(auditEvent);
        ArgumentException.ThrowIfNullOrWhiteSpace(auditEvent.Actor);
        ArgumentException.ThrowIfNullOrWhiteSpace(auditEvent.Action);
        return Write(rows =>
        {
            // The chain continues from the head (not from the last row), so a deleted newest row leaves a visible gap.
            var head = AuditHead.TryParse(rows.AuditHead) ?? AuditHead.Empty(_keys.AuditKey);
            var sequence = head.Sequence + 1;
            var hash = AuditChain.Hash(_keys.AuditKey, head.Hash, sequence, auditEvent);
            rows.Audit.Add(new AuditRecord(sequence, auditEvent, head.Hash, hash));
            rows.AuditHead = AuditHead.Create(_keys.AuditKey, sequence, hash).ToString();
        });
    }

    public Task<IReadOnlyList<AuditRecord>> ReadAuditAsync(DateTimeOffset? since, CancellationToken cancellationToken) =>
        Read<IReadOnlyList<AuditRecord>>(rows => [.. rows.Audit.Where(r => since is null || r.Event.At >= since).OrderBy(r => r.Sequence)]);

    public Task<IReadOnlyList<string>> VerifyAuditAsync(CancellationToken cancellationToken) =>
        Read<IReadOnlyList<string>>(rows =>
            AuditVerifier.Verify(_keys.AuditKey, [.. rows.Audit.OrderBy(r => r.Sequence)], rows.AuditHead, rows.Versions.Count));

    // ---------------------------------------------------------------- sinks

    public Task<IReadOnlyList<SinkRecord>> ListSinksAsync(CancellationToken cancellationToken) =>
        Read<IReadOnlyList<SinkRecord>>(rows => [.. rows.Sinks.Values]);

    public Task PutSinkAsync(SinkRecord sink, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(sink);
        return Write(rows => { rows.Sinks[sink.Name] = sink; });
    }

    // ---------------------------------------------------------------- journals

    public Task<long> BeginJournalAsync(string operation, string intent, DateTimeOffset at, CancellationToken cancellationToken) =>
        Write(rows =>
        {
            var id = ++rows.LastJournalId;
            rows.Journals.Add(new JournalRow(id, operation, JournalStatuses.Open, intent, at, []));
            return id;
        }, durable: true);

    public Task AppendJournalStepAsync(long journalId, string kind, string target, string status, string? data, DateTimeOffset at, CancellationToken cancellationToken) =>
        Write(rows =>
        {
            var journal = OpenJournal(rows, journalId);
            journal.Steps.Add(new JournalStep(journalId, journal.Steps.Count + 1, kind, target, status, data, at));
        }, durable: true);

    public Task SetJournalStatusAsync(long journalId, string status, CancellationToken cancellationToken) =>
        Write(rows =>
        {
            var journal = OpenJournal(rows, journalId);
            rows.Journals[rows.Journals.IndexOf(journal)] = journal with { Status = status };
        }, durable: true);

    private static JournalRow OpenJournal(MemoryRows rows, long journalId)
    {
        var journal = rows.Journals.FirstOrDefault(j => j.Id == journalId)
            ?? throw ErrorCodes.StoreJournalMissing.Exception(string.Create(CultureInfo.InvariantCulture, $"journal {journalId} does not exist"));
        if (journal.Status is JournalStatuses.Committed or JournalStatuses.Aborted)
            throw ErrorCodes.StoreJournalMissing.Exception(string.Create(CultureInfo.InvariantCulture, $"journal {journalId} is already {journal.Status}"));
        return journal;
    }

    public Task<IReadOnlyList<JournalRecord>> OpenJournalsAsync(CancellationToken cancellationToken) =>
        Read<IReadOnlyList<JournalRecord>>(rows =>
        [
            .. rows.Journals.Where(j => j.Status is not (JournalStatuses.Committed or JournalStatuses.Aborted)).OrderBy(j => j.Id)
                .Select(j => new JournalRecord(j.Id, j.Operation, j.Status, j.Intent, j.Started, [.. j.Steps])),
        ]);

    // ---------------------------------------------------------------- lifetime

    public ValueTask DisposeAsync()
    {
        lock (_db.Gate)
        {
            if (_disposed) return ValueTask.CompletedTask;
            _disposed = true;
            if (_transaction is not null)
            {
                _transaction = null;
                _db.Writer = null;
            }
            _keys.Dispose();
        }
        GC.SuppressFinalize(this);
        return ValueTask.CompletedTask;
    }
}
