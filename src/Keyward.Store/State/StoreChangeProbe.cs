using Microsoft.Data.Sqlite;

namespace Keyward.Store;

/// <summary>
/// Tells cheaply whether anyone committed to the store since the last look: SQLite's <c>PRAGMA data_version</c> on a
/// connection of its own that never writes (the number changes when another connection — the CLI's <c>revoke</c>, the
/// server's own writers — commits). Used by the Attic gate to keep an in-memory snapshot exact on every request.
/// </summary>
public sealed class StoreChangeProbe : IDisposable
{
    private readonly SqliteConnection _connection;
    private readonly SqliteCommand _command;
    private readonly Lock _gate = new();

    private StoreChangeProbe(SqliteConnection connection)
    {
        _connection = connection;
        _command = connection.CreateCommand();
        _command.CommandText = "PRAGMA data_version;";
    }

    /// <summary>A probe for the opened state's store, or null when the store is not a SQLite file.</summary>
    public static StoreChangeProbe? TryOpen(OpenedState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (string.IsNullOrEmpty(state.DatabasePath) || !File.Exists(state.DatabasePath)) return null;
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = state.DatabasePath, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString());
        connection.Open();
        return new StoreChangeProbe(connection);
    }

    /// <summary>A number that differs from the previous call's whenever another connection committed in between.</summary>
    public long Read()
    {
        lock (_gate) return (long)_command.ExecuteScalar()!;
    }

    public void Dispose()
    {
        _command.Dispose();
        _connection.Dispose();
    }
}
