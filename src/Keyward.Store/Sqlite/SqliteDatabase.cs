using System.Globalization;
using Keyward.Core.Errors;
using Microsoft.Data.Sqlite;

namespace Keyward.Store.Sqlite;

/// <summary>Opening a store database file, its pragmas, migrations and meta rows (nothing that needs the data key).</summary>
internal static class SqliteDatabase
{
    /// <summary>How long a writer waits for another process's lock before failing with KW0308.</summary>
    public static readonly TimeSpan BusyTimeout = TimeSpan.FromSeconds(30);

    /// <summary>Opens <paramref name="path"/> (which must exist: the caller creates it 0600 first), sets WAL and
    /// synchronous=FULL, and migrates the schema to the latest version.</summary>
    public static SqliteConnection Open(string path, TimeProvider time)
    {
        var builder = new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWrite,
            Pooling = false, // one connection owned by the store; dispose really closes the file
            DefaultTimeout = (int)BusyTimeout.TotalSeconds,
        };
        var connection = new SqliteConnection(builder.ToString());
        try
        {
            connection.Open();
            Exec(connection, null, string.Create(CultureInfo.InvariantCulture, $"PRAGMA busy_timeout = {(int)BusyTimeout.TotalMilliseconds};"));
            Exec(connection, null, "PRAGMA journal_mode = WAL;");
            Exec(connection, null, "PRAGMA synchronous = FULL;");
            Exec(connection, null, "PRAGMA foreign_keys = ON;");
            Exec(connection, null, "PRAGMA secure_delete = ON;");
            Migrate(connection, path, time);
            return connection;
        }
        catch (SqliteException e)
        {
            connection.Dispose();
            throw SqliteErrors.Translate(e, path);
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    private static void Migrate(SqliteConnection connection, string path, TimeProvider time)
    {
        using var tx = connection.BeginTransaction(deferred: false);
        var tables = Scalar<long>(connection, tx, "SELECT count(*) FROM sqlite_master WHERE type = 'table';");
        var hasVersionTable = Scalar<long>(connection, tx, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_version';") == 1;
        if (!hasVersionTable && tables > 0)
        {
            throw ErrorCodes.StoreCorrupt.Exception($"{path} is a SQLite database but not a Keyward store (no schema_version table)");
        }
        var current = hasVersionTable ? Scalar<long>(connection, tx, "SELECT COALESCE(MAX(version), 0) FROM schema_version;") : 0;
        if (current > Schema.Latest)
        {
            throw ErrorCodes.StoreSchemaTooNew.Exception($"{path} has schema version {current}; this Keyward knows up to {Schema.Latest}");
        }
        foreach (var migration in Schema.Migrations.Where(m => m.Version > current))
        {
            Exec(connection, tx, migration.Sql);
            using var record = connection.CreateCommand();
            record.Transaction = tx;
            record.CommandText = "INSERT INTO schema_version (version, applied, description) VALUES ($v, $at, $d);";
            record.Parameters.AddWithValue("$v", migration.Version);
            record.Parameters.AddWithValue("$at", StoreTime.Format(time.GetUtcNow()));
            record.Parameters.AddWithValue("$d", migration.Description);
            record.ExecuteNonQuery();
        }
        tx.Commit();
    }

    public static int SchemaVersion(SqliteConnection connection) =>
        (int)Scalar<long>(connection, null, "SELECT COALESCE(MAX(version), 0) FROM schema_version;");

    public static object? ReadMeta(SqliteConnection connection, SqliteTransaction? tx, string key)
    {
        using var command = connection.CreateCommand();
        command.Transaction = tx;
        command.CommandText = "SELECT value FROM meta WHERE key = $k;";
        command.Parameters.AddWithValue("$k", key);
        var value = command.ExecuteScalar();
        return value is DBNull ? null : value;
    }

    public static void WriteMeta(SqliteConnection connection, SqliteTransaction? tx, string key, object value)
    {
        using var command = connection.CreateCommand();
        command.Transaction = tx;
        command.CommandText = "INSERT INTO meta (key, value) VALUES ($k, $v) ON CONFLICT (key) DO UPDATE SET value = excluded.value;";
        command.Parameters.AddWithValue("$k", key);
        command.Parameters.AddWithValue("$v", value);
        command.ExecuteNonQuery();
    }

    private static void Exec(SqliteConnection connection, SqliteTransaction? tx, string sql)
    {
        using var command = connection.CreateCommand();
        command.Transaction = tx;
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private static T Scalar<T>(SqliteConnection connection, SqliteTransaction? tx, string sql)
    {
        using var command = connection.CreateCommand();
        command.Transaction = tx;
        command.CommandText = sql;
        return (T)command.ExecuteScalar()!;
    }
}
