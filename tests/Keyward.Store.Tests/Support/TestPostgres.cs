using System.Security.Cryptography;
using Keyward.Store.Postgres;
using Npgsql;

namespace Keyward.Store.Tests.Support;

/// <summary>
/// The real PostgreSQL the store tests run against: <c>KEYWARD_TEST_POSTGRES</c> (a connection string to a role that
/// may CREATE DATABASE; test.sh starts a throwaway cluster and sets it). Unset: every PostgreSQL test is skipped, with
/// that reason, so a bare <c>dotnet test</c> still works.
/// </summary>
internal static class TestPostgres
{
    public const string Variable = "KEYWARD_TEST_POSTGRES";

    public static string? ConnectionString => Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } s ? s : null;

    public static string Required()
    {
        var s = ConnectionString;
        Assert.SkipWhen(s is null, $"{Variable} is not set: no PostgreSQL to test against (test.sh starts one; see docs/store.md)");
        return s!;
    }

    /// <summary>A new empty database (kw_test_&lt;random&gt;), dropped when the returned handle is disposed.</summary>
    public static async Task<TestDatabase> CreateDatabaseAsync(CancellationToken ct)
    {
        var admin = Required();
        var name = "kw_test_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
        await using (var connection = new NpgsqlConnection(admin))
        {
            await connection.OpenAsync(ct);
            await using var command = new NpgsqlCommand($"CREATE DATABASE {name};", connection);
            await command.ExecuteNonQueryAsync(ct);
        }
        return new TestDatabase(admin, name);
    }
}

internal sealed class TestDatabase(string admin, string name) : IAsyncDisposable
{
    public string Name => name;

    /// <summary>Npgsql key=value pairs for this database.</summary>
    public string ConnectionString => new NpgsqlConnectionStringBuilder(admin) { Database = name, Pooling = false }.ConnectionString;

    public PostgresConnection Connection => PostgresConnection.Parse(ConnectionString);

    public async Task<NpgsqlConnection> OpenRawAsync(CancellationToken ct)
    {
        var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync(ct);
        return connection;
    }

    public async Task<int> ExecAsync(string sql, CancellationToken ct)
    {
        await using var connection = await OpenRawAsync(ct);
        await using var command = new NpgsqlCommand(sql, connection);
        return await command.ExecuteNonQueryAsync(ct);
    }

    public async Task<object?> ScalarAsync(string sql, CancellationToken ct)
    {
        await using var connection = await OpenRawAsync(ct);
        await using var command = new NpgsqlCommand(sql, connection);
        return await command.ExecuteScalarAsync(ct);
    }

    public async ValueTask DisposeAsync()
    {
        await using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(admin) { Pooling = false }.ConnectionString);
        await connection.OpenAsync();
        await TestDatabaseDrop.DropAsync(connection, name);
    }
}
