using Keyward.Core.Errors;
using Keyward.Core.Secrets;
using Keyward.Core.Store;
using Keyward.Store.Copy;
using Keyward.Store.Postgres;
using Keyward.Store.Tests.Support;

namespace Keyward.Store.Tests.Postgres;

/// <summary><c>store copy</c> both ways between SQLite and a real PostgreSQL (KEYWARD_TEST_POSTGRES; skipped without it).</summary>
public sealed class StoreCopyTests : IAsyncDisposable
{
    private static readonly DateTimeOffset T0 = new(2025, 3, 1, 12, 0, 0, TimeSpan.Zero);
    private readonly TempDirectory _temp = new();
    private readonly List<TestDatabase> _databases = [];

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask DisposeAsync()
    {
        foreach (var db in _databases) await db.DisposeAsync();
        _temp.Dispose();
    }

    private static NewVersion V(string name, string value, VersionState state = VersionState.Active, int minutes = 0) =>
        new(name, "secret", Secret.FromUtf8(value), state, T0.AddMinutes(minutes), T0.AddDays(30), "generated", new Dictionary<string, string> { ["subject"] = name + "-subject" });

    /// <summary>A store with every kind of row: versions in every state, a revoked token, sinks, an open and a committed journal, audit entries.</summary>
    private static async Task FillAsync(ICredentialStore store)
    {
        await store.PutAsync(V("jwt", "jwt-v1"), Ct);
        await store.PutAsync(V("jwt", "jwt-v2", minutes: 1), Ct);
        await store.PutAsync(V("jwt", "jwt-v3", minutes: 2), Ct);           // v1 retired, v2 previous, v3 active
        await store.PutAsync(V("jwt", "jwt-v4", VersionState.Staged, 3), Ct);
        await store.PutAsync(V("gitea", "gitea-token"), Ct);
        await store.RecordTokenAsync(new LedgerEntry("tok-1", "ci", 1, "ci-runner", "main:pull", T0, T0.AddDays(30), "kw1:" + new string('b', 32), "jwt", 3, null), Ct);
        await store.RecordTokenAsync(new LedgerEntry("tok-2", "ci", 2, "ci-runner", "main:pull,push", T0.AddHours(1), T0.AddDays(30), "kw1:" + new string('c', 32), "jwt", 3, null), Ct);
        await store.RevokeTokenAsync("tok-1", T0.AddHours(2), Ct);
        await store.PutSinkAsync(new SinkRecord("env", "/run/keyward/env", "kw1:" + new string('d', 32), T0), Ct);
        var done = await store.BeginJournalAsync("rotate", "{\"credential\":\"jwt\"}", T0, Ct);
        await store.AppendJournalStepAsync(done, "stage", "jwt", "done", null, T0, Ct);
        await store.SetJournalStatusAsync(done, JournalStatuses.Committed, Ct);
        var open = await store.BeginJournalAsync("rotate", "{\"credential\":\"gitea\"}", T0.AddMinutes(5), Ct);
        await store.AppendJournalStepAsync(open, "stage", "gitea", "done", "{\"v\":2}", T0.AddMinutes(5), Ct);
        for (var i = 0; i < 5; i++)
            await store.AppendAuditAsync(new AuditEvent(T0.AddMinutes(i), "root@host", "mint", "jwt", i + 1, "kw1:" + new string('e', 32), i == 0 ? null : "detail " + i), Ct);
    }

    private static async Task AssertSameAsync(ICredentialStore a, ICredentialStore b)
    {
        Assert.Equal(a.StoreId, b.StoreId);
        var va = await a.ListVersionsAsync(Ct);
        var vb = await b.ListVersionsAsync(Ct);
        Assert.Equal(va.Select(Describe), vb.Select(Describe));
        foreach (var v in va)
        {
            using var x = await a.RevealAsync(v.Name, v.Version, Ct);
            using var y = await b.RevealAsync(v.Name, v.Version, Ct);
            Assert.Equal(x, y);
        }
        Assert.Equal(await a.ListLedgerAsync(Ct), await b.ListLedgerAsync(Ct));
        Assert.Equal(await a.ListSinksAsync(Ct), await b.ListSinksAsync(Ct));
        Assert.Equal((await a.ReadAuditAsync(null, Ct)).Select(r => (r.Sequence, r.Hash, r.PreviousHash)), (await b.ReadAuditAsync(null, Ct)).Select(r => (r.Sequence, r.Hash, r.PreviousHash)));
        Assert.Empty(await b.VerifyAuditAsync(Ct));
        var ja = await a.OpenJournalsAsync(Ct);
        var jb = await b.OpenJournalsAsync(Ct);
        Assert.Equal(ja.Select(j => (j.Operation, j.Status, j.Intent, j.StartedAt, j.Steps.Count)), jb.Select(j => (j.Operation, j.Status, j.Intent, j.StartedAt, j.Steps.Count)));
    }

