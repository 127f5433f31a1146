using Keyward.Store.Postgres;
using Npgsql;

namespace Keyward.Store.Leader;

/// <summary>
/// Leader election on a PostgreSQL store: a session-level <c>pg_try_advisory_lock</c> (key derived from the store id)
/// held on a dedicated, unpooled connection. The lock lives exactly as long as that session: a killed leader's session
/// ends and PostgreSQL releases the lock at once, so another replica takes it on its next try — no lease to expire.
/// A pooled connection would not do: Npgsql keeps a closed pooled session (and its locks) open until its next use.
/// The holder detects loss when a round trip on the lock's connection fails (<see cref="CheckAsync"/>), then stops
/// acting; the next <see cref="TryAcquireAsync"/> opens a fresh connection and competes again. A frozen host or a
/// network partition is detected by the server only after TCP keepalive gives up (docs/store.md).
/// </summary>
public sealed class PostgresLeaderLock : ILeaderLock
{
    private readonly PostgresConnection _store;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private NpgsqlDataSource? _dataSource;
    private NpgsqlConnection? _connection;
    private bool _held;
    private bool _disposed;

    public PostgresLeaderLock(PostgresConnection store, string storeId)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentException.ThrowIfNullOrWhiteSpace(storeId);
        _store = store;
        Key = KeyFor(storeId);
    }

    /// <summary>The advisory lock key: the first 8 bytes of SHA-256("keyward/leader/v1 " + store id).</summary>
    public long Key { get; }

    public static long KeyFor(string storeId) => PostgresSchema.LockKey("keyward/leader/v1 " + storeId);

    /// <summary>The backend pid of the lock's session (for tests and diagnostics), or null when not connected.</summary>
    public int? BackendProcessId => _connection is { FullState: System.Data.ConnectionState.Open } c ? c.ProcessID : null;

    public bool IsHeld => _held && _connection is { FullState: System.Data.ConnectionState.Open };

    public async Task<bool> TryAcquireAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_held) return await PingAsync(cancellationToken).ConfigureAwait(false); // advisory locks are re-entrant: never take it twice
            try
            {
                if (_connection is not { FullState: System.Data.ConnectionState.Open })
                {
                    await DropConnectionAsync().ConfigureAwait(false);
                    _dataSource = _store.CreateDataSource();
                    _connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
                }
                _held = await PostgresWriterLock.TryLockAsync(_connection, Key, cancellationToken).ConfigureAwait(false);
                return _held;
            }
            catch (Exception e) when (PostgresErrors.IsTranslatable(e))
            {
                await DropConnectionAsync().ConfigureAwait(false);
                return false;
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    public async Task<bool> CheckAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return _held && await PingAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>A round trip on the lock's session; a broken session means the lock is gone.</summary>
    private async Task<bool> PingAsync(CancellationToken cancellationToken)
    {
        try
        {
            await using var command = new NpgsqlCommand("SELECT 1;", _connection);
            await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (Exception e) when (PostgresErrors.IsTranslatable(e) || e is InvalidOperationException)
        {
            _held = false;
            await DropConnectionAsync().ConfigureAwait(false);
            return false;
        }
    }

    public async Task ReleaseAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            _held = false;
            await DropConnectionAsync().ConfigureAwait(false); // ending the session releases every lock it holds
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task DropConnectionAsync()
    {
        _held = false;
        if (_connection is not null)
        {
            try
            {
                // Closing ends the session, but the server releases its locks only once the backend has exited:
                // unlock first, so another replica can take the lock the moment this returns.
                if (_connection.FullState == System.Data.ConnectionState.Open)
                {
                    await using var unlock = new NpgsqlCommand("SELECT pg_advisory_unlock_all();", _connection);
                    await unlock.ExecuteNonQueryAsync().ConfigureAwait(false);
                }
            }
            catch (Exception e) when (PostgresErrors.IsTranslatable(e) || e is IOException or InvalidOperationException)
            {
                // a broken session has released it already
            }
            try
            {
                await _connection.DisposeAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (PostgresErrors.IsTranslatable(e) || e is IOException)
            {
                // already broken
            }
            _connection = null;
        }
        if (_dataSource is not null)
        {
            await _dataSource.DisposeAsync().ConfigureAwait(false);
            _dataSource = null;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_disposed) return;
        await _gate.WaitAsync().ConfigureAwait(false);
        try
        {
            _disposed = true;
            await DropConnectionAsync().ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }
}
