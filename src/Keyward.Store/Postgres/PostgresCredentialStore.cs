using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Keyward.Core.Errors;
using Keyward.Core.Secrets;
using Keyward.Store.Audit;
using Keyward.Core.Store;
using Keyward.Store.Contract;
using Keyward.Store.Encryption;
using Keyward.Store.Sqlite;
using Npgsql;

namespace Keyward.Store.Postgres;

/// <summary>
/// The store in a PostgreSQL database, for several replicas sharing one store. Same rows, same envelope encryption
/// (<see cref="StoreKeys"/>), same audit chain (<see cref="AuditChain"/>, <see cref="AuditVerifier"/>) as the SQLite
/// store, and the same shape: one unpooled connection per instance, calls serialised on one gate, a transaction from
/// <see cref="BeginAsync"/> joined by every call while it is open, journal calls refusing to run inside it.
/// Every write transaction (and <see cref="BeginAsync"/>) starts with <c>pg_advisory_xact_lock</c> on one per-database
/// key, so writes from any replica are serialised the way SQLite's BEGIN IMMEDIATE serialises writers: version
/// numbers and the audit chain head are read and advanced by one writer at a time.
/// </summary>
internal sealed class PostgresCredentialStore : IKeyedStore, Copy.IJournalHistory
{
    /// <summary>Taken at the start of every write transaction (released at its end).</summary>
    public static readonly long WriteLockKey = PostgresSchema.LockKey("keyward/store/v1 write");

    private readonly NpgsqlDataSource _dataSource;
    private readonly NpgsqlConnection _connection;
    private readonly StoreKeys _keys;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private NpgsqlTransaction? _userTransaction;
    private bool _sealDirty;
    private bool _disposed;

    internal PostgresCredentialStore(NpgsqlDataSource dataSource, NpgsqlConnection connection, StoreKeys keys, PostgresConnection where)
    {
        _dataSource = dataSource;
        _connection = connection;
        _keys = keys;
        Where = where;
    }

    public string StoreId => _keys.StoreId;

    public StoreKeys Keys => _keys;

    public PostgresConnection Where { get; }

    public string Location => Where.Display;