    private static string Describe(CredentialVersion v) =>
        $"{v.Name}/{v.Version}/{v.State}/{v.Kind}/{v.CreatedAt:O}/{v.ExpiresAt:O}/{v.Fingerprint}/{v.Origin}/{string.Join(',', v.Metadata.Select(p => p.Key + "=" + p.Value))}";

    [Fact]
    public async Task Copy_SqliteToPostgresAndBack_KeepsEveryRowValueAndTheAuditChain()
    {
        var db = await TestPostgres.CreateDatabaseAsync(Ct);
        _databases.Add(db);
        var sqliteDir = _temp.Combine("sqlite");
        await using (var state = await TestStates.InitAsync(sqliteDir, Ct)) await FillAsync(state.Store);

        var there = await StoreCopy.ToPostgresAsync(sqliteDir, db.Connection, StateLockOptions.Default, TestStates.Time, new FakeDataKeyWrap(), Ct);
        Assert.Empty(there.AuditProblems);
        Assert.Equal((2, 5, 2, 5, 1, 2), (there.Credentials, there.Versions, there.LedgerEntries, there.AuditEntries, there.Sinks, there.Journals));

        var backDir = _temp.Combine("back");
        var back = await StoreCopy.ToDirectoryAsync(sqliteDir, db.Connection, backDir, StateLockOptions.Default, TestStates.Time, new FakeDataKeyWrap(), Ct);
        Assert.Empty(back.AuditProblems);

        await using var original = await TestStates.OpenAsync(sqliteDir, Ct);
        await using (var pg = await PostgresState.OpenAsync(sqliteDir, db.Connection, TestStates.Time, new FakeDataKeyWrap(), Ct))
            await AssertSameAsync(original.Store, pg.Store);
        await using var returned = await TestStates.OpenAsync(backDir, Ct);
        await AssertSameAsync(original.Store, returned.Store);
        // The copy keeps working as the store it is: the next audit entry and version continue the chain.
        await returned.Store.AppendAuditAsync(new AuditEvent(T0, "root@host", "rotate", "jwt", 5, null, null), Ct);
        Assert.Equal(5, (await returned.Store.PutAsync(V("jwt", "jwt-v5"), Ct)).Version);
        Assert.Empty(await returned.Store.VerifyAuditAsync(Ct));
    }

    [Fact]
    public async Task Copy_IntoATargetThatHoldsAStore_IsRefusedWithKW0323_AndChangesNothing()
    {
        var db = await TestPostgres.CreateDatabaseAsync(Ct);
        _databases.Add(db);
        var sqliteDir = _temp.Combine("sqlite");
        await using (var state = await TestStates.InitAsync(sqliteDir, Ct)) await FillAsync(state.Store);
        await StoreCopy.ToPostgresAsync(sqliteDir, db.Connection, StateLockOptions.Default, TestStates.Time, new FakeDataKeyWrap(), Ct);
        var e = await Assert.ThrowsAsync<KeywardException>(() => StoreCopy.ToPostgresAsync(sqliteDir, db.Connection, StateLockOptions.Default, TestStates.Time, new FakeDataKeyWrap(), Ct));
        Assert.Equal("KW0323", e.First.Code.Code);
        var back = await Assert.ThrowsAsync<KeywardException>(() => StoreCopy.ToDirectoryAsync(sqliteDir, db.Connection, sqliteDir, StateLockOptions.Default, TestStates.Time, new FakeDataKeyWrap(), Ct));
        Assert.Equal("KW0323", back.First.Code.Code);
        await using var pg = await PostgresState.OpenAsync(sqliteDir, db.Connection, TestStates.Time, new FakeDataKeyWrap(), Ct);
        Assert.Equal(5, (await pg.Store.ListVersionsAsync(Ct)).Count);
        Assert.Empty(await pg.Store.VerifyAuditAsync(Ct));
    }
}
