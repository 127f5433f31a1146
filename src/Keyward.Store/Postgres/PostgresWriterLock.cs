using System.Globalization;
using Keyward.Core.Errors;
using Npgsql;

namespace Keyward.Store.Postgres;

/// <summary>
/// One writer at a time across every replica of a PostgreSQL store: the equivalent of the state directory's flock
/// (<see cref="StateLock"/>), held from before a writer reads the state it decides on until its last write. A
/// session-level advisory lock (<c>pg_try_advisory_lock</c>) taken on the store's own unpooled connection, so the lock
/// and the writes share one session: if the connection breaks, the writer loses the lock and its ability to write at
/// the same moment (no writes after the lock is gone), and PostgreSQL releases the lock of a killed writer at once.
/// Disposing is a no-op: closing the store closes the session, which releases the lock.
/// </summary>
internal sealed class PostgresWriterLock : IDisposable
{
    public static readonly long Key = PostgresSchema.LockKey("keyward/store/v1 writer");

    private PostgresWriterLock()
    {
    }

    /// <summary>Waits up to <see cref="StateLockOptions.Timeout"/> for the lock; KW0317 naming the holder's session when it gives up.</summary>
    public static async Task<PostgresWriterLock> AcquireAsync(NpgsqlConnection connection, string display, StateLockOptions options, CancellationToken ct)
    {
        // Wall-clock on purpose: a writer waits for a real process, whatever clock the caller plans with.
        var clock = TimeProvider.System;
        var started = clock.GetTimestamp();
        var delay = TimeSpan.FromMilliseconds(5);
        var told = false;
        while (!await TryLockAsync(connection, Key, ct).ConfigureAwait(false))
        {
            var waited = clock.GetElapsedTime(started);
            if (waited >= options.Timeout)
                throw ErrorCodes.StateLockTimeout.Exception(
                    $"gave up after {Seconds(options.Timeout)} waiting for the writer lock of {display}, held by {await HolderAsync(connection, Key, ct).ConfigureAwait(false)}");
            if (!told)
            {
                options.Waiting?.Invoke($"waiting up to {Seconds(options.Timeout)} for the writer lock of {display}, held by {await HolderAsync(connection, Key, ct).ConfigureAwait(false)}");
                told = true;
            }
            var left = options.Timeout - waited;
            await Task.Delay(delay < left ? delay : left, ct).ConfigureAwait(false);
            if (delay < TimeSpan.FromMilliseconds(100)) delay *= 2;
        }
        // Named for the next waiter's message (pg_stat_activity.application_name).
        await using (var name = new NpgsqlCommand("SELECT set_config('application_name', @name, false);", connection))
        {
            name.Parameters.AddWithValue("name", Truncate($"keyward {options.Purpose} (pid {Environment.ProcessId.ToString(CultureInfo.InvariantCulture)})"));
            await name.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }
        return new PostgresWriterLock();
    }

    internal static async Task<bool> TryLockAsync(NpgsqlConnection connection, long key, CancellationToken ct)
    {
        await using var command = new NpgsqlCommand("SELECT pg_try_advisory_lock(@k);", connection);
        command.Parameters.AddWithValue("k", key);
        return (bool)(await command.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
    }

    /// <summary>Who holds an advisory lock: pg_locks shows a bigint key as classid (high 32 bits), objid (low), objsubid 1.</summary>
    internal static async Task<string> HolderAsync(NpgsqlConnection connection, long key, CancellationToken ct)
    {
        await using var command = new NpgsqlCommand("""
            SELECT a.pid, a.application_name, COALESCE(host(a.client_addr), 'local socket'), to_char(a.backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
            FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
            WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
              AND l.classid::bigint = @hi AND l.objid::bigint = @lo
            LIMIT 1;
            """, connection);
        command.Parameters.AddWithValue("hi", (long)(uint)(key >> 32));
        command.Parameters.AddWithValue("lo", (long)(uint)key);
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        if (!await reader.ReadAsync(ct).ConfigureAwait(false)) return "another session";
        return string.Create(CultureInfo.InvariantCulture,
            $"backend pid {reader.GetInt32(0)} ({(reader.IsDBNull(1) ? "?" : reader.GetString(1))}, {reader.GetString(2)}) connected since {reader.GetString(3)}");
    }

    private static string Truncate(string s) => s.Length <= 60 ? s : s[..60];

    private static string Seconds(TimeSpan t) => string.Create(CultureInfo.InvariantCulture, $"{t.TotalSeconds:0.###} s");

    public void Dispose()
    {
    }
}
