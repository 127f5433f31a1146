using System.Globalization;
using System.Text;
using System.Text.Json;
using Keyward.Core.Errors;
using Keyward.Core.Secrets;
using Keyward.Store.Audit;
using Keyward.Core.Store;
using Keyward.Store.Contract;
using Keyward.Store.Encryption;
using Microsoft.Data.Sqlite;

namespace Keyward.Store.Sqlite;

/// <summary>
/// The embedded store: one SQLite file in WAL mode with synchronous=FULL, one connection, prepared commands reused.
/// Calls are serialised on one gate. A transaction from <see cref="BeginAsync"/> is connection-wide: every call made
/// while it is open joins it (one logical writer per store instance; open a second instance for a second writer,
/// SQLite's lock and busy timeout keep them apart). Journal calls refuse to run inside it, because they promise that
/// each call is committed before it returns.
/// </summary>
internal sealed class SqliteCredentialStore : IKeyedStore, Copy.IJournalHistory
{

    private readonly SqliteConnection _connection;
    private readonly StoreKeys _keys;
    private readonly string _path;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Dictionary<string, SqliteCommand> _commands = new(StringComparer.Ordinal);
    private SqliteTransaction? _userTransaction;
    private SqliteTransaction? _activeTransaction;
    private bool _sealDirty;
    private AuditHead? _headMoved;
    private bool _disposed;

    /// <summary>The version rows the seal check at open read and found sealed, parsed as they were sealed, kept for the
    /// first <see cref="ListVersionsAsync"/> (apply, check and every serve pass list all versions right after opening, and
    /// reading and sealing 10,000 rows, then reading them again, was two of a no-op apply's slowest steps). Dropped by
    /// that first use and by every write, so it never outlives the snapshot it was read in by more than the open's
    /// own reads: what it returns is exactly what the seal verified.</summary>
    private SealedVersions? _sealedVersionRows;

    /// <summary>The stored seal those rows were verified against.</summary>
    private string? _sealedRowsSeal;

    internal SqliteCredentialStore(SqliteConnection connection, StoreKeys keys, string path)
    {
        _connection = connection;
        _keys = keys;
        _path = path;
    }

    public string StoreId => _keys.StoreId;

    public StoreKeys Keys => _keys;

    public string Location => _path;

