using System.Security.Cryptography;
using Npgsql;

namespace Keyward.Cli.Tests;

/// <summary>
/// <c>--store</c> / <c>KEYWARD_STORE</c> on the commands that take <c>--state</c>, and <c>keyward store copy</c>, against a
/// real PostgreSQL (KEYWARD_TEST_POSTGRES, started by test.sh; skipped without it). Each test gets its own database.
/// </summary>
public sealed class PostgresStoreCommandTests : IAsyncDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("keyward-pg-cli-").FullName;
    private readonly List<string> _databases = [];
    private string P(string name) => Path.Combine(_dir, name);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static string Admin()
    {
        var s = Environment.GetEnvironmentVariable("KEYWARD_TEST_POSTGRES");
        Assert.SkipWhen(string.IsNullOrEmpty(s), "KEYWARD_TEST_POSTGRES is not set: no PostgreSQL to test against (test.sh starts one; see docs/store.md)");
        return s!;
    }

    /// <summary>A fresh database; returns its connection string as a postgres:// URI (the form users type).</summary>
    private async Task<string> NewDatabaseAsync()
    {
        var admin = Admin();
        var name = "kw_test_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
        await using (var connection = new NpgsqlConnection(admin))
        {
            await connection.OpenAsync(Ct);
            await using var command = new NpgsqlCommand($"CREATE DATABASE {name};", connection);
            await command.ExecuteNonQueryAsync(Ct);
        }
        _databases.Add(name);
        var b = new NpgsqlConnectionStringBuilder(admin);
        return $"postgres://{b.Username}@{b.Host}:{b.Port}/{name}";
    }

    public async ValueTask DisposeAsync()
    {
        if (_databases.Count > 0)
        {
            await using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(Admin()) { Pooling = false }.ConnectionString);
            await connection.OpenAsync();
            foreach (var name in _databases)
            {
                await Keyward.Store.Tests.Support.TestDatabaseDrop.DropAsync(connection, name);
            }
        }
        Directory.Delete(_dir, recursive: true);
    }

    private string Manifest()
    {
        File.WriteAllText(P("m.yaml"), "apiVersion: keyward/v1\ncredentials:\n  db: { kind: secret, bytes: 32, owner: o, purpose: p }\n  api: { kind: secret, bytes: 16, owner: o, purpose: p }\n");
        return P("m.yaml");
    }

    private static void Ok(CliResult r) => Assert.True(r.ExitCode == 0, r.ToString());

    [Fact]
    public async Task Apply_WithStore_KeepsTheIdentityInTheStateDirectory_AndTheRowsInPostgres()
    {
        var store = await NewDatabaseAsync();
        var cli = new CliHarness();
        var apply = await cli.RunAsync("apply", "-f", Manifest(), "--state", P("replica"), "--store", store, "--no-hooks");
        Ok(apply);
        Assert.Contains("initialised the store in postgres://", apply.Err, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(P("replica"), "identity.txt")));
        Assert.False(File.Exists(Path.Combine(P("replica"), "keyward.db")));

        var get = await cli.RunAsync("get", "db", "--state", P("replica"), "--store", store);
        Ok(get);
        Assert.Equal(32, get.StdOutBytes.Length);
        // KEYWARD_STORE is the default of --store.
        var viaEnv = new CliHarness();
        viaEnv.Env["KEYWARD_STORE"] = store;
        var again = await viaEnv.RunAsync("get", "db", "--state", P("replica"));
        Ok(again);
        Assert.Equal(get.StdOutBytes, again.StdOutBytes);
        var list = await viaEnv.RunAsync("list", "--state", P("replica"));
        Ok(list);
        Assert.Contains("api", list.Out, StringComparison.Ordinal);
        Ok(await viaEnv.RunAsync("audit", "verify", "--state", P("replica")));
        // A second apply on the same store plans nothing new.
        var second = await viaEnv.RunAsync("apply", "-f", P("m.yaml"), "--state", P("replica"), "--no-hooks");
        Ok(second);
        Assert.Equal(get.StdOutBytes, (await viaEnv.RunAsync("get", "db", "--state", P("replica"))).StdOutBytes);
    }

    [Theory]
    [InlineData("postgres://keyward:S3cret-PW-zz@db.example:notaport/keyward")]
    [InlineData("postgres://keyward:S3cret-PW-zz@db.example:5432/keyward?sslmode=sometimes")]
    [InlineData("postgres://keyward:S3cret-PW-zz@db.example:5432")]
    [InlineData("Host=db.example;Password=S3cret-PW-zz;Bogus Key=1")]
    [InlineData("Host=db.example;Password=S3cret-PW-zz")]
    public async Task Store_Malformed_IsKW0321WithAHint_AndNeverEchoesThePassword(string connection)
    {
        var cli = new CliHarness();
        var r = await cli.RunAsync("list", "--state", P("s"), "--store", connection);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("KW0321", r.Err, StringComparison.Ordinal);
        Assert.Contains("postgres://USER", r.Err, StringComparison.Ordinal); // the hint shows the accepted forms
        Assert.DoesNotContain("S3cret-PW-zz", cli.AllOutput.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Store_Unreachable_IsKW0322_NamingHostAndDatabase_NotThePassword()
    {
        var cli = new CliHarness();
        var r = await cli.RunAsync("list", "--state", P("s"), "--store", "postgres://keyward:S3cret-PW-zz@127.0.0.1:1/keyward?connect_timeout=5");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("KW0322", r.Err, StringComparison.Ordinal);
        Assert.Contains("postgres://keyward@127.0.0.1:1/keyward", r.Err, StringComparison.Ordinal);
        Assert.DoesNotContain("S3cret-PW-zz", cli.AllOutput.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task StoreCopy_SqliteToPostgresAndBack_ValuesEqual_AndAuditVerified_AndANonEmptyTargetRefused()
    {
        var store = await NewDatabaseAsync();
        var cli = new CliHarness();
        Ok(await cli.RunAsync("apply", "-f", Manifest(), "--state", P("a"), "--no-hooks"));
        var db = (await cli.RunAsync("get", "db", "--state", P("a"))).StdOutBytes;

        var there = await cli.RunAsync("store", "copy", "--from", P("a"), "--to", store);
        Ok(there);
        Assert.Contains("2 credentials (2 versions)", there.Out, StringComparison.Ordinal);
        Assert.Contains("audit verify on the target: intact", there.Out, StringComparison.Ordinal);
        Assert.Equal(db, (await cli.RunAsync("get", "db", "--state", P("a"), "--store", store)).StdOutBytes);
        Ok(await cli.RunAsync("audit", "verify", "--state", P("a"), "--store", store));

        var again = await cli.RunAsync("store", "copy", "--from", P("a"), "--to", store);
        Assert.Equal(2, again.ExitCode);
        Assert.Contains("KW0323", again.Err, StringComparison.Ordinal);

        var back = await cli.RunAsync("store", "copy", "--from", store, "--to", P("b"), "--state", P("a"), "--json");
        Ok(back);
        Assert.Contains("\"auditIntact\": true", back.Out, StringComparison.Ordinal);
        Assert.Equal(db, (await cli.RunAsync("get", "db", "--state", P("b"))).StdOutBytes);
        Ok(await cli.RunAsync("audit", "verify", "--state", P("b")));
    }
}
