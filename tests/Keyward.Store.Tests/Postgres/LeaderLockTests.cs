using Keyward.Store.Leader;
using Keyward.Store.Tests.Support;
using Npgsql;

namespace Keyward.Store.Tests.Postgres;

/// <summary>Leader election: exactly one holder, and a dead holder replaced on the next try. PostgreSQL cases run
/// against a real server (KEYWARD_TEST_POSTGRES; skipped without it).</summary>
public sealed class LeaderLockTests : IAsyncDisposable
{
    private readonly TempDirectory _temp = new();
    private readonly List<TestDatabase> _databases = [];
    private readonly List<ILeaderLock> _locks = [];

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask DisposeAsync()
    {
        foreach (var l in _locks) await l.DisposeAsync();
        foreach (var db in _databases) await db.DisposeAsync();
        _temp.Dispose();
    }

    private async Task<(PostgresLeaderLock A, PostgresLeaderLock B, TestDatabase Db)> TwoReplicasAsync()
    {
        var db = await TestPostgres.CreateDatabaseAsync(Ct);
        _databases.Add(db);
        var a = new PostgresLeaderLock(db.Connection, "kws_leader_test");
        var b = new PostgresLeaderLock(db.Connection, "kws_leader_test");
        _locks.Add(a);
        _locks.Add(b);
        return (a, b, db);
    }

    [Fact]
    public async Task Postgres_TwoLocksOnOneStore_ExactlyOneHolds()
    {
        var (a, b, _) = await TwoReplicasAsync();
        var results = await Task.WhenAll(a.TryAcquireAsync(Ct), b.TryAcquireAsync(Ct));
        Assert.Equal(1, results.Count(r => r));
        Assert.Equal(1, new[] { a.IsHeld, b.IsHeld }.Count(h => h));
        // Trying again changes nothing: the holder keeps it (without taking it twice), the other still cannot.
        Assert.True(await (a.IsHeld ? a : b).TryAcquireAsync(Ct));
        Assert.False(await (a.IsHeld ? b : a).TryAcquireAsync(Ct));
        Assert.True(await (a.IsHeld ? a : b).CheckAsync(Ct));
    }

    [Fact]
    public async Task Postgres_DifferentStores_HaveDifferentLeaders()
    {
        var db = await TestPostgres.CreateDatabaseAsync(Ct);
        _databases.Add(db);
        var a = new PostgresLeaderLock(db.Connection, "kws_one");
        var b = new PostgresLeaderLock(db.Connection, "kws_two");
        _locks.Add(a);
        _locks.Add(b);
        Assert.True(await a.TryAcquireAsync(Ct));
        Assert.True(await b.TryAcquireAsync(Ct));
    }

    [Fact]
    public async Task Postgres_ReleasedByTheHolder_TheOtherAcquiresOnItsNextTry()
    {
        var (a, b, _) = await TwoReplicasAsync();
        Assert.True(await a.TryAcquireAsync(Ct));
        Assert.False(await b.TryAcquireAsync(Ct));
        await a.ReleaseAsync(Ct);
        Assert.False(a.IsHeld);
        Assert.True(await b.TryAcquireAsync(Ct));
    }

    [Fact]
    public async Task Postgres_HolderSessionKilled_TheOtherAcquiresWithinOneRetry_AndTheOldHolderSeesTheLoss()
    {
        var (a, b, db) = await TwoReplicasAsync();
        Assert.True(await a.TryAcquireAsync(Ct));
        Assert.False(await b.TryAcquireAsync(Ct));
        var pid = a.BackendProcessId;
        Assert.NotNull(pid);
        // A third connection kills the leader's backend, as PostgreSQL does for a leader whose process died.
        await using (var admin = await db.OpenRawAsync(Ct))
        await using (var kill = new NpgsqlCommand("SELECT pg_terminate_backend(@pid, 10000);", admin))
        {
            kill.Parameters.AddWithValue("pid", pid!.Value);
            Assert.Equal(true, await kill.ExecuteScalarAsync(Ct));
        }
        Assert.True(await b.TryAcquireAsync(Ct)); // one retry
        Assert.False(await a.CheckAsync(Ct));      // the old leader finds out on its next round trip
        Assert.False(a.IsHeld);
        Assert.False(await a.TryAcquireAsync(Ct)); // and reconnects to compete again, losing to the new leader
        Assert.True(await b.CheckAsync(Ct));
    }

    [Fact]
    public async Task Postgres_HolderDisposed_TheOtherAcquires()
    {
        var (a, b, _) = await TwoReplicasAsync();
        Assert.True(await a.TryAcquireAsync(Ct));
        await a.DisposeAsync();
        Assert.True(await b.TryAcquireAsync(Ct));
    }

    [Fact]
    public async Task File_TwoLocksOnOneStateDirectory_ExactlyOneHolds_UntilReleased()
    {
        var a = new FileLeaderLock(_temp.Path);
        var b = new FileLeaderLock(_temp.Path);
        _locks.Add(a);
        _locks.Add(b);
        Assert.True(await a.TryAcquireAsync(Ct));
        Assert.False(await b.TryAcquireAsync(Ct));
        Assert.True(await a.CheckAsync(Ct));
        await a.ReleaseAsync(Ct);
        Assert.True(await b.TryAcquireAsync(Ct));
        Assert.False(await a.TryAcquireAsync(Ct));
    }

    [Fact]
    public async Task File_LeaderLockDoesNotBlockTheStateWriterLock()
    {
        var leader = new FileLeaderLock(_temp.Path);
        _locks.Add(leader);
        Assert.True(await leader.TryAcquireAsync(Ct));
        using var writer = await StateLock.AcquireAsync(_temp.Path, StateLockOptions.Default with { Timeout = TimeSpan.Zero }, Ct);
        Assert.True(leader.IsHeld);
    }
}