    internal string DatabasePath => _path;

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
            _sealedVersionRows = null;
            _userTransaction = _connection.BeginTransaction(deferred: false);
            _activeTransaction = _userTransaction;
            return new Transaction(this, _userTransaction);
        }
        catch (SqliteException e)
        {
            throw SqliteErrors.Translate(e, _path);
        }
        finally
        {
            _gate.Release();
        }
    }

    private sealed class Transaction(SqliteCredentialStore owner, SqliteTransaction inner) : IStoreTransaction
    {
        private bool _done;

        public async Task CommitAsync(CancellationToken cancellationToken)
        {
            ObjectDisposedException.ThrowIf(_done, this);
            await owner._gate.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                owner.SealIfDirty();
                inner.Commit();
                owner.AnchorHead();
            }
            catch (SqliteException e)
            {
                throw SqliteErrors.Translate(e, owner._path);
            }
            catch (Exception e) when (IsMalformedRow(e))
            {
                throw owner.Malformed(e);
            }
            finally
            {
                Finish();
                owner._gate.Release();
            }
        }

        public async ValueTask DisposeAsync()
        {
            if (_done) return;
            await owner._gate.WaitAsync().ConfigureAwait(false);
            try
            {
                inner.Rollback();
            }
            finally
            {
                Finish();
                owner._gate.Release();
            }
        }

        private void Finish()
        {
            _done = true;
            inner.Dispose();
            owner._userTransaction = null;
            owner._activeTransaction = null;
            owner._sealDirty = false;
            owner._headMoved = null;
        }
    }

    private async Task<T> ReadAsync<T>(Func<T> work, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return work();
        }
        catch (SqliteException e)
        {
            throw SqliteErrors.Translate(e, _path);
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

    /// <summary>A row whose column has the wrong storage class (a ciphertext stored as TEXT) or an unparsable value (a
    /// <c>created</c> that is not a time, metadata that is not JSON) was written outside Keyward: a tamper, not a bug.</summary>
    private static bool IsMalformedRow(Exception e) => e is InvalidCastException or FormatException or JsonException or OverflowException;

    private KeywardException Malformed(Exception e) => new(ErrorCodes.StoreTampered.With(
        $"a row of {_path} has a value of the wrong type or format ({e.GetType().Name}): it was edited outside Keyward",
        "restore the state directory from a backup and investigate who could write keyward.db"), e);

    /// <summary>Runs <paramref name="work"/> in the open user transaction, or in its own immediate transaction.
    /// <paramref name="durable"/> calls must commit before returning, so they refuse to join a user transaction.</summary>
    private async Task<T> WriteAsync<T>(Func<T> work, CancellationToken cancellationToken, bool durable = false)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            _sealedVersionRows = null;
            if (_userTransaction is not null)
            {
                if (durable)
                {
                    throw new InvalidOperationException("journal writes are committed one by one and cannot run inside a store transaction");
                }
                return work();
            }
            using var transaction = _connection.BeginTransaction(deferred: false);
            _activeTransaction = transaction;
            try
            {
                var result = work();
                SealIfDirty();
                transaction.Commit();
                AnchorHead();
                return result;
            }
            finally
            {
                _activeTransaction = null;
                _sealDirty = false;
                _headMoved = null;
            }
        }
        catch (SqliteException e)
        {
            throw SqliteErrors.Translate(e, _path);
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

    private Task WriteAsync(Action work, CancellationToken cancellationToken, bool durable = false) =>
        WriteAsync(() => { work(); return true; }, cancellationToken, durable);

    /// <summary>A cached, prepared command bound to the current transaction with fresh parameters.</summary>
    private SqliteCommand Command(string sql, params ReadOnlySpan<(string Name, object? Value)> parameters)
    {
        if (!_commands.TryGetValue(sql, out var command))
        {
            command = _connection.CreateCommand();
            command.CommandText = sql;
            _commands[sql] = command;
        }
        command.Transaction = _activeTransaction;
        command.Parameters.Clear();
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        }
        return command;
    }

    // ---------------------------------------------------------------- versions

    private const string VersionColumns = "name, version, kind, state, created, expires, origin, metadata, fingerprint";

    /// <summary>The last version list read outside a transaction, with the stored state seal read just before it. Every
    /// commit that changes a version or ledger row (or the audit head) writes a new seal, whoever makes it, so while the
    /// stored seal is still this text the rows are still these: a serve pass lists the versions for apply's plan and
    /// again for its checks, and 10,000 rows read and parsed twice cost ~0.1-0.2 s. The seal is read before the rows,
    /// so a commit between the two reads leaves an older seal beside newer rows, and the next call reads again.</summary>
    private (string Seal, IReadOnlyList<CredentialVersion> Versions)? _listed;

    public async Task<IReadOnlyList<CredentialVersion>> ListVersionsAsync(CancellationToken cancellationToken)
    {
        // The rows the seal check read may still be being parsed: wait for that without holding the gate or a thread.
        if (_sealedVersionRows is { } parsing)
            await parsing.Parsed.ConfigureAwait(false);
        return await ListVersionsUnderGateAsync(cancellationToken).ConfigureAwait(false);
    }

    private Task<IReadOnlyList<CredentialVersion>> ListVersionsUnderGateAsync(CancellationToken cancellationToken) =>
        ReadAsync(() =>
        {
            // Inside a transaction this connection's own uncommitted writes are not sealed yet: always read.
            var seal = _userTransaction is null ? ReadMetaText(StoreMetaKeys.StateSeal) : null;
            if (seal is not null && _listed is { } listed && listed.Seal == seal) return listed.Versions;
            IReadOnlyList<CredentialVersion> versions;
            if (_sealedVersionRows is { } sealedRows && (seal is null || seal == _sealedRowsSeal))
            {
                _sealedVersionRows = null;
                versions = sealedRows.Take();
            }
            else
                versions = ReadVersions(Command($"SELECT {VersionColumns} FROM versions ORDER BY name, version;"));
            versions = versions is List<CredentialVersion> list ? list.AsReadOnly() : versions;
            _listed = seal is null ? null : (seal, versions);
            return versions;
        }, cancellationToken);

    /// <summary>The rows of <see cref="StateSeal.SqliteVersionRows"/> (the columns and order of <see cref="VersionColumns"/>),
    /// parsed from the text the seal read (integers as their decimal text, nulls as null) as the seal reads it, with no
    /// string per column in between. A row that does not parse is remembered, not thrown: the seal is read to its end
    /// first (a broken seal is the error to report), and <see cref="ListVersionsAsync"/> throws what the row gave, as
    /// parsing it there used to.</summary>
    private sealed class SealedVersions
    {
        // The rows are copied as the seal reads them (a memcpy of ~300 bytes each) and parsed in batches on the thread
        // pool, one batch after another, while this thread goes on sealing: the parse (strings, metadata) was most of
        // the seal check's time, and the second core was idle during it.
        private const int Columns = 9;
        private const int BatchRows = 512;

        private readonly List<CredentialVersion> _versions = new(1024);
        private System.Runtime.ExceptionServices.ExceptionDispatchInfo? _error;
        // Kinds and origins are a handful of words repeated on every row: each is kept as one string.
        private readonly List<(byte[] Utf8, string Text)> _words = [];
        private Batch? _current;
        private Task _parsed = Task.CompletedTask;

        /// <summary>Rows copied from SQLite: each column's bytes in <see cref="Bytes"/>, its length -1 for NULL.</summary>
        private sealed class Batch
        {
            public byte[] Bytes = System.Buffers.ArrayPool<byte>.Shared.Rent(256 * 1024);
            public int Used;
            public readonly int[] Starts = System.Buffers.ArrayPool<int>.Shared.Rent(BatchRows * Columns);
            public readonly int[] Lengths = System.Buffers.ArrayPool<int>.Shared.Rent(BatchRows * Columns);
            public int Rows;

            public void Return()
            {
                System.Buffers.ArrayPool<byte>.Shared.Return(Bytes);
                System.Buffers.ArrayPool<int>.Shared.Return(Starts);
                System.Buffers.ArrayPool<int>.Shared.Return(Lengths);
            }
        }

        /// <summary>One copied row: the columns of <see cref="StateSeal.SqliteVersionRows"/>.</summary>
        private readonly ref struct Row(Batch batch, int row)
        {
            public bool IsNull(int column) => batch.Lengths[row * Columns + column] < 0;

            public ReadOnlySpan<byte> Text(int column) => batch.Bytes.AsSpan(batch.Starts[row * Columns + column], batch.Lengths[row * Columns + column]);
        }

        /// <summary>Copies one row as the seal read it (on the sealing thread).</summary>
        public void Add(RawRow row)
        {
            var batch = _current ??= new Batch();
            var at = batch.Rows * Columns;
            for (var c = 0; c < Columns; c++)
            {
                if (row.IsNull(c))
                {
                    batch.Starts[at + c] = 0;
                    batch.Lengths[at + c] = -1;
                    continue;
                }
                var text = row.Text(c);
                if (batch.Used + text.Length > batch.Bytes.Length)
                {
                    var bigger = System.Buffers.ArrayPool<byte>.Shared.Rent(Math.Max(batch.Bytes.Length * 2, batch.Used + text.Length));
                    batch.Bytes.AsSpan(0, batch.Used).CopyTo(bigger);
                    System.Buffers.ArrayPool<byte>.Shared.Return(batch.Bytes);
                    batch.Bytes = bigger;
                }
                text.CopyTo(batch.Bytes.AsSpan(batch.Used));
                batch.Starts[at + c] = batch.Used;
                batch.Lengths[at + c] = text.Length;
                batch.Used += text.Length;
            }
            if (++batch.Rows == BatchRows) Dispatch();
        }

        /// <summary>After the last row: parses what is left. Then <see cref="Parsed"/> completes when every row is.</summary>
        public void Finish()
        {
            if (_current is { Rows: > 0 }) Dispatch();
        }

        public Task Parsed => _parsed;

        private void Dispatch()
        {
            var batch = _current!;
            _current = null;
            _parsed = _parsed.ContinueWith(_ => Parse(batch), CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
        }

        private void Parse(Batch batch)
        {
            try
            {
                for (var r = 0; r < batch.Rows && _error is null; r++)
                {
                    var row = new Row(batch, r);
                    try
                    {
                        _versions.Add(new CredentialVersion(
                            Text(row, 0),
                            ParseVersion(Required(row, 1)),
                            Word(Required(row, 2)),
                            ParseState(Required(row, 3)),
                            StoreTime.Parse(Required(row, 4)),
                            row.IsNull(5) ? null : StoreTime.Parse(row.Text(5)),
                            Text(row, 8),
                            Word(Required(row, 6)),
                            ParseMetadata(Required(row, 7))));
                    }
                    catch (Exception e)
                    {
                        _error = System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e);
                    }
                }
            }
            finally
            {
                batch.Return();
            }
        }

        /// <summary>The parsed versions, or what the first row that did not parse threw, as parsing it here used to.</summary>
        public IReadOnlyList<CredentialVersion> Take()
        {
            Finish();
            _parsed.GetAwaiter().GetResult();
            _error?.Throw();
            return _versions;
        }

        // The sealed columns are NOT NULL in the schema; a null there was written outside Keyward (and breaks the seal).
        private static ReadOnlySpan<byte> Required(Row row, int column) =>
            row.IsNull(column) ? throw new FormatException("a required column of a version row is null") : row.Text(column);

        private static string Text(Row row, int column) => Encoding.UTF8.GetString(Required(row, column));

        private string Word(ReadOnlySpan<byte> utf8)
        {
            foreach (var (bytes, text) in _words)
                if (utf8.SequenceEqual(bytes)) return text;
            var word = Encoding.UTF8.GetString(utf8);
            if (_words.Count < 32) _words.Add((utf8.ToArray(), word));
            return word;
        }

        private static int ParseVersion(ReadOnlySpan<byte> utf8) =>
            int.TryParse(utf8, NumberStyles.None, CultureInfo.InvariantCulture, out var v)
                ? v
                : int.Parse(Encoding.UTF8.GetString(utf8), NumberStyles.None, CultureInfo.InvariantCulture);

        private static VersionState ParseState(ReadOnlySpan<byte> utf8) =>
            utf8.SequenceEqual("active"u8) ? VersionState.Active
            : utf8.SequenceEqual("previous"u8) ? VersionState.Previous
            : utf8.SequenceEqual("retired"u8) ? VersionState.Retired
            : utf8.SequenceEqual("staged"u8) ? VersionState.Staged
            : SqliteCredentialStore.ParseState(Encoding.UTF8.GetString(utf8));

        // Invalid UTF-8 goes through the string, as it did: its replacement characters are what the parser saw.
        private IReadOnlyDictionary<string, string> ParseMetadata(ReadOnlySpan<byte> utf8) =>
            System.Text.Unicode.Utf8.IsValid(utf8) ? StoredMetadata.Parse(utf8, _values) : StoredMetadata.Parse(Encoding.UTF8.GetString(utf8));

        private readonly StoredMetadata.Interner _values = new();
    }

    public Task<IReadOnlyList<CredentialVersion>> GetVersionsAsync(string name, CancellationToken cancellationToken) =>
        ReadAsync(() => ReadVersions(Command($"SELECT {VersionColumns} FROM versions WHERE name = $name ORDER BY version;", ("$name", name))), cancellationToken);

    public Task<CredentialVersion?> GetActiveAsync(string name, CancellationToken cancellationToken) =>
        ReadAsync(() => ReadVersions(Command($"SELECT {VersionColumns} FROM versions WHERE name = $name AND state = 'active';", ("$name", name))) is [var v] ? v : null, cancellationToken);

    private static IReadOnlyList<CredentialVersion> ReadVersions(SqliteCommand command)
    {
        var list = new List<CredentialVersion>();
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            list.Add(new CredentialVersion(
                reader.GetString(0),
                reader.GetInt32(1),
                reader.GetString(2),
                ParseState(reader.GetString(3)),
                StoreTime.Parse(reader.GetString(4)),
                reader.IsDBNull(5) ? null : StoreTime.Parse(reader.GetString(5)),
                reader.GetString(8),
                reader.GetString(6),
                ParseMetadata(reader.GetString(7))));
        }
        return list;
    }

    public Task<Secret> RevealAsync(string name, int version, CancellationToken cancellationToken) =>
        ReadAsync(() =>
        {
            using var reader = Command("SELECT nonce, ciphertext FROM versions WHERE name = $name AND version = $version;",
                ("$name", name), ("$version", version)).ExecuteReader();
            if (!reader.Read())
            {
                throw ErrorCodes.StoreVersionMissing.Exception($"credential '{name}' has no version {version} in the store");
            }
            return Decrypt(name, version, (byte[])reader.GetValue(0), (byte[])reader.GetValue(1));
        }, cancellationToken);

    public Task<IReadOnlyDictionary<string, Secret>> RevealActiveAsync(IEnumerable<string> names, CancellationToken cancellationToken)
    {
        var wanted = new HashSet<string>(names, StringComparer.Ordinal);
        if (wanted.Count > ScanActiveAbove) return ReadAsync<IReadOnlyDictionary<string, Secret>>(() => RevealActiveScan(wanted), cancellationToken);
        var json = JsonSerializer.Serialize(wanted.ToArray(), StoreJsonContext.Default.StringArray);
        return ReadAsync<IReadOnlyDictionary<string, Secret>>(() =>
        {
            var result = new Dictionary<string, Secret>(StringComparer.Ordinal);
            using var reader = Command(
                "SELECT name, version, nonce, ciphertext FROM versions WHERE state = 'active' AND name IN (SELECT value FROM json_each($names));",
                ("$names", json)).ExecuteReader();
            while (reader.Read())
            {
                var name = reader.GetString(0);
                result[name] = Decrypt(name, reader.GetInt32(1), (byte[])reader.GetValue(2), (byte[])reader.GetValue(3));
            }
            return result;
        }, cancellationToken);
    }

    /// <summary>Above this many names every active row is read and the wanted ones picked out (a no-op apply wants all
    /// 10,000): no JSON list of names to write and parse, no string per skipped name, no copy of each nonce and ciphertext.</summary>
    private const int ScanActiveAbove = 64;

    private Dictionary<string, Secret> RevealActiveScan(HashSet<string> wanted)
    {
        var result = new Dictionary<string, Secret>(wanted.Count, StringComparer.Ordinal);
        var lookup = wanted.GetAlternateLookup<ReadOnlySpan<char>>();
        var db = _connection.Handle!;
        var rc = SQLitePCL.raw.sqlite3_prepare_v2(db, "SELECT name, version, nonce, ciphertext FROM versions WHERE state = 'active';", out var statement);
        SqliteException.ThrowExceptionForRC(rc, db);
        using (statement)
        {
            Span<char> buffer = stackalloc char[256];
            try
            {
                while ((rc = SQLitePCL.raw.sqlite3_step(statement)) == SQLitePCL.raw.SQLITE_ROW)
                {
                    // The checks of GetString, GetInt32 and a cast of GetValue to byte[], as the query above reads the row.
                    var nameColumn = ReadColumn(statement, 0);
                    if (nameColumn.IsNull) throw new InvalidOperationException("a version row has no name");
                    var utf8 = nameColumn.Text;
                    string? name;
                    if (utf8.Length <= buffer.Length && Encoding.UTF8.GetMaxCharCount(utf8.Length) <= buffer.Length)
                    {
                        var chars = buffer[..Encoding.UTF8.GetChars(utf8, buffer)];
                        if (!lookup.TryGetValue(chars, out name)) continue;
                    }
                    else
                    {
                        name = Encoding.UTF8.GetString(utf8);
                        if (!wanted.TryGetValue(name, out name)) continue;
                    }
                    if (SQLitePCL.raw.sqlite3_column_type(statement, 1) == SQLitePCL.raw.SQLITE_NULL)
                        throw new InvalidOperationException("a version row has no version number");
                    var version = checked((int)SQLitePCL.raw.sqlite3_column_int64(statement, 1));
                    result[name] = Decrypt(name, version, Blob(statement, 2), Blob(statement, 3));
                }
                if (rc != SQLitePCL.raw.SQLITE_DONE) SqliteException.ThrowExceptionForRC(rc, db);
            }
            catch
            {
                foreach (var value in result.Values) value.Dispose();
                throw;
            }
        }
        return result;
    }

    /// <summary>A BLOB column's bytes; any other storage class is a value of the wrong type (a ciphertext stored as TEXT),
    /// the InvalidCastException the cast of <see cref="SqliteDataReader.GetValue"/> gave.</summary>
    private static ReadOnlySpan<byte> Blob(SQLitePCL.sqlite3_stmt statement, int column) =>
        SQLitePCL.raw.sqlite3_column_type(statement, column) == SQLitePCL.raw.SQLITE_BLOB
            ? SQLitePCL.raw.sqlite3_column_blob(statement, column)
            : throw new InvalidCastException("a version's nonce or ciphertext is not a BLOB");

    private Secret Decrypt(string name, int version, ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> ciphertext) =>
        _keys.Decrypt(name, version, nonce, ciphertext)
        ?? throw ErrorCodes.StoreTampered.Exception($"version {version} of '{name}' does not authenticate under this store's key (altered, or copied from another row or store)");

    public Task<CredentialVersion> PutAsync(NewVersion version, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(version.Name);
        ArgumentException.ThrowIfNullOrWhiteSpace(version.Kind);
        return WriteAsync(() =>
        {
            _sealDirty = true;
            var number = checked((int)(long)Command("SELECT COALESCE(MAX(version), 0) + 1 FROM versions WHERE name = $name;", ("$name", version.Name)).ExecuteScalar()!);
            if (version.State == VersionState.Active && number > 1)
            {
                Demote(version.Name, number);
            }
            var value = version.Value.Reveal();
            var (nonce, ciphertext) = _keys.Encrypt(version.Name, number, value);
            var fingerprint = _keys.Fingerprint(value);
            var metadata = new SortedDictionary<string, string>(version.Metadata.ToDictionary(), StringComparer.Ordinal);
            Command($"INSERT INTO versions ({VersionColumns}, nonce, ciphertext) VALUES ($name, $version, $kind, $state, $created, $expires, $origin, $metadata, $fingerprint, $nonce, $ciphertext);",
                ("$name", version.Name), ("$version", number), ("$kind", version.Kind), ("$state", StateText(version.State)),
                ("$created", StoreTime.Format(version.CreatedAt)), ("$expires", version.ExpiresAt is { } e ? StoreTime.Format(e) : null),
                ("$origin", version.Origin), ("$metadata", JsonSerializer.Serialize(metadata, StoreJsonContext.Default.SortedDictionaryStringString)),
                ("$fingerprint", fingerprint), ("$nonce", nonce), ("$ciphertext", ciphertext)).ExecuteNonQuery();
            return new CredentialVersion(version.Name, number, version.Kind, version.State, version.CreatedAt, version.ExpiresAt,
                fingerprint, version.Origin, metadata);
        }, cancellationToken);
    }

    /// <summary>Before <paramref name="except"/> becomes active: the old Previous is retired, the old Active becomes Previous.</summary>
    private void Demote(string name, int except)
    {
        Command("UPDATE versions SET state = 'retired' WHERE name = $name AND state = 'previous' AND version <> $except;",
            ("$name", name), ("$except", except)).ExecuteNonQuery();
        Command("UPDATE versions SET state = 'previous' WHERE name = $name AND state = 'active' AND version <> $except;",
            ("$name", name), ("$except", except)).ExecuteNonQuery();
    }

    public Task SetStateAsync(string name, int version, VersionState state, CancellationToken cancellationToken) =>
        WriteAsync(() =>
        {
            var current = Command("SELECT state FROM versions WHERE name = $name AND version = $version;", ("$name", name), ("$version", version)).ExecuteScalar();
            if (current is not string text)
            {
                throw ErrorCodes.StoreVersionMissing.Exception($"credential '{name}' has no version {version} in the store");
            }
            if (ParseState(text) == state) return;
            _sealDirty = true;
            if (state == VersionState.Active)
            {
                Demote(name, version);
            }
            Command("UPDATE versions SET state = $state WHERE name = $name AND version = $version;",
                ("$state", StateText(state)), ("$name", name), ("$version", version)).ExecuteNonQuery();
        }, cancellationToken);

    public Task SetMetadataAsync(string name, int version, IReadOnlyDictionary<string, string> metadata, DateTimeOffset? expiresAt, CancellationToken cancellationToken)
    {
        var json = JsonSerializer.Serialize(new SortedDictionary<string, string>(metadata.ToDictionary(), StringComparer.Ordinal), StoreJsonContext.Default.SortedDictionaryStringString);
        return WriteAsync(() =>
        {
            _sealDirty = true;
            var changed = Command("UPDATE versions SET metadata = $metadata, expires = $expires WHERE name = $name AND version = $version;",
                ("$metadata", json), ("$expires", expiresAt is { } e ? StoreTime.Format(e) : null), ("$name", name), ("$version", version)).ExecuteNonQuery();
            if (changed == 0)
            {
                throw ErrorCodes.StoreVersionMissing.Exception($"credential '{name}' has no version {version} in the store");
            }
        }, cancellationToken);
    }

    private static string StateText(VersionState state) => VersionStateText.Format(state);

    private static VersionState ParseState(string text) => VersionStateText.Parse(text);

    private static IReadOnlyDictionary<string, string> ParseMetadata(string json) => StoredMetadata.Parse(json);

    // ---------------------------------------------------------------- ledger

    public Task RecordTokenAsync(LedgerEntry entry, CancellationToken cancellationToken) =>
        WriteAsync(() =>
        {
            _sealDirty = true;
            try
            {
                Command("""
                    INSERT INTO ledger (token_id, credential, version, subject, permissions, issued, expires, fingerprint, signed_by, signed_by_version, revoked)
                    VALUES ($id, $credential, $version, $subject, $permissions, $issued, $expires, $fingerprint, $signedBy, $signedByVersion, $revoked);
                    """,
                    ("$id", entry.TokenId), ("$credential", entry.Credential), ("$version", entry.Version), ("$subject", entry.Subject),
                    ("$permissions", entry.PermissionsSummary), ("$issued", StoreTime.Format(entry.IssuedAt)), ("$expires", StoreTime.Format(entry.ExpiresAt)),
                    ("$fingerprint", entry.Fingerprint), ("$signedBy", entry.SignedBy), ("$signedByVersion", entry.SignedByVersion),
                    ("$revoked", entry.RevokedAt is { } r ? StoreTime.Format(r) : null)).ExecuteNonQuery();
            }
            catch (SqliteException e) when (SqliteErrors.IsUniqueViolation(e))
            {
                throw ErrorCodes.StoreDuplicateToken.Exception($"token id '{entry.TokenId}' is already in the ledger");
            }
        }, cancellationToken);

    public Task<IReadOnlyList<LedgerEntry>> ListLedgerAsync(CancellationToken cancellationToken) =>
        ReadAsync<IReadOnlyList<LedgerEntry>>(() =>
        {
            var list = new List<LedgerEntry>();
            using var reader = Command("""
                SELECT token_id, credential, version, subject, permissions, issued, expires, fingerprint, signed_by, signed_by_version, revoked
                FROM ledger ORDER BY issued, token_id;
                """).ExecuteReader();
            while (reader.Read())
            {
                list.Add(new LedgerEntry(reader.GetString(0), reader.GetString(1), reader.GetInt32(2), reader.GetString(3), reader.GetString(4),
                    StoreTime.Parse(reader.GetString(5)), StoreTime.Parse(reader.GetString(6)), reader.GetString(7), reader.GetString(8),
                    reader.GetInt32(9), reader.IsDBNull(10) ? null : StoreTime.Parse(reader.GetString(10))));
            }
            return list;
        }, cancellationToken);

    public Task RevokeTokenAsync(string tokenId, DateTimeOffset at, CancellationToken cancellationToken) =>
        WriteAsync(() =>
        {
            // The first revocation time stands; revoking again is a no-op.
            _sealDirty = true;
            var exists = Command("SELECT count(*) FROM ledger WHERE token_id = $id;", ("$id", tokenId)).ExecuteScalar() is long n && n > 0;
            if (!exists)
            {
                throw ErrorCodes.StoreTokenMissing.Exception($"token id '{tokenId}' is not in the ledger");
            }
            Command("UPDATE ledger SET revoked = $at WHERE token_id = $id AND revoked IS NULL;", ("$at", StoreTime.Format(at)), ("$id", tokenId)).ExecuteNonQuery();
        }, cancellationToken);

    // ---------------------------------------------------------------- audit

    public Task AppendAuditAsync(AuditEvent auditEvent, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(auditEvent.Actor);
        ArgumentException.ThrowIfNullOrWhiteSpace(auditEvent.Action);
        return WriteAsync(() => AppendAudit(auditEvent), cancellationToken);
    }

    private void AppendAudit(AuditEvent auditEvent)
    {
        _sealDirty = true;
        var head = CurrentHead();
        var sequence = head.Sequence + 1;
        var hash = AuditChain.Hash(_keys.AuditKey, head.Hash, sequence, auditEvent);
        Command("""
            INSERT INTO audit (seq, at, actor, action, credential, version, fingerprint, detail, prev_hash, hash)
            VALUES ($seq, $at, $actor, $action, $credential, $version, $fingerprint, $detail, $prev, $hash);
            """,
            ("$seq", sequence), ("$at", StoreTime.Format(auditEvent.At)), ("$actor", auditEvent.Actor), ("$action", auditEvent.Action),
            ("$credential", auditEvent.Credential), ("$version", auditEvent.Version), ("$fingerprint", auditEvent.Fingerprint),
            ("$detail", auditEvent.Detail), ("$prev", head.Hash), ("$hash", hash)).ExecuteNonQuery();
        _headMoved = AuditHead.Create(_keys.AuditKey, sequence, hash);
        WriteMeta(StoreMetaKeys.AuditHead, _headMoved.ToString());
    }

    /// <summary>After a commit that moved the audit head: its copy outside the database (<see cref="StateAnchor"/>). The
    /// commit stands whatever happens here; a copy that cannot be written only means a later rollback goes unnoticed.</summary>
    private void AnchorHead()
    {
        if (_headMoved is not { } head) return;
        _headMoved = null;
        try
        {
            StateAnchor.Write(Path.GetDirectoryName(Path.GetFullPath(_path))!, head);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }

    /// <summary>The chain continues from the head in meta (not from the last row), so a deleted newest row leaves a visible gap.</summary>
    private AuditHead CurrentHead()
    {
        var head = AuditHead.TryParse(Command("SELECT value FROM meta WHERE key = $k;", ("$k", StoreMetaKeys.AuditHead)).ExecuteScalar() as string);
        if (head is not null) return head;
        using var reader = Command("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1;").ExecuteReader();
        return reader.Read() ? AuditHead.Create(_keys.AuditKey, reader.GetInt64(0), reader.GetString(1)) : AuditHead.Empty(_keys.AuditKey);
    }

    private void WriteMeta(string key, object value) =>
        Command("INSERT INTO meta (key, value) VALUES ($k, $v) ON CONFLICT (key) DO UPDATE SET value = excluded.value;", ("$k", key), ("$v", value)).ExecuteNonQuery();

    public Task<IReadOnlyList<AuditRecord>> ReadAuditAsync(DateTimeOffset? since, CancellationToken cancellationToken) =>
        ReadAsync(() => ReadAuditRows(since), cancellationToken);

    private IReadOnlyList<AuditRecord> ReadAuditRows(DateTimeOffset? since)
    {
        var list = new List<AuditRecord>();
        using var reader = (since is { } s
            ? Command("SELECT seq, at, actor, action, credential, version, fingerprint, detail, prev_hash, hash FROM audit WHERE at >= $since ORDER BY seq;", ("$since", StoreTime.Format(s)))
            : Command("SELECT seq, at, actor, action, credential, version, fingerprint, detail, prev_hash, hash FROM audit ORDER BY seq;")).ExecuteReader();
        while (reader.Read())
        {
            var auditEvent = new AuditEvent(StoreTime.Parse(reader.GetString(1)), reader.GetString(2), reader.GetString(3), reader.GetString(4),
                reader.IsDBNull(5) ? null : reader.GetInt32(5), reader.IsDBNull(6) ? null : reader.GetString(6), reader.IsDBNull(7) ? null : reader.GetString(7));
            list.Add(new AuditRecord(reader.GetInt64(0), auditEvent, reader.GetString(8), reader.GetString(9)));
        }
        return list;
    }

    public Task<IReadOnlyList<string>> VerifyAuditAsync(CancellationToken cancellationToken) =>
        ReadAsync<IReadOnlyList<string>>(() =>
        {
            IReadOnlyList<AuditRecord> rows;
            try
            {
                rows = ReadAuditRows(null);
            }
            catch (FormatException)
            {
                return ["an audit entry has a malformed time: the log was edited outside Keyward"];
            }
            var headText = Command("SELECT value FROM meta WHERE key = $k;", ("$k", StoreMetaKeys.AuditHead)).ExecuteScalar() as string;
            var versions = rows.Count == 0 && headText is null
                ? (long)Command("SELECT count(*) FROM versions;").ExecuteScalar()!
                : 0;
            return AuditVerifier.Verify(_keys.AuditKey, rows, headText, versions);
        }, cancellationToken);

    // ---------------------------------------------------------------- sinks

    public Task<IReadOnlyList<SinkRecord>> ListSinksAsync(CancellationToken cancellationToken) =>
        ReadAsync<IReadOnlyList<SinkRecord>>(() =>
        {
            var list = new List<SinkRecord>();
            using var reader = Command("SELECT name, path, content_fingerprint, written FROM sinks ORDER BY name;").ExecuteReader();
            while (reader.Read())
            {
                list.Add(new SinkRecord(reader.GetString(0), reader.GetString(1), reader.GetString(2), StoreTime.Parse(reader.GetString(3))));
            }
            return list;
        }, cancellationToken);

    public Task PutSinkAsync(SinkRecord sink, CancellationToken cancellationToken) =>
        WriteAsync(() => Command("""
            INSERT INTO sinks (name, path, content_fingerprint, written) VALUES ($name, $path, $fp, $at)
            ON CONFLICT (name) DO UPDATE SET path = excluded.path, content_fingerprint = excluded.content_fingerprint, written = excluded.written;
            """,
            ("$name", sink.Name), ("$path", sink.Path), ("$fp", sink.ContentFingerprint), ("$at", StoreTime.Format(sink.WrittenAt))).ExecuteNonQuery(),
            cancellationToken);

    // ---------------------------------------------------------------- journal

    public Task<long> BeginJournalAsync(string operation, string intent, DateTimeOffset at, CancellationToken cancellationToken) =>
        WriteAsync(() => (long)Command("INSERT INTO journals (operation, status, intent, started) VALUES ($op, $status, $intent, $at) RETURNING id;",
            ("$op", operation), ("$status", JournalStatuses.Open), ("$intent", intent), ("$at", StoreTime.Format(at))).ExecuteScalar()!,
            cancellationToken, durable: true);

    public Task AppendJournalStepAsync(long journalId, string kind, string target, string status, string? data, DateTimeOffset at, CancellationToken cancellationToken) =>
        WriteAsync(() =>
        {
            RequireOpenJournal(journalId);
            var step = (long)Command("SELECT COALESCE(MAX(step), 0) + 1 FROM journal_steps WHERE journal_id = $id;", ("$id", journalId)).ExecuteScalar()!;
            Command("INSERT INTO journal_steps (journal_id, step, kind, target, status, data, at) VALUES ($id, $step, $kind, $target, $status, $data, $at);",
                ("$id", journalId), ("$step", step), ("$kind", kind), ("$target", target), ("$status", status), ("$data", data),
                ("$at", StoreTime.Format(at))).ExecuteNonQuery();
        }, cancellationToken, durable: true);

    public Task SetJournalStatusAsync(long journalId, string status, CancellationToken cancellationToken) =>
        WriteAsync(() =>
        {
            RequireOpenJournal(journalId);
            Command("UPDATE journals SET status = $status WHERE id = $id;", ("$status", status), ("$id", journalId)).ExecuteNonQuery();
        }, cancellationToken, durable: true);

    private void RequireOpenJournal(long journalId)
    {
        var status = Command("SELECT status FROM journals WHERE id = $id;", ("$id", journalId)).ExecuteScalar() as string;
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
        ReadAsync<IReadOnlyList<JournalRecord>>(() =>
        {
            var steps = new Dictionary<long, List<JournalStep>>();
            using (var reader = Command("""
                SELECT s.journal_id, s.step, s.kind, s.target, s.status, s.data, s.at FROM journal_steps s JOIN journals j ON j.id = s.journal_id
                WHERE NOT $openOnly OR j.status NOT IN ('committed', 'aborted') ORDER BY s.journal_id, s.step;
                """, ("$openOnly", openOnly)).ExecuteReader())
            {
                while (reader.Read())
                {
                    var id = reader.GetInt64(0);
                    if (!steps.TryGetValue(id, out var list)) steps[id] = list = [];
                    list.Add(new JournalStep(id, reader.GetInt32(1), reader.GetString(2), reader.GetString(3), reader.GetString(4),
                        reader.IsDBNull(5) ? null : reader.GetString(5), StoreTime.Parse(reader.GetString(6))));
                }
            }
            var journals = new List<JournalRecord>();
            using (var reader = Command("SELECT id, operation, status, intent, started FROM journals WHERE NOT $openOnly OR status NOT IN ('committed', 'aborted') ORDER BY id;", ("$openOnly", openOnly)).ExecuteReader())
            {
                while (reader.Read())
                {
                    var id = reader.GetInt64(0);
                    journals.Add(new JournalRecord(id, reader.GetString(1), reader.GetString(2), reader.GetString(3), StoreTime.Parse(reader.GetString(4)),
                        steps.TryGetValue(id, out var list) ? list : []));
                }
            }
            return journals;
        }, cancellationToken);

    // ---------------------------------------------------------------- state seal

    private string? ReadMetaText(string key) => Command("SELECT value FROM meta WHERE key = $k;", ("$k", key)).ExecuteScalar() as string;

    /// <summary>The seal of the rows as this transaction sees them; the version rows go to <paramref name="versionRows"/> too when given.</summary>
    private StateSeal ComputeSeal(SealedVersions? versionRows = null)
    {
        var seal = new StateSeal(_keys.AuditKey, ReadMetaText(StoreMetaKeys.AuditHead));
        try
        {
            SealRows(seal, StateSeal.SqliteVersionRows, versionRows is null ? null : versionRows.Add);
            SealRows(seal, StateSeal.SqliteLedgerRows, null);
            return seal;
        }
        catch
        {
            seal.Dispose();
            throw;
        }
    }

    /// <summary>One column's text as SQLite holds it; a null pointer for NULL.</summary>
    private readonly unsafe struct RawColumn(byte* text, int length)
    {
        public bool IsNull => text == null;

        public ReadOnlySpan<byte> Text => new(text, length);
    }

    /// <summary>One row of a raw statement: each column's UTF-8 text as SQLite gives it (sqlite3_column_text, what
    /// <see cref="SqliteDataReader.GetString"/> decodes), read once per column and valid until the next step.</summary>
    private readonly ref struct RawRow(ReadOnlySpan<RawColumn> columns)
    {
        private readonly ReadOnlySpan<RawColumn> _columns = columns;

        public bool IsNull(int column) => _columns[column].IsNull;

        public ReadOnlySpan<byte> Text(int column) => _columns[column].Text;
    }

    private delegate void RawRowHandler(RawRow row);

    /// <summary>sqlite3_column_text without its terminator, then sqlite3_column_bytes, as SQLite's documentation orders
    /// them; the null pointer for NULL (and for out of memory, which <c>utf8_to_string</c> also read as null).</summary>
    private static unsafe RawColumn ReadColumn(SQLitePCL.sqlite3_stmt statement, int column)
    {
        var z = SQLitePCL.raw.sqlite3_column_text(statement, column);
        fixed (byte* text = z)
        {
            // The pointer is SQLite's own (the span wraps it), valid until the next step: fixed pins nothing here.
            return text == null ? default : new RawColumn(text, SQLitePCL.raw.sqlite3_column_bytes(statement, column));
        }
    }

    /// <summary>Seals every row of <paramref name="sql"/> (one of <see cref="StateSeal"/>'s queries) straight from SQLite's
    /// text, on this connection and so inside its open transaction, and hands each row to <paramref name="onRow"/>.
    /// Each column is one sqlite3_column_text and one sqlite3_column_bytes: a NULL gives the null pointer, exactly the
    /// null that IsDBNull (or a text that came back null) made the seal write before.</summary>
    private void SealRows(StateSeal seal, string sql, RawRowHandler? onRow)
    {
        var db = _connection.Handle!;
        var rc = SQLitePCL.raw.sqlite3_prepare_v2(db, sql, out var statement);
        SqliteException.ThrowExceptionForRC(rc, db);
        using (statement)
        {
            var count = SQLitePCL.raw.sqlite3_column_count(statement);
            Span<RawColumn> columns = count <= 16 ? stackalloc RawColumn[count] : new RawColumn[count];
            while ((rc = SQLitePCL.raw.sqlite3_step(statement)) == SQLitePCL.raw.SQLITE_ROW)
            {
                seal.BeginRow();
                for (var i = 0; i < count; i++)
                {
                    var column = columns[i] = ReadColumn(statement, i);
                    if (column.IsNull) seal.NullField();
                    else seal.Field(column.Text);
                }
                onRow?.Invoke(new RawRow(columns));
            }
            if (rc != SQLitePCL.raw.SQLITE_DONE) SqliteException.ThrowExceptionForRC(rc, db);
            seal.EndRows();
        }
    }

    /// <summary>At the end of a write transaction that changed versions, tokens or the audit log: the seal of the rows as
    /// they will be committed.</summary>
    private void SealIfDirty()
    {
        if (!_sealDirty) return;
        using (var seal = ComputeSeal()) WriteMeta(StoreMetaKeys.StateSeal, seal.Finish());
        _sealDirty = false;
    }

    public async Task VerifySealAsync(CancellationToken cancellationToken)
    {
        var check = await ReadAsync(() =>
        {
            // One snapshot: a writer committing between the reads would otherwise look like tampering.
            using var snapshot = _connection.BeginTransaction(System.Data.IsolationLevel.Serializable, deferred: true);
            _activeTransaction = snapshot;
            try
            {
                var stored = ReadMetaText(StoreMetaKeys.StateSeal);
                var head = ReadMetaText(StoreMetaKeys.AuditHead);
                StateAnchor.Check(Path.GetDirectoryName(Path.GetFullPath(_path))!, head, _path);
                var rows = new SealedVersions();
                using var seal = ComputeSeal(rows);
                rows.Finish();
                var result = StateSeal.Check(_keys.AuditKey, stored, seal, head, _path);
                // Only rows the seal vouched for are kept (an unsealed legacy store is sealed next, by a write).
                if (result == SealCheck.Intact) (_sealedVersionRows, _sealedRowsSeal) = (rows, stored);
                return result;
            }
            finally
            {
                _activeTransaction = null;
            }
        }, cancellationToken).ConfigureAwait(false);
        if (check != SealCheck.Unsealed) return;
        // Made before the seal existed: seal it, once its audit chain shows nothing was edited since.
        var problems = await VerifyAuditAsync(cancellationToken).ConfigureAwait(false);
        if (problems.Count > 0)
        {
            throw ErrorCodes.AuditTampered.Exception($"{_path} holds credentials but no state seal, and its audit log is not intact: {problems[0]}",
                "restore the state directory from a backup and investigate who could write keyward.db");
        }
        await WriteAsync(() =>
        {
            // The head again, under the sealed label: from here on a missing seal is tampering.
            var head = CurrentHead();
            _headMoved = AuditHead.Create(_keys.AuditKey, head.Sequence, head.Hash);
            WriteMeta(StoreMetaKeys.AuditHead, _headMoved.ToString());
            _sealDirty = true;
        }, cancellationToken).ConfigureAwait(false);
    }

    // ---------------------------------------------------------------- keys and lifetime

    /// <summary>Replaces the wrapped data key and the recipient list (after <see cref="OpenedState.AddRecipientsAsync"/> rewrapped it).</summary>
    public Task ReplaceWrappedKeyAsync(byte[] wrapped, IReadOnlyList<string> recipients, CancellationToken cancellationToken) =>
        WriteAsync(() =>
        {
            WriteMeta(StoreMetaKeys.WrappedDataKey, wrapped);
            WriteMeta(StoreMetaKeys.Recipients, string.Join('\n', recipients));
        }, cancellationToken);

    public async Task ReleaseWriterLockAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            // The flock is held by the OpenedState; every write of this connection is committed once no transaction is open.
            if (_userTransaction is not null) throw new InvalidOperationException("the writer lock cannot be released inside a store transaction");
        }
        finally
        {
            _gate.Release();
        }
    }

    internal Task<IReadOnlyList<string>> RecipientsAsync(CancellationToken cancellationToken) =>
        ReadAsync<IReadOnlyList<string>>(() =>
            (Command("SELECT value FROM meta WHERE key = $k;", ("$k", StoreMetaKeys.Recipients)).ExecuteScalar() as string ?? "")
                .Split('\n', StringSplitOptions.RemoveEmptyEntries), cancellationToken);

    public async ValueTask DisposeAsync()
    {
        if (_disposed) return;
        await _gate.WaitAsync().ConfigureAwait(false);
        try
        {
            _disposed = true;
            _userTransaction?.Dispose();
            foreach (var command in _commands.Values) command.Dispose();
            _commands.Clear();
            await _connection.DisposeAsync().ConfigureAwait(false);
            _keys.Dispose();
        }
        finally
        {
            _gate.Release();
        }
    }
}
