using Npgsql;

namespace Keyward.Store.Tests.Support;

/// <summary>Drops a test database at the end of a test (shared by the Store, Server and CLI tests, which link this file).</summary>
internal static class TestDatabaseDrop
{
    /// <summary>
    /// FORCE refuses (42501) while a backend of another role — an autovacuum worker — is still in the database, and a plain
    /// DROP refuses (55006) while any session is; both pass once it leaves, so this retries for a few seconds. The cluster
    /// is thrown away after the run, so a database that still cannot be dropped is left to it rather than failing a test
    /// that already passed.
    /// </summary>
    public static async Task DropAsync(NpgsqlConnection admin, string name)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                await using var command = new NpgsqlCommand($"DROP DATABASE IF EXISTS {name} WITH (FORCE);", admin);
                await command.ExecuteNonQueryAsync();
                return;
            }
            catch (PostgresException e) when (e.SqlState is "42501" or "55006")
            {
                if (attempt >= 20) return;
                await Task.Delay(250);
            }
        }
    }
}
