using Keyward.Store.Sqlite;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Time.Testing;

namespace Keyward.Store.Tests.Support;

/// <summary>State directories with the fake key wrapping, and raw SQL access for tamper tests.</summary>
internal static class TestStates
{
    public static readonly FakeTimeProvider Time = new(new DateTimeOffset(2025, 3, 1, 12, 0, 0, TimeSpan.Zero));

    public static Task<OpenedState> InitAsync(string dir, CancellationToken ct, params string[] extraRecipients) =>
        StateDirectory.InitAsync(dir, extraRecipients, Time, new FakeDataKeyWrap(), ct);

    public static Task<OpenedState> OpenAsync(string dir, CancellationToken ct) =>
        StateDirectory.OpenAsync(dir, null, Time, new FakeDataKeyWrap(), ct);

    /// <summary>A second, raw connection to the database (what an attacker with write access to the file has).</summary>
    public static SqliteConnection Raw(string dir)
    {
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = Path.Combine(dir, StateDirectory.DatabaseFileName),
            Pooling = false,
            DefaultTimeout = 5,
        }.ToString());
        connection.Open();
        return connection;
    }

    public static int Exec(SqliteConnection connection, string sql, params (string Name, object? Value)[] parameters)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters) command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        return command.ExecuteNonQuery();
    }

    public static object? Scalar(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return command.ExecuteScalar();
    }

    public static string DirectoryOf(Keyward.Core.Store.ICredentialStore store) => Path.GetDirectoryName(((SqliteCredentialStore)store).DatabasePath)!;
}
