using Keyward.Store;
using Keyward.Store.Leader;
using Keyward.Store.Postgres;
using Microsoft.AspNetCore.Builder;
using Npgsql;

namespace Keyward.Server.Tests;

/// <summary>
/// Several <c>serve</c> replicas on one real PostgreSQL (test.sh's throwaway cluster, <c>KEYWARD_TEST_POSTGRES</c>):
/// exactly one leads (<c>keyward_controller_leader 1</c>), and when the leader dies — its lock session killed with
/// <c>pg_terminate_backend</c>, as a kill -9 ends it, and the replica gone — another takes over, and nothing is ever
/// minted twice. Real clock, short intervals, every wait bounded by a deadline.
/// </summary>
public sealed class PostgresReplicaTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task One_leader_among_replicas_a_killed_leader_is_replaced_and_nothing_is_minted_twice()
    {
        var admin = Environment.GetEnvironmentVariable("KEYWARD_TEST_POSTGRES");
        if (string.IsNullOrEmpty(admin)) Assert.Skip("needs KEYWARD_TEST_POSTGRES (./test.sh starts a throwaway PostgreSQL)");
        var db = "kw_test_" + Guid.NewGuid().ToString("N")[..12];
        await using (var c = new NpgsqlConnection(admin))
        {
            await c.OpenAsync(Ct);
            await using var create = new NpgsqlCommand($"CREATE DATABASE {db}", c);
            await create.ExecuteNonQueryAsync(Ct);
        }
        var connectionString = new NpgsqlConnectionStringBuilder(admin) { Database = db, Pooling = false }.ConnectionString;
        var store = PostgresConnection.Parse(connectionString);
        await using var h = new ServerHarness(TimeProvider.System);
        var replicas = new List<WebApplication>();
        try
        {
            // The store (and the identity every replica shares) exists before the replicas start, as after `store copy`.
            await (await PostgresState.OpenOrInitAsync(h.State, store, [], StateLockOptions.Default, TimeProvider.System, Ct)).DisposeAsync();
            ServeOptions Replica(ServeOptions o) => o with
            {
                StoreConnection = store, RunController = true, Interval = TimeSpan.FromMilliseconds(300), ManifestPoll = TimeSpan.FromMilliseconds(100),
            };
            async Task<WebApplication> StartReplica()
            {
                var app = KeywardServer.Build(h.Options(Replica));
                await app.StartAsync(Ct);
                replicas.Add(app);
                return app;
            }
            for (var i = 0; i < 3; i++) await StartReplica();

            var kills = int.TryParse(Environment.GetEnvironmentVariable("KEYWARD_STRESS_LOOPS"), out var n) && n > 0 ? n : 3;
            for (var round = 0; round <= kills; round++)
            {
                var leader = await SoleLeaderAsync(replicas);
                if (round == kills) break;
                // kill -9 of the leader: its lock session ends at once, and the replica is gone.
                await using (var c = new NpgsqlConnection(connectionString))
                {
                    await c.OpenAsync(Ct);
                    string storeId;
                    await using (var s = await PostgresState.OpenAsync(h.State, store, TimeProvider.System, Ct)) storeId = s.Store.StoreId;
                    var key = PostgresLeaderLock.KeyFor(storeId);
                    await using var kill = new NpgsqlCommand(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = @hi AND objid = @lo AND objsubid = 1", c);
                    kill.Parameters.AddWithValue("hi", (long)(uint)(key >> 32));
                    kill.Parameters.AddWithValue("lo", (long)(uint)key);
                    Assert.Equal(1L, await kill.ExecuteScalarAsync(Ct));
                }
                replicas.Remove(leader);
                await leader.StopAsync(CancellationToken.None);
                await leader.DisposeAsync();
                await StartReplica(); // a new pod comes up in its place
            }

            // Every replica's passes ran against one store: one mint of each credential, never two.
            await using var state = await PostgresState.OpenAsync(h.State, store, TimeProvider.System, Ct);
            var ledger = await state.Store.ListLedgerAsync(Ct);
            Assert.Single(ledger, e => e.Credential == "push-token");
            Assert.All((await state.Store.ListVersionsAsync(Ct)).GroupBy(v => v.Name), g => Assert.Single(g));
            Assert.Empty(await state.Store.VerifyAuditAsync(Ct));
        }
        finally
        {
            foreach (var app in replicas)
            {
                await app.StopAsync(CancellationToken.None);
                await app.DisposeAsync();
            }
            NpgsqlConnection.ClearAllPools();
            await using var c = new NpgsqlConnection(admin);
            await c.OpenAsync(CancellationToken.None);
            await Keyward.Store.Tests.Support.TestDatabaseDrop.DropAsync(c, db);
        }
    }

    /// <summary>Waits (bounded) until exactly one replica reports <c>keyward_controller_leader 1</c> and every other 0.</summary>
    private static async Task<WebApplication> SoleLeaderAsync(IReadOnlyList<WebApplication> replicas)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        while (true)
        {
            var leaders = new List<WebApplication>();
            foreach (var app in replicas)
            {
                using var http = new HttpClient { BaseAddress = KeywardServer.BoundAddress(app) };
                var metrics = await http.GetStringAsync(new Uri("/metrics", UriKind.Relative), Ct);
                if (metrics.Contains("\nkeyward_controller_leader 1", StringComparison.Ordinal)) leaders.Add(app);
            }
            if (leaders.Count == 1) return leaders[0];
            Assert.True(leaders.Count <= 1, $"{leaders.Count} replicas report themselves leader at once");
            if (DateTime.UtcNow > deadline) Assert.Fail("no replica took the lead");
            await Task.Delay(100, Ct);
        }
    }
}
