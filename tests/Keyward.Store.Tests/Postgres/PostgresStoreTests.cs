using System.Text;
using Keyward.Core.Errors;
using Keyward.Core.Secrets;
using Keyward.Core.Store;
using Keyward.Store.Postgres;
using Keyward.Store.Tests.Support;
using Npgsql;

namespace Keyward.Store.Tests.Postgres;

/// <summary>The PostgreSQL store beyond the shared contract: migrations, the writer lock across replicas, and what a
/// database dump reveals. Against a real PostgreSQL (KEYWARD_TEST_POSTGRES; skipped without it).</summary>
public sealed class PostgresStoreTests : IAsyncDisposable
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

    private async Task<TestDatabase> NewDatabaseAsync()
    {
        var db = await TestPostgres.CreateDatabaseAsync(Ct);
        _databases.Add(db);
        return db;
    }

    private async Task<int> MigrateAsync(TestDatabase db, int? target = null)
    {
        await using var connection = await db.OpenRawAsync(Ct);
        return await PostgresSchema.MigrateAsync(connection, db.Connection.Display, TestStates.Time, Ct, target);
    }

    private static Task<OpenedState> InitAsync(string dir, TestDatabase db) =>
        PostgresState.OpenOrInitAsync(dir, db.Connection, [], StateLockOptions.Default, TestStates.Time, new FakeDataKeyWrap(), Ct);

    // ------------------------------------------------------------ migrations

    [Fact]
    public async Task Migrate_EmptyDatabase_ReachesTheLatestVersion_WithEveryTable()
    {
        var db = await NewDatabaseAsync();
        Assert.Equal(0, await MigrateAsync(db));
        Assert.Equal((long)PostgresSchema.Latest, await db.ScalarAsync("SELECT count(*) FROM schema_version;", Ct));
        Assert.Equal(PostgresSchema.Latest, await db.ScalarAsync("SELECT max(version) FROM schema_version;", Ct));
        foreach (var table in new[] { "meta", "versions", "ledger", "audit", "sinks", "journals", "journal_steps" })
            Assert.Equal(true, await db.ScalarAsync($"SELECT to_regclass('{table}') IS NOT NULL;", Ct));
    }

    /// <summary>From each earlier version (0 = empty database, then every released version) to the latest: one row per
    /// version applied, and a second run is a no-op.</summary>
    [Fact]
    public async Task Migrate_FromEachEarlierVersion_AppliesOnlyWhatIsMissing_AndIsIdempotent()
    {
        for (var from = 0; from <= PostgresSchema.Latest; from++)
        {
            var db = await NewDatabaseAsync();
            if (from > 0) Assert.Equal(0, await MigrateAsync(db, target: from));
            Assert.Equal(from, await MigrateAsync(db));
            Assert.Equal(PostgresSchema.Latest, await MigrateAsync(db)); // already at the latest: nothing to do
            Assert.Equal((long)PostgresSchema.Latest, await db.ScalarAsync("SELECT count(*) FROM schema_version;", Ct));
        }
    }

    [Fact]
    public async Task Migrate_TwoReplicasStartingAtOnce_ApplyEachMigrationOnce()
    {
        var db = await NewDatabaseAsync();
        var results = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(() => MigrateAsync(db), Ct)));
        Assert.Equal(1, results.Count(r => r == 0)); // exactly one found the empty database
        Assert.Equal((long)PostgresSchema.Latest, await db.ScalarAsync("SELECT count(*) FROM schema_version;", Ct));
    }

    [Fact]
    public async Task Migrate_DatabaseNewerThanThisBinary_IsRefusedWithKW0311()
    {
        var db = await NewDatabaseAsync();
        await MigrateAsync(db);
        await db.ExecAsync($"INSERT INTO schema_version VALUES ({PostgresSchema.Latest + 1}, '2030-01-01T00:00:00.0000000Z', 'from the future');", Ct);
        var e = await Assert.ThrowsAsync<KeywardException>(() => MigrateAsync(db));
        Assert.Equal("KW0311", e.First.Code.Code);
        Assert.Contains($"schema version {PostgresSchema.Latest + 1}", e.First.Message, StringComparison.Ordinal);
        var open = await Assert.ThrowsAsync<KeywardException>(() => InitAsync(_temp.Combine("s"), db));
        Assert.Equal("KW0311", open.First.Code.Code);
    }

    [Fact]
    public async Task Migrate_DatabaseWithOtherTables_IsNotAKeywardStore()
    {
        var db = await NewDatabaseAsync();
        await db.ExecAsync("CREATE TABLE someone_elses (id int);", Ct);
        var e = await Assert.ThrowsAsync<KeywardException>(() => MigrateAsync(db));
        Assert.Equal("KW0307", e.First.Code.Code);
    }

    // ------------------------------------------------------------ opening

    [Fact]
    public async Task Open_EmptyDatabaseForReading_IsKW0301_AndCreatesNothing()
    {
        var db = await NewDatabaseAsync();
        var e = await Assert.ThrowsAsync<KeywardException>(() => PostgresState.OpenAsync(_temp.Combine("s"), db.Connection, TestStates.Time, new FakeDataKeyWrap(), Ct));
        Assert.Equal("KW0301", e.First.Code.Code);
        Assert.False(File.Exists(_temp.Combine("s", StateDirectory.IdentityFileName)));
    }

    [Fact]
    public async Task Init_KeepsTheIdentityInTheStateDirectory_AndASecondReplicaWithoutItIsKW0303()
    {
        var db = await NewDatabaseAsync();
        await using (var state = await InitAsync(_temp.Combine("a"), db))
        {
            Assert.True(state.Created);
            Assert.True(state.HoldsLock);
            Assert.StartsWith("postgres://keyward_test@", state.DatabasePath, StringComparison.Ordinal);
            await state.Store.PutAsync(new NewVersion("k", "secret", Secret.FromUtf8("v"), VersionState.Active, T0, null, "generated", new Dictionary<string, string>()), Ct);
        }
        Assert.True(File.Exists(_temp.Combine("a", StateDirectory.IdentityFileName)));
        Assert.False(File.Exists(_temp.Combine("a", StateDirectory.DatabaseFileName)));
        var e = await Assert.ThrowsAsync<KeywardException>(() => PostgresState.OpenAsync(_temp.Combine("b"), db.Connection, TestStates.Time, new FakeDataKeyWrap(), Ct));
        Assert.Equal("KW0303", e.First.Code.Code);
        // The same identity on another replica opens the same store.
        Directory.CreateDirectory(_temp.Combine("c"));
        File.Copy(_temp.Combine("a", StateDirectory.IdentityFileName), _temp.Combine("c", StateDirectory.IdentityFileName));
        await using var other = await PostgresState.OpenAsync(_temp.Combine("c"), db.Connection, TestStates.Time, new FakeDataKeyWrap(), Ct);
        using var value = await other.Store.RevealAsync("k", 1, Ct);
        Assert.Equal("v", value.RevealString());
    }

    [Fact]
    public async Task AddedRecipient_LetsASecondReplicaWithItsOwnIdentityOpenTheStore()
    {
        var db = await NewDatabaseAsync();
        var (identity, recipient) = FakeDataKeyWrap.NewIdentity();
        Directory.CreateDirectory(_temp.Combine("b"));
        await File.WriteAllTextAsync(_temp.Combine("b", StateDirectory.IdentityFileName), identity, Ct);
        await using (var state = await InitAsync(_temp.Combine("a"), db))
        {
            await state.AddRecipientsAsync([recipient], Ct);
        }
        await using var second = await PostgresState.OpenAsync(_temp.Combine("b"), db.Connection, TestStates.Time, new FakeDataKeyWrap(), Ct);
        Assert.Equal(recipient, second.Recipient);
    }

    // ------------------------------------------------------------ one writer across replicas

    [Fact]
    public async Task Writers_OnTwoReplicas_AreOneAtATime_AndTheSecondGetsKW0317NamingTheHolder()
    {
        var db = await NewDatabaseAsync();
        await using (await InitAsync(_temp.Combine("a"), db))
        {
        }
        Directory.CreateDirectory(_temp.Combine("b"));
        File.Copy(_temp.Combine("a", StateDirectory.IdentityFileName), _temp.Combine("b", StateDirectory.IdentityFileName));
        var first = await PostgresState.OpenForWriteAsync(_temp.Combine("a"), db.Connection, StateLockOptions.Default with { Purpose = "apply" }, TestStates.Time, new FakeDataKeyWrap(), Ct);
        var e = await Assert.ThrowsAsync<KeywardException>(() => PostgresState.OpenForWriteAsync(_temp.Combine("b"), db.Connection,
            StateLockOptions.Default with { Timeout = TimeSpan.Zero }, TestStates.Time, new FakeDataKeyWrap(), Ct));
        Assert.Equal("KW0317", e.First.Code.Code);
        Assert.Contains("keyward apply", e.First.Message, StringComparison.Ordinal);
        // A reader is never blocked by the writer.
        await using (var reader = await PostgresState.OpenAsync(_temp.Combine("b"), db.Connection, TestStates.Time, new FakeDataKeyWrap(), Ct))
        {
            Assert.Empty(await reader.Store.ListVersionsAsync(Ct));
        }
        await first.DisposeAsync();
        await using var second = await PostgresState.OpenForWriteAsync(_temp.Combine("b"), db.Connection,
            StateLockOptions.Default with { Timeout = TimeSpan.Zero }, TestStates.Time, new FakeDataKeyWrap(), Ct);
        Assert.True(second.HoldsLock);
    }

    [Fact]
    public async Task ReleaseLock_LetsTheNextWriterIn_WhileTheFirstStateStillReadsItsWrites()
    {
        var db = await NewDatabaseAsync();
        await using (await InitAsync(_temp.Combine("a"), db))
        {
        }
        await using var first = await PostgresState.OpenForWriteAsync(_temp.Combine("a"), db.Connection, StateLockOptions.Default with { Purpose = "apply" }, TestStates.Time, new FakeDataKeyWrap(), Ct);
        await first.Store.PutAsync(new NewVersion("x", "secret", Secret.Random(8), VersionState.Active, T0, null, "generated", new Dictionary<string, string>()), Ct);
        await first.ReleaseLockAsync(Ct);
        Assert.False(first.HoldsLock);
        await using (var second = await PostgresState.OpenForWriteAsync(_temp.Combine("a"), db.Connection,
            StateLockOptions.Default with { Timeout = TimeSpan.Zero }, TestStates.Time, new FakeDataKeyWrap(), Ct))
        {
            Assert.True(second.HoldsLock);
            await second.Store.PutAsync(new NewVersion("y", "secret", Secret.Random(8), VersionState.Active, T0, null, "generated", new Dictionary<string, string>()), Ct);
        }
        // The first state reads on, and sees the second writer's commit.
        Assert.Equal(["x", "y"], (await first.Store.ListVersionsAsync(Ct)).Select(v => v.Name).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task ConcurrentWritesFromTwoReplicas_NumberVersionsAndChainTheAuditWithoutGaps()
    {
        var db = await NewDatabaseAsync();
        await using (await InitAsync(_temp.Combine("a"), db))
        {
        }
        await using var a = await PostgresState.OpenAsync(_temp.Combine("a"), db.Connection, TestStates.Time, new FakeDataKeyWrap(), Ct);
        await using var b = await PostgresState.OpenAsync(_temp.Combine("a"), db.Connection, TestStates.Time, new FakeDataKeyWrap(), Ct);
        async Task Write(OpenedState s, string who)
        {
            for (var i = 0; i < 20; i++)
            {
                await s.Store.PutAsync(new NewVersion("shared", "secret", Secret.Random(8), VersionState.Active, T0, null, "generated", new Dictionary<string, string>()), Ct);
                await s.Store.AppendAuditAsync(new AuditEvent(T0, who, "mint", "shared", null, null, null), Ct);
            }
        }
        await Task.WhenAll(Task.Run(() => Write(a, "a"), Ct), Task.Run(() => Write(b, "b"), Ct));
        Assert.Equal(Enumerable.Range(1, 40), (await a.Store.GetVersionsAsync("shared", Ct)).Select(v => v.Version));
        Assert.Single(await a.Store.GetVersionsAsync("shared", Ct), v => v.State == VersionState.Active);
        Assert.Equal(40, (await b.Store.ReadAuditAsync(null, Ct)).Count);
        Assert.Empty(await b.Store.VerifyAuditAsync(Ct));
    }

    // ------------------------------------------------------------ a dump reveals no value

    [Fact]
    public async Task RetiredVersionFlippedBackToActive_OrARevocationUndone_IsKW0310_AtTheNextOpen()
    {
        foreach (var sql in new[]
        {
            "UPDATE versions SET state = 'retired' WHERE version = 2; UPDATE versions SET state = 'active' WHERE version = 1;",
            "UPDATE ledger SET revoked = NULL;",
            "DELETE FROM meta WHERE key = 'state_seal';",
        })
        {
            var db = await NewDatabaseAsync();
            var dir = _temp.Combine(db.Name);
            await using (var state = await InitAsync(dir, db))
            {
                for (var v = 1; v <= 2; v++)
                {
                    using var value = Secret.FromUtf8($"value-{v}");
                    var put = await state.Store.PutAsync(new NewVersion("jwt", "secret", value, VersionState.Active, T0.AddDays(v), null, "generated", new Dictionary<string, string>()), Ct);
                    await state.Store.AppendAuditAsync(new AuditEvent(T0.AddDays(v), "root@host", "mint", "jwt", put.Version, put.Fingerprint, null), Ct);
                }
                await state.Store.SetStateAsync("jwt", 1, VersionState.Retired, Ct);
                await state.Store.RecordTokenAsync(new LedgerEntry("tok-1", "push", 1, "ci", "push", T0, T0.AddDays(30), "kw1:" + new string('b', 32), "jwt", 2, null), Ct);
                await state.Store.RevokeTokenAsync("tok-1", T0.AddDays(3), Ct);
            }
            await using (var reopened = await PostgresState.OpenAsync(dir, db.Connection, TestStates.Time, new FakeDataKeyWrap(), Ct))
                Assert.Equal(2, (await reopened.Store.GetActiveAsync("jwt", Ct))!.Version);
            await db.ExecAsync(sql, Ct);
            var e = await Assert.ThrowsAsync<KeywardException>(() => PostgresState.OpenAsync(dir, db.Connection, TestStates.Time, new FakeDataKeyWrap(), Ct));
            Assert.Equal("KW0310", e.First.Code.Code);
        }
    }

    [Fact]
    public async Task DatabaseDump_ContainsNoValue_InAnyRowOrColumn()
    {
        var db = await NewDatabaseAsync();
        string[] values = ["glpat-PLAINTEXT-ONE-4f1c", "ghp_PLAINTEXT_TWO_9a7e", "hunter2-PLAINTEXT-three"];
        await using (var state = await InitAsync(_temp.Combine("a"), db))
        {
            foreach (var (value, i) in values.Select((v, i) => (v, i)))
                await state.Store.PutAsync(new NewVersion($"cred-{i}", "secret", Secret.FromUtf8(value), VersionState.Active, T0, null, "generated", new Dictionary<string, string> { ["subject"] = "ci" }), Ct);
            await state.Store.AppendAuditAsync(new AuditEvent(T0, "root@host", "mint", "cred-0", 1, state.Store.Fingerprint(Encoding.UTF8.GetBytes(values[0])), null), Ct);
        }
        // Every row of every table in the schema, as text (bytea as hex) and as raw bytes: the plaintext appears in neither.
        var dump = new StringBuilder();
        var raw = new List<byte>();
        await using var connection = await db.OpenRawAsync(Ct);
        var tables = new List<string>();
        await using (var list = new NpgsqlCommand("SELECT tablename FROM pg_tables WHERE schemaname = current_schema();", connection))
        await using (var reader = await list.ExecuteReaderAsync(Ct))
            while (await reader.ReadAsync(Ct)) tables.Add(reader.GetString(0));
        Assert.Contains("versions", tables);
        foreach (var table in tables)
        {
            await using var command = new NpgsqlCommand($"SELECT * FROM {table};", connection);
            await using var reader = await command.ExecuteReaderAsync(Ct);
            while (await reader.ReadAsync(Ct))
            {
                for (var c = 0; c < reader.FieldCount; c++)
                {
                    if (reader.IsDBNull(c)) continue;
                    var v = reader.GetValue(c);
                    if (v is byte[] bytes) { raw.AddRange(bytes); dump.Append(Convert.ToHexString(bytes)); }
                    else dump.Append(Convert.ToString(v, System.Globalization.CultureInfo.InvariantCulture));
                    dump.Append('\n');
                }
            }
        }
        var text = dump.ToString() + Encoding.UTF8.GetString([.. raw]);
        Assert.Contains("cred-0", text, StringComparison.Ordinal); // the dump did read the rows
        foreach (var value in values)
        {
            Assert.DoesNotContain(value, text, StringComparison.Ordinal);
            Assert.DoesNotContain(Convert.ToHexString(Encoding.UTF8.GetBytes(value)), text, StringComparison.OrdinalIgnoreCase);
        }
    }
}