    /// <summary>Releases the writer's session advisory lock (<see cref="PostgresWriterLock"/>) on the store's connection,
    /// which stays open for reading. Called only by a state opened for writing (which holds it).</summary>
    public async Task ReleaseWriterLockAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_userTransaction is not null) throw new InvalidOperationException("the writer lock cannot be released inside a store transaction");
            await using var unlock = new NpgsqlCommand("SELECT pg_advisory_unlock(@k);", _connection);
            unlock.Parameters.AddWithValue("k", PostgresWriterLock.Key);
            await unlock.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (PostgresErrors.IsTranslatable(e))
        {
            throw PostgresErrors.Translate(e, Where.Display);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>The store's own connection (the writer's session advisory lock is taken on it).</summary>
    internal NpgsqlConnection Connection => _connection;

    public string Fingerprint(ReadOnlySpan<byte> value) => _keys.Fingerprint(value);

    // ---------------------------------------------------------------- transactions

    public async Task<IStoreTransaction> BeginAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_userTransaction is not null)
            {
                throw new InvalidOperationException("a store transaction is already open; store transactions do not nest");
            }
            var tx = await _connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                await LockWritesAsync(tx, cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                await tx.DisposeAsync().ConfigureAwait(false);
                throw;
            }
            _userTransaction = tx;
            return new Transaction(this, tx);
        }
        catch (Exception e) when (PostgresErrors.IsTranslatable(e))
        {
            throw PostgresErrors.Translate(e, Location);
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task LockWritesAsync(NpgsqlTransaction tx, CancellationToken ct)
    {
        await using var command = Command("SELECT pg_advisory_xact_lock(@k);", tx, ("k", WriteLockKey));
        await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    private sealed class Transaction(PostgresCredentialStore owner, NpgsqlTransaction inner) : IStoreTransaction
    {
        private bool _done;

        public async Task CommitAsync(CancellationToken cancellationToken)
        {
            ObjectDisposedException.ThrowIf(_done, this);
            await owner._gate.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                await owner.SealIfDirtyAsync(inner, cancellationToken).ConfigureAwait(false);
                await inner.CommitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (PostgresErrors.IsTranslatable(e))
            {
                throw PostgresErrors.Translate(e, owner.Location);
            }
            catch (Exception e) when (IsMalformedRow(e))
            {
                throw owner.Malformed(e);
            }
            finally
            {
                await FinishAsync().ConfigureAwait(false);
                owner._gate.Release();
            }
        }

        public async ValueTask DisposeAsync()
        {
            if (_done) return;
            await owner._gate.WaitAsync().ConfigureAwait(false);
            try
            {
                if (inner.Connection is not null && owner._connection.FullState == System.Data.ConnectionState.Open)
                    await inner.RollbackAsync().ConfigureAwait(false);
            }
            catch (NpgsqlException)
            {
                // a broken connection rolled the transaction back already
            }
            finally
            {
                await FinishAsync().ConfigureAwait(false);
                owner._gate.Release();
            }
        }

        private async Task FinishAsync()
        {
            _done = true;
            await inner.DisposeAsync().ConfigureAwait(false);
            owner._userTransaction = null;
            owner._sealDirty = false;
        }
    }

    private async Task<T> ReadAsync<T>(Func<NpgsqlTransaction?, Task<T>> work, CancellationToken cancellationToken, bool snapshot = false)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_userTransaction is not null || !snapshot) return await work(_userTransaction).ConfigureAwait(false);
            // Reads of several statements that must agree (the audit rows and their head) see one snapshot.
            await using var tx = await _connection.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, cancellationToken).ConfigureAwait(false);
            var result = await work(tx).ConfigureAwait(false);
            await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
            return result;
        }
        catch (Exception e) when (PostgresErrors.IsTranslatable(e))
        {
            throw PostgresErrors.Translate(e, Location);
        }
        catch (Exception e) when (IsMalformedRow(e))
        {
            throw Malformed(e);
        }
        finally
        {
            _gate.Release();
        }
    }

    private static bool IsMalformedRow(Exception e) => e is InvalidCastException or FormatException or JsonException or OverflowException;

    private KeywardException Malformed(Exception e) => new(ErrorCodes.StoreTampered.With(
        $"a row of {Location} has a value of the wrong type or format ({e.GetType().Name}): it was edited outside Keyward",
        "restore the database from a backup and investigate who could write to it"), e);

    /// <summary>Runs <paramref name="work"/> in the open user transaction, or in its own transaction that first takes the
    /// write lock. <paramref name="durable"/> calls must commit before returning, so they refuse to join a user transaction.</summary>
    private async Task<T> WriteAsync<T>(Func<NpgsqlTransaction, Task<T>> work, CancellationToken cancellationToken, bool durable = false)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_userTransaction is not null)
            {
                if (durable)
                {
                    throw new InvalidOperationException("journal writes are committed one by one and cannot run inside a store transaction");
                }
                return await work(_userTransaction).ConfigureAwait(false);
            }
            await using var tx = await _connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            await LockWritesAsync(tx, cancellationToken).ConfigureAwait(false);
            try
            {
                var result = await work(tx).ConfigureAwait(false);
                await SealIfDirtyAsync(tx, cancellationToken).ConfigureAwait(false);
                await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
                return result;
            }
            finally
            {
                _sealDirty = false;
            }
        }
        catch (Exception e) when (PostgresErrors.IsTranslatable(e))
        {
            throw PostgresErrors.Translate(e, Location);
        }
        catch (Exception e) when (IsMalformedRow(e))
        {
            throw Malformed(e);
        }
        finally
        {
            _gate.Release();
        }
    }

    private Task WriteAsync(Func<NpgsqlTransaction, Task> work, CancellationToken cancellationToken, bool durable = false) =>
        WriteAsync(async tx => { await work(tx).ConfigureAwait(false); return true; }, cancellationToken, durable);

    private NpgsqlCommand Command(string sql, NpgsqlTransaction? tx, params ReadOnlySpan<(string Name, object? Value)> parameters)
    {
        var command = new NpgsqlCommand(sql, _connection, tx);
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        }
        return command;
    }

    private async Task<object?> ScalarAsync(string sql, NpgsqlTransaction? tx, CancellationToken ct, params (string Name, object? Value)[] parameters)
    {
        await using var command = Command(sql, tx, parameters);
        var value = await command.ExecuteScalarAsync(ct).ConfigureAwait(false);
        return value is DBNull ? null : value;
    }

    private async Task<int> ExecAsync(string sql, NpgsqlTransaction? tx, CancellationToken ct, params (string Name, object? Value)[] parameters)
    {
        await using var command = Command(sql, tx, parameters);
        return await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    // ---------------------------------------------------------------- versions

    private const string VersionColumns = "name, version, kind, state, created, expires, origin, metadata, fingerprint";

    /// <summary>The last version list read outside a transaction, with the stored state seal read just before it (as the
    /// SQLite store keeps it): every commit that changes a version or ledger row (or the audit head) writes a new seal,
    /// whoever makes it, so while the stored seal is this text the rows are these. The seal is read first: a commit
    /// between the two reads leaves an older seal beside newer rows, and the next call reads again.</summary>
    private (string Seal, IReadOnlyList<CredentialVersion> Versions)? _listed;

    public Task<IReadOnlyList<CredentialVersion>> ListVersionsAsync(CancellationToken cancellationToken) =>
        ReadAsync(async tx =>
        {
            // Inside a transaction this connection's own uncommitted writes are not sealed yet: always read.
            var seal = tx is null ? await ReadMetaTextAsync(null, StoreMetaKeys.StateSeal, cancellationToken).ConfigureAwait(false) : null;
            if (seal is not null && _listed is { } listed && listed.Seal == seal) return listed.Versions;
            var versions = await ReadVersionsAsync(Command($"SELECT {VersionColumns} FROM versions ORDER BY name, version;", tx), cancellationToken).ConfigureAwait(false);
            versions = versions is List<CredentialVersion> list ? list.AsReadOnly() : versions;
            _listed = seal is null ? null : (seal, versions);
            return versions;
        }, cancellationToken);

    public Task<IReadOnlyList<CredentialVersion>> GetVersionsAsync(string name, CancellationToken cancellationToken) =>
        ReadAsync(tx => ReadVersionsAsync(Command($"SELECT {VersionColumns} FROM versions WHERE name = @name ORDER BY version;", tx, ("name", name)), cancellationToken), cancellationToken);

    public Task<CredentialVersion?> GetActiveAsync(string name, CancellationToken cancellationToken) =>
        ReadAsync(async tx => await ReadVersionsAsync(Command($"SELECT {VersionColumns} FROM versions WHERE name = @name AND state = 'active';", tx, ("name", name)), cancellationToken).ConfigureAwait(false) is [var v] ? v : null, cancellationToken);

    private static async Task<IReadOnlyList<CredentialVersion>> ReadVersionsAsync(NpgsqlCommand command, CancellationToken ct)
    {
        await using (command)
        {
            var list = new List<CredentialVersion>();
            await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                list.Add(new CredentialVersion(
                    reader.GetString(0),
                    reader.GetInt32(1),
                    reader.GetString(2),
                    VersionStateText.Parse(reader.GetString(3)),
                    StoreTime.Parse(reader.GetString(4)),
                    reader.IsDBNull(5) ? null : StoreTime.Parse(reader.GetString(5)),
                    reader.GetString(8),
                    reader.GetString(6),
                    StoredMetadata.Parse(reader.GetString(7))));
            }
            return list;
        }
    }

    public Task<Secret> RevealAsync(string name, int version, CancellationToken cancellationToken) =>
        ReadAsync(async tx =>
        {
            await using var command = Command("SELECT nonce, ciphertext FROM versions WHERE name = @name AND version = @version;", tx, ("name", name), ("version", version));
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                throw ErrorCodes.StoreVersionMissing.Exception($"credential '{name}' has no version {version} in the store");
            }
            return Decrypt(name, version, (byte[])reader.GetValue(0), (byte[])reader.GetValue(1));
        }, cancellationToken);

    public Task<IReadOnlyDictionary<string, Secret>> RevealActiveAsync(IEnumerable<string> names, CancellationToken cancellationToken)
    {
        var wanted = names.Distinct(StringComparer.Ordinal).ToArray();
        return ReadAsync<IReadOnlyDictionary<string, Secret>>(async tx =>
        {
            var result = new Dictionary<string, Secret>(StringComparer.Ordinal);
            await using var command = Command("SELECT name, version, nonce, ciphertext FROM versions WHERE state = 'active' AND name = ANY(@names);", tx, ("names", wanted));
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                var name = reader.GetString(0);
                result[name] = Decrypt(name, reader.GetInt32(1), (byte[])reader.GetValue(2), (byte[])reader.GetValue(3));
            }
            return result;
        }, cancellationToken);
    }

    private Secret Decrypt(string name, int version, byte[] nonce, byte[] ciphertext) =>
        _keys.Decrypt(name, version, nonce, ciphertext)
        ?? throw ErrorCodes.StoreTampered.Exception($"version {version} of '{name}' does not authenticate under this store's key (altered, or copied from another row or store)");

    public Task<CredentialVersion> PutAsync(NewVersion version, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(version.Name);
        ArgumentException.ThrowIfNullOrWhiteSpace(version.Kind);
        return WriteAsync(async tx =>
        {
            _sealDirty = true;
            var number = (int)(await ScalarAsync("SELECT COALESCE(MAX(version), 0) + 1 FROM versions WHERE name = @name;", tx, cancellationToken, ("name", version.Name)).ConfigureAwait(false))!;
            if (version.State == VersionState.Active && number > 1)
            {
                await DemoteAsync(tx, version.Name, number, cancellationToken).ConfigureAwait(false);
            }
            var value = version.Value.Reveal();
            var (nonce, ciphertext) = _keys.Encrypt(version.Name, number, value);
            var fingerprint = _keys.Fingerprint(value);
            var metadata = new SortedDictionary<string, string>(version.Metadata.ToDictionary(), StringComparer.Ordinal);
            await ExecAsync($"INSERT INTO versions ({VersionColumns}, nonce, ciphertext) VALUES (@name, @version, @kind, @state, @created, @expires, @origin, @metadata, @fingerprint, @nonce, @ciphertext);",
                tx, cancellationToken,
                ("name", version.Name), ("version", number), ("kind", version.Kind), ("state", VersionStateText.Format(version.State)),
                ("created", StoreTime.Format(version.CreatedAt)), ("expires", version.ExpiresAt is { } e ? StoreTime.Format(e) : null),
                ("origin", version.Origin), ("metadata", MetadataJson(metadata)),
                ("fingerprint", fingerprint), ("nonce", nonce), ("ciphertext", ciphertext)).ConfigureAwait(false);
            return new CredentialVersion(version.Name, number, version.Kind, version.State, version.CreatedAt, version.ExpiresAt,
                fingerprint, version.Origin, metadata);
        }, cancellationToken);
    }

    /// <summary>Metadata as a JSON object of strings, keys in ordinal order (what <see cref="StoredMetadata"/> reads).</summary>
    internal static string MetadataJson(IEnumerable<KeyValuePair<string, string>> metadata)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            foreach (var (key, value) in metadata.OrderBy(p => p.Key, StringComparer.Ordinal)) writer.WriteString(key, value);
            writer.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    /// <summary>Before <paramref name="except"/> becomes active: the old Previous is retired, the old Active becomes Previous.</summary>
    private async Task DemoteAsync(NpgsqlTransaction tx, string name, int except, CancellationToken ct)
    {
        await ExecAsync("UPDATE versions SET state = 'retired' WHERE name = @name AND state = 'previous' AND version <> @except;", tx, ct, ("name", name), ("except", except)).ConfigureAwait(false);
        await ExecAsync("UPDATE versions SET state = 'previous' WHERE name = @name AND state = 'active' AND version <> @except;", tx, ct, ("name", name), ("except", except)).ConfigureAwait(false);
    }

    public Task SetStateAsync(string name, int version, VersionState state, CancellationToken cancellationToken) =>
        WriteAsync(async tx =>
        {
            var current = await ScalarAsync("SELECT state FROM versions WHERE name = @name AND version = @version;", tx, cancellationToken, ("name", name), ("version", version)).ConfigureAwait(false);
            if (current is not string text)
            {
                throw ErrorCodes.StoreVersionMissing.Exception($"credential '{name}' has no version {version} in the store");
            }
            if (VersionStateText.Parse(text) == state) return;
            _sealDirty = true;
            if (state == VersionState.Active)
            {
                await DemoteAsync(tx, name, version, cancellationToken).ConfigureAwait(false);
            }
            await ExecAsync("UPDATE versions SET state = @state WHERE name = @name AND version = @version;", tx, cancellationToken,
                ("state", VersionStateText.Format(state)), ("name", name), ("version", version)).ConfigureAwait(false);
        }, cancellationToken);

    public Task SetMetadataAsync(string name, int version, IReadOnlyDictionary<string, string> metadata, DateTimeOffset? expiresAt, CancellationToken cancellationToken)
    {
        var json = MetadataJson(metadata);
        return WriteAsync(async tx =>
        {
            _sealDirty = true;
            var changed = await ExecAsync("UPDATE versions SET metadata = @metadata, expires = @expires WHERE name = @name AND version = @version;", tx, cancellationToken,
                ("metadata", json), ("expires", expiresAt is { } e ? StoreTime.Format(e) : null), ("name", name), ("version", version)).ConfigureAwait(false);
            if (changed == 0)
            {
                throw ErrorCodes.StoreVersionMissing.Exception($"credential '{name}' has no version {version} in the store");
            }
        }, cancellationToken);
    }

    // ---------------------------------------------------------------- ledger

    public Task RecordTokenAsync(LedgerEntry entry, CancellationToken cancellationToken) =>
        WriteAsync(async tx =>
        {
            _sealDirty = true;
            // ON CONFLICT instead of catching 23505: an error would abort an open user transaction in PostgreSQL, where
            // SQLite lets the transaction go on after a failed statement.
            var inserted = await ExecAsync("""
                INSERT INTO ledger (token_id, credential, version, subject, permissions, issued, expires, fingerprint, signed_by, signed_by_version, revoked)
                VALUES (@id, @credential, @version, @subject, @permissions, @issued, @expires, @fingerprint, @signedBy, @signedByVersion, @revoked)
                ON CONFLICT (token_id) DO NOTHING;
                """, tx, cancellationToken,
                ("id", entry.TokenId), ("credential", entry.Credential), ("version", entry.Version), ("subject", entry.Subject),
                ("permissions", entry.PermissionsSummary), ("issued", StoreTime.Format(entry.IssuedAt)), ("expires", StoreTime.Format(entry.ExpiresAt)),
                ("fingerprint", entry.Fingerprint), ("signedBy", entry.SignedBy), ("signedByVersion", entry.SignedByVersion),
                ("revoked", entry.RevokedAt is { } r ? StoreTime.Format(r) : null)).ConfigureAwait(false);
            if (inserted == 0)
            {
                throw ErrorCodes.StoreDuplicateToken.Exception($"token id '{entry.TokenId}' is already in the ledger");
            }
        }, cancellationToken);

    public Task<IReadOnlyList<LedgerEntry>> ListLedgerAsync(CancellationToken cancellationToken) =>
        ReadAsync(tx => ReadLedgerAsync(tx, cancellationToken), cancellationToken);

    private async Task<IReadOnlyList<LedgerEntry>> ReadLedgerAsync(NpgsqlTransaction? tx, CancellationToken cancellationToken)
    {
        var list = new List<LedgerEntry>();
        await using var command = Command("""
            SELECT token_id, credential, version, subject, permissions, issued, expires, fingerprint, signed_by, signed_by_version, revoked
            FROM ledger ORDER BY issued, token_id;
            """, tx);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            list.Add(new LedgerEntry(reader.GetString(0), reader.GetString(1), reader.GetInt32(2), reader.GetString(3), reader.GetString(4),
                StoreTime.Parse(reader.GetString(5)), StoreTime.Parse(reader.GetString(6)), reader.GetString(7), reader.GetString(8),
                reader.GetInt32(9), reader.IsDBNull(10) ? null : StoreTime.Parse(reader.GetString(10))));
        }
        return list;
    }

    public Task RevokeTokenAsync(string tokenId, DateTimeOffset at, CancellationToken cancellationToken) =>
        WriteAsync(async tx =>
        {
            // The first revocation time stands; revoking again is a no-op.
            _sealDirty = true;
            var exists = await ScalarAsync("SELECT count(*) FROM ledger WHERE token_id = @id;", tx, cancellationToken, ("id", tokenId)).ConfigureAwait(false) is long n && n > 0;
            if (!exists)
            {
                throw ErrorCodes.StoreTokenMissing.Exception($"token id '{tokenId}' is not in the ledger");
            }
            await ExecAsync("UPDATE ledger SET revoked = @at WHERE token_id = @id AND revoked IS NULL;", tx, cancellationToken, ("at", StoreTime.Format(at)), ("id", tokenId)).ConfigureAwait(false);
        }, cancellationToken);

    // ---------------------------------------------------------------- audit

    public Task AppendAuditAsync(AuditEvent auditEvent, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(auditEvent.Actor);
        ArgumentException.ThrowIfNullOrWhiteSpace(auditEvent.Action);
        return WriteAsync(tx => AppendAuditAsync(tx, auditEvent, cancellationToken), cancellationToken);
    }

    private async Task AppendAuditAsync(NpgsqlTransaction tx, AuditEvent auditEvent, CancellationToken cancellationToken)
    {
        _sealDirty = true;
        var head = await CurrentHeadAsync(tx, cancellationToken).ConfigureAwait(false);
        var sequence = head.Sequence + 1;
        var hash = AuditChain.Hash(_keys.AuditKey, head.Hash, sequence, auditEvent);
        await ExecAsync("""
            INSERT INTO audit (seq, at, actor, action, credential, version, fingerprint, detail, prev_hash, hash)
            VALUES (@seq, @at, @actor, @action, @credential, @version, @fingerprint, @detail, @prev, @hash);
            """, tx, cancellationToken,
            ("seq", sequence), ("at", StoreTime.Format(auditEvent.At)), ("actor", auditEvent.Actor), ("action", auditEvent.Action),
            ("credential", auditEvent.Credential), ("version", auditEvent.Version), ("fingerprint", auditEvent.Fingerprint),
            ("detail", auditEvent.Detail), ("prev", head.Hash), ("hash", hash)).ConfigureAwait(false);
        await WriteMetaAsync(tx, StoreMetaKeys.AuditHead, Encoding.UTF8.GetBytes(AuditHead.Create(_keys.AuditKey, sequence, hash).ToString()), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The chain continues from the head in meta (not from the last row), so a deleted newest row leaves a visible gap.</summary>
    private async Task<AuditHead> CurrentHeadAsync(NpgsqlTransaction? tx, CancellationToken ct)
    {
        var head = AuditHead.TryParse(await ReadMetaTextAsync(tx, StoreMetaKeys.AuditHead, ct).ConfigureAwait(false));
        if (head is not null) return head;
        await using var command = Command("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1;", tx);
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        return await reader.ReadAsync(ct).ConfigureAwait(false) ? AuditHead.Create(_keys.AuditKey, reader.GetInt64(0), reader.GetString(1)) : AuditHead.Empty(_keys.AuditKey);
    }

    private async Task<string?> ReadMetaTextAsync(NpgsqlTransaction? tx, string key, CancellationToken ct) =>
        await ScalarAsync("SELECT value FROM meta WHERE key = @k;", tx, ct, ("k", key)).ConfigureAwait(false) is byte[] bytes ? Encoding.UTF8.GetString(bytes) : null;

    private Task<int> WriteMetaAsync(NpgsqlTransaction tx, string key, byte[] value, CancellationToken ct) =>
        ExecAsync("INSERT INTO meta (key, value) VALUES (@k, @v) ON CONFLICT (key) DO UPDATE SET value = excluded.value;", tx, ct, ("k", key), ("v", value));

    public Task<IReadOnlyList<AuditRecord>> ReadAuditAsync(DateTimeOffset? since, CancellationToken cancellationToken) =>
        ReadAsync(tx => ReadAuditRowsAsync(tx, since, cancellationToken), cancellationToken);

    private async Task<IReadOnlyList<AuditRecord>> ReadAuditRowsAsync(NpgsqlTransaction? tx, DateTimeOffset? since, CancellationToken ct)
    {
        var list = new List<AuditRecord>();
        await using var command = since is { } s
            ? Command("SELECT seq, at, actor, action, credential, version, fingerprint, detail, prev_hash, hash FROM audit WHERE at >= @since ORDER BY seq;", tx, ("since", StoreTime.Format(s)))
            : Command("SELECT seq, at, actor, action, credential, version, fingerprint, detail, prev_hash, hash FROM audit ORDER BY seq;", tx);
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            var auditEvent = new AuditEvent(StoreTime.Parse(reader.GetString(1)), reader.GetString(2), reader.GetString(3), reader.GetString(4),
                reader.IsDBNull(5) ? null : reader.GetInt32(5), reader.IsDBNull(6) ? null : reader.GetString(6), reader.IsDBNull(7) ? null : reader.GetString(7));
            list.Add(new AuditRecord(reader.GetInt64(0), auditEvent, reader.GetString(8), reader.GetString(9)));
        }
        return list;
    }

    public Task<IReadOnlyList<string>> VerifyAuditAsync(CancellationToken cancellationToken) =>
        ReadAsync<IReadOnlyList<string>>(async tx =>
        {
            IReadOnlyList<AuditRecord> rows;
            try
            {
                rows = await ReadAuditRowsAsync(tx, null, cancellationToken).ConfigureAwait(false);
            }
            catch (FormatException)
            {
                return ["an audit entry has a malformed time: the log was edited outside Keyward"];
            }
            var headText = await ReadMetaTextAsync(tx, StoreMetaKeys.AuditHead, cancellationToken).ConfigureAwait(false);
            var versions = rows.Count == 0 && headText is null
                ? (long)(await ScalarAsync("SELECT count(*) FROM versions;", tx, cancellationToken).ConfigureAwait(false))!
                : 0;
            return AuditVerifier.Verify(_keys.AuditKey, rows, headText, versions);
        }, cancellationToken, snapshot: true);

    // ---------------------------------------------------------------- state seal

    /// <summary>The seal of the rows as this transaction sees them.</summary>
    private async Task<StateSeal> ComputeSealAsync(NpgsqlTransaction? tx, CancellationToken ct)
    {
        var seal = new StateSeal(_keys.AuditKey, await ReadMetaTextAsync(tx, StoreMetaKeys.AuditHead, ct).ConfigureAwait(false));
        try
        {
            foreach (var sql in new[] { StateSeal.PostgresVersionRows, StateSeal.PostgresLedgerRows })
            {
                await using var command = Command(sql, tx);
                await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
                await seal.AddRowsAsync(reader, ct).ConfigureAwait(false);
            }
            return seal;
        }
        catch
        {
            seal.Dispose();
            throw;
        }
    }

    /// <summary>At the end of a write transaction (under the write lock) that changed versions, tokens or the audit log:
    /// the seal of the rows as they will be committed.</summary>
    private async Task SealIfDirtyAsync(NpgsqlTransaction tx, CancellationToken ct)
    {
        if (!_sealDirty) return;
        string seal;
        using (var computed = await ComputeSealAsync(tx, ct).ConfigureAwait(false)) seal = computed.Finish();
        await WriteMetaAsync(tx, StoreMetaKeys.StateSeal, Encoding.UTF8.GetBytes(seal), ct).ConfigureAwait(false);
        _sealDirty = false;
    }

    public async Task VerifySealAsync(CancellationToken cancellationToken)
    {
        var check = await ReadAsync(async tx =>
        {
            var stored = await ReadMetaTextAsync(tx, StoreMetaKeys.StateSeal, cancellationToken).ConfigureAwait(false);
            using var seal = await ComputeSealAsync(tx, cancellationToken).ConfigureAwait(false);
            return StateSeal.Check(_keys.AuditKey, stored, seal, await ReadMetaTextAsync(tx, StoreMetaKeys.AuditHead, cancellationToken).ConfigureAwait(false), Location);
        }, cancellationToken, snapshot: true).ConfigureAwait(false);
        if (check != SealCheck.Unsealed) return;
        var problems = await VerifyAuditAsync(cancellationToken).ConfigureAwait(false);
        if (problems.Count > 0)
        {
            throw ErrorCodes.AuditTampered.Exception($"{Location} holds credentials but no state seal, and its audit log is not intact: {problems[0]}",
                "restore the database from a backup and investigate who could write to it");
        }
        await WriteAsync(async tx =>
        {
            // The head again, under the sealed label: from here on a missing seal is tampering.
            var head = await CurrentHeadAsync(tx, cancellationToken).ConfigureAwait(false);
            await WriteMetaAsync(tx, StoreMetaKeys.AuditHead, Encoding.UTF8.GetBytes(AuditHead.Create(_keys.AuditKey, head.Sequence, head.Hash).ToString()), cancellationToken).ConfigureAwait(false);
            _sealDirty = true;
        }, cancellationToken).ConfigureAwait(false);
    }

    // ---------------------------------------------------------------- sinks

    public Task<IReadOnlyList<SinkRecord>> ListSinksAsync(CancellationToken cancellationToken) =>
        ReadAsync<IReadOnlyList<SinkRecord>>(async tx =>
        {
            var list = new List<SinkRecord>();
            await using var command = Command("SELECT name, path, content_fingerprint, written FROM sinks ORDER BY name;", tx);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                list.Add(new SinkRecord(reader.GetString(0), reader.GetString(1), reader.GetString(2), StoreTime.Parse(reader.GetString(3))));
            }
            return list;
        }, cancellationToken);

    public Task PutSinkAsync(SinkRecord sink, CancellationToken cancellationToken) =>
        WriteAsync(tx => ExecAsync("""
            INSERT INTO sinks (name, path, content_fingerprint, written) VALUES (@name, @path, @fp, @at)
            ON CONFLICT (name) DO UPDATE SET path = excluded.path, content_fingerprint = excluded.content_fingerprint, written = excluded.written;
            """, tx, cancellationToken,
            ("name", sink.Name), ("path", sink.Path), ("fp", sink.ContentFingerprint), ("at", StoreTime.Format(sink.WrittenAt))),
            cancellationToken);

    // ---------------------------------------------------------------- journal

    public Task<long> BeginJournalAsync(string operation, string intent, DateTimeOffset at, CancellationToken cancellationToken) =>
        WriteAsync(async tx => (long)(await ScalarAsync("INSERT INTO journals (operation, status, intent, started) VALUES (@op, @status, @intent, @at) RETURNING id;", tx, cancellationToken,
            ("op", operation), ("status", JournalStatuses.Open), ("intent", intent), ("at", StoreTime.Format(at))).ConfigureAwait(false))!,
            cancellationToken, durable: true);

    public Task AppendJournalStepAsync(long journalId, string kind, string target, string status, string? data, DateTimeOffset at, CancellationToken cancellationToken) =>
        WriteAsync(async tx =>
        {
            await RequireOpenJournalAsync(tx, journalId, cancellationToken).ConfigureAwait(false);
            var step = (int)(await ScalarAsync("SELECT COALESCE(MAX(step), 0) + 1 FROM journal_steps WHERE journal_id = @id;", tx, cancellationToken, ("id", journalId)).ConfigureAwait(false))!;
            await ExecAsync("INSERT INTO journal_steps (journal_id, step, kind, target, status, data, at) VALUES (@id, @step, @kind, @target, @status, @data, @at);", tx, cancellationToken,
                ("id", journalId), ("step", step), ("kind", kind), ("target", target), ("status", status), ("data", data),
                ("at", StoreTime.Format(at))).ConfigureAwait(false);
        }, cancellationToken, durable: true);

    public Task SetJournalStatusAsync(long journalId, string status, CancellationToken cancellationToken) =>
        WriteAsync(async tx =>
        {
            await RequireOpenJournalAsync(tx, journalId, cancellationToken).ConfigureAwait(false);
            await ExecAsync("UPDATE journals SET status = @status WHERE id = @id;", tx, cancellationToken, ("status", status), ("id", journalId)).ConfigureAwait(false);
        }, cancellationToken, durable: true);

    private async Task RequireOpenJournalAsync(NpgsqlTransaction tx, long journalId, CancellationToken ct)
    {
        var status = await ScalarAsync("SELECT status FROM journals WHERE id = @id;", tx, ct, ("id", journalId)).ConfigureAwait(false) as string;
        if (status is null)
        {
            throw ErrorCodes.StoreJournalMissing.Exception(string.Create(CultureInfo.InvariantCulture, $"journal {journalId} does not exist"));
        }
        if (status is JournalStatuses.Committed or JournalStatuses.Aborted)
        {
            throw ErrorCodes.StoreJournalMissing.Exception(string.Create(CultureInfo.InvariantCulture, $"journal {journalId} is already {status}"));
        }
    }

    public Task<IReadOnlyList<JournalRecord>> OpenJournalsAsync(CancellationToken cancellationToken) => JournalsAsync(openOnly: true, cancellationToken);

    public Task<IReadOnlyList<JournalRecord>> AllJournalsAsync(CancellationToken cancellationToken) => JournalsAsync(openOnly: false, cancellationToken);

    private Task<IReadOnlyList<JournalRecord>> JournalsAsync(bool openOnly, CancellationToken cancellationToken) =>
        ReadAsync<IReadOnlyList<JournalRecord>>(async tx =>
        {
            var steps = new Dictionary<long, List<JournalStep>>();
            await using (var command = Command("""
                SELECT s.journal_id, s.step, s.kind, s.target, s.status, s.data, s.at FROM journal_steps s JOIN journals j ON j.id = s.journal_id
                WHERE NOT @openOnly OR j.status NOT IN ('committed', 'aborted') ORDER BY s.journal_id, s.step;
                """, tx, ("openOnly", openOnly)))
            await using (var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
            {
                while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    var id = reader.GetInt64(0);
                    if (!steps.TryGetValue(id, out var list)) steps[id] = list = [];
                    list.Add(new JournalStep(id, reader.GetInt32(1), reader.GetString(2), reader.GetString(3), reader.GetString(4),
                        reader.IsDBNull(5) ? null : reader.GetString(5), StoreTime.Parse(reader.GetString(6))));
                }
            }
            var journals = new List<JournalRecord>();
            await using (var command = Command("SELECT id, operation, status, intent, started FROM journals WHERE NOT @openOnly OR status NOT IN ('committed', 'aborted') ORDER BY id;", tx, ("openOnly", openOnly)))
            await using (var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
            {
                while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    var id = reader.GetInt64(0);
                    journals.Add(new JournalRecord(id, reader.GetString(1), reader.GetString(2), reader.GetString(3), StoreTime.Parse(reader.GetString(4)),
                        steps.TryGetValue(id, out var list) ? list : []));
                }
            }
            return journals;
        }, cancellationToken, snapshot: true);

    // ---------------------------------------------------------------- keys and lifetime

    public Task ReplaceWrappedKeyAsync(byte[] wrapped, IReadOnlyList<string> recipients, CancellationToken cancellationToken) =>
        WriteAsync(async tx =>
        {
            await WriteMetaAsync(tx, StoreMetaKeys.WrappedDataKey, wrapped, cancellationToken).ConfigureAwait(false);
            await WriteMetaAsync(tx, StoreMetaKeys.Recipients, Encoding.UTF8.GetBytes(string.Join('\n', recipients)), cancellationToken).ConfigureAwait(false);
        }, cancellationToken);

    public async ValueTask DisposeAsync()
    {
        if (_disposed) return;
        await _gate.WaitAsync().ConfigureAwait(false);
        try
        {
            _disposed = true;
            if (_userTransaction is not null)
            {
                try
                {
                    await _userTransaction.DisposeAsync().ConfigureAwait(false);
                }
                catch (NpgsqlException)
                {
                    // closing the connection rolls it back
                }
            }
            // Unpooled, so closing ends the session and PostgreSQL releases its locks — but only once the backend has
            // noticed and exited. Unlock first, so the next writer finds the writer lock free the moment this returns.
            if (_connection.FullState == System.Data.ConnectionState.Open)
            {
                try
                {
                    await using var unlock = new NpgsqlCommand("SELECT pg_advisory_unlock_all();", _connection);
                    await unlock.ExecuteNonQueryAsync().ConfigureAwait(false);
                }
                catch (Exception e) when (PostgresErrors.IsTranslatable(e))
                {
                    // a broken session has released them already
                }
            }
            await _connection.DisposeAsync().ConfigureAwait(false);
            await _dataSource.DisposeAsync().ConfigureAwait(false);
            _keys.Dispose();
        }
        finally
        {
            _gate.Release();
        }
    }
}
