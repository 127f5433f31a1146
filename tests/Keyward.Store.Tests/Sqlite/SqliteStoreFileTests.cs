using System.Text;
using Keyward.Core.Errors;
using Keyward.Core.Secrets;
using Keyward.Core.Store;
using Keyward.Store.Sqlite;
using Keyward.Store.Tests.Support;

namespace Keyward.Store.Tests.Sqlite;

/// <summary>The SQLite file itself: nothing secret in plaintext, modes, schema versions, concurrent writers, bulk writes.</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class SqliteStoreFileTests : IDisposable
{
    private static readonly DateTimeOffset T0 = new(2025, 3, 1, 12, 0, 0, TimeSpan.Zero);
    private readonly TempDirectory _temp = new();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _temp.Dispose();

    private static NewVersion V(string name, Secret value, VersionState state = VersionState.Active) =>
        new(name, "secret", value, state, T0, null, "generated", new Dictionary<string, string> { ["purpose"] = "test" });

    private static IEnumerable<byte[]> Encodings(byte[] value)
    {
        yield return value;
        yield return Encoding.ASCII.GetBytes(Convert.ToBase64String(value));
        yield return Encoding.ASCII.GetBytes(Convert.ToBase64String(value).TrimEnd('=').Replace('+', '-').Replace('/', '_'));
        yield return Encoding.ASCII.GetBytes(Convert.ToHexStringLower(value));
        yield return Encoding.ASCII.GetBytes(Convert.ToHexString(value));
    }

    private static void AssertNothingUnder(string dir, IEnumerable<byte[]> values, string when)
    {
        var files = Directory.GetFiles(dir, "*", SearchOption.AllDirectories);
        Assert.Contains(files, f => f.EndsWith(StateDirectory.DatabaseFileName, StringComparison.Ordinal));
        foreach (var file in files)
        {
            var content = File.ReadAllBytes(file);
            foreach (var value in values)
            {
                foreach (var encoded in Encodings(value))
                {
                    Assert.True(content.AsSpan().IndexOf(encoded) < 0, $"{when}: a stored value appears in {Path.GetFileName(file)}");
                }
            }
        }
    }

    [Fact]
    public async Task StoredValues_NeverAppearInAnyFileOfTheStateDirectory_InAnyEncoding()
    {
        var dir = _temp.Combine("state");
        var values = new List<byte[]>
        {
            Encoding.UTF8.GetBytes("ghp_0123456789abcdefghijABCDEFGHIJklmnop"),
            Encoding.UTF8.GetBytes("glpat-xxxxxxxxxxxxxxxxxxxx-plaintext-probe"),
            Encoding.UTF8.GetBytes("ops_eyJzaWduSW5BZGRyZXNzIjoibXkuMXBhc3N3b3JkLmNvbSJ9"),
        };
        for (var i = 0; i < 20; i++) values.Add(Secret.Random(32).Reveal().ToArray());

        await using (var state = await TestStates.InitAsync(dir, Ct))
        {
            for (var i = 0; i < values.Count; i++)
            {
                await state.Store.PutAsync(V($"cred-{i}", Secret.FromBytes(values[i])), Ct);
            }
            await state.Store.PutAsync(V("cred-0", Secret.FromBytes(values[1]), VersionState.Staged), Ct); // same value twice
            Assert.True(File.Exists(Path.Combine(dir, StateDirectory.DatabaseFileName + "-wal")), "the WAL is where fresh writes land; scan it too");
            AssertNothingUnder(dir, values, "while open");
        }
        AssertNothingUnder(dir, values, "after close");
    }

    [Fact]
    public async Task StateFiles_HaveOwnerOnlyModes()
    {
        var dir = _temp.Combine("state");
        await using var state = await TestStates.InitAsync(dir, Ct);
        await state.Store.PutAsync(V("k", Secret.Random(8)), Ct);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(dir));
        foreach (var name in new[] { StateDirectory.IdentityFileName, StateDirectory.DatabaseFileName, StateDirectory.DatabaseFileName + "-wal", StateDirectory.DatabaseFileName + "-shm" })
        {
            var path = Path.Combine(dir, name);
            Assert.True(File.Exists(path), name);
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        }
    }

    [Fact]
    public async Task Init_TightensAnExistingLooseDirectory()
    {
        var dir = _temp.Combine("loose");
        Directory.CreateDirectory(dir);
        File.SetUnixFileMode(dir, (UnixFileMode)Convert.ToInt32("755", 8));
        await using var state = await TestStates.InitAsync(dir, Ct);
        Assert.Equal((UnixFileMode)Convert.ToInt32("700", 8), File.GetUnixFileMode(dir));
    }

    [Fact]
    public async Task Database_IsInWalModeWithTheLatestSchema()
    {
        var dir = _temp.Combine("state");
        await using var state = await TestStates.InitAsync(dir, Ct);
        using var raw = TestStates.Raw(dir);
        Assert.Equal("wal", TestStates.Scalar(raw, "PRAGMA journal_mode;"));
        Assert.Equal((long)Schema.Latest, TestStates.Scalar(raw, "SELECT MAX(version) FROM schema_version;"));
        var tables = new List<string>();
        using (var command = raw.CreateCommand())
        {
            command.CommandText = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name;";
            using var reader = command.ExecuteReader();
            while (reader.Read()) tables.Add(reader.GetString(0));
        }
        Assert.Equal(["audit", "journal_steps", "journals", "ledger", "meta", "schema_version", "sinks", "versions"], tables);
    }

    [Fact]
    public async Task Open_SchemaFromANewerKeyward_IsKW0311()
    {
        var dir = _temp.Combine("state");
        await (await TestStates.InitAsync(dir, Ct)).DisposeAsync();
        using (var raw = TestStates.Raw(dir))
        {
            TestStates.Exec(raw, "INSERT INTO schema_version (version, applied, description) VALUES (999, '2030-01-01T00:00:00.0000000Z', 'future');");
        }
        var e = await Assert.ThrowsAsync<KeywardException>(() => TestStates.OpenAsync(dir, Ct));
        Assert.Equal("KW0311", e.First.Code.Code);
    }

    [Fact]
    public async Task Open_ASqliteFileThatIsNotAStore_IsKW0307()
    {
        var dir = _temp.Combine("state");
        await (await TestStates.InitAsync(dir, Ct)).DisposeAsync();
        var db = Path.Combine(dir, StateDirectory.DatabaseFileName);
        File.Delete(db);
        using (var raw = TestStates.Raw(dir))
        {
            TestStates.Exec(raw, "CREATE TABLE something_else (x INTEGER);");
        }
        var e = await Assert.ThrowsAsync<KeywardException>(() => TestStates.OpenAsync(dir, Ct));
        Assert.Equal("KW0307", e.First.Code.Code);
    }

    [Fact]
    public async Task Open_AGarbageFile_IsKW0307()
    {
        var dir = _temp.Combine("state");
        await (await TestStates.InitAsync(dir, Ct)).DisposeAsync();
        await File.WriteAllBytesAsync(Path.Combine(dir, StateDirectory.DatabaseFileName), Encoding.ASCII.GetBytes(new string('x', 8192)), Ct);
        var e = await Assert.ThrowsAsync<KeywardException>(() => TestStates.OpenAsync(dir, Ct));
        Assert.Equal("KW0307", e.First.Code.Code);
    }

    [Fact]
    public async Task Open_MissingWrappedKey_IsKW0307()
    {
        var dir = _temp.Combine("state");
        await (await TestStates.InitAsync(dir, Ct)).DisposeAsync();
        using (var raw = TestStates.Raw(dir)) TestStates.Exec(raw, "DELETE FROM meta WHERE key = 'wrapped_data_key';");
        var e = await Assert.ThrowsAsync<KeywardException>(() => TestStates.OpenAsync(dir, Ct));
        Assert.Equal("KW0307", e.First.Code.Code);
    }

    [Fact]
    public async Task Open_ReplacedDataKeyWrappedToTheSameRecipient_IsKW0316()
    {
        // Someone with write access wraps their own data key to the store's (public) recipient.
        var dir = _temp.Combine("state");
        string recipient;
        await using (var state = await TestStates.InitAsync(dir, Ct)) recipient = state.Recipient;
        var forged = new FakeDataKeyWrap().Wrap(Secret.Random(32).Reveal(), [recipient]);
        using (var raw = TestStates.Raw(dir)) TestStates.Exec(raw, "UPDATE meta SET value = $v WHERE key = 'wrapped_data_key';", ("$v", forged));
        var e = await Assert.ThrowsAsync<KeywardException>(() => TestStates.OpenAsync(dir, Ct));
        Assert.Equal("KW0316", e.First.Code.Code);
    }

    [Fact]
    public async Task TwoStoreInstances_OnOneFile_WaitForEachOther_AndNothingIsLost()
    {
        var dir = _temp.Combine("state");
        await using var first = await TestStates.InitAsync(dir, Ct);
        await using var second = await TestStates.OpenAsync(dir, Ct);

        var tx = await first.Store.BeginAsync(Ct); // holds SQLite's write lock (BEGIN IMMEDIATE)
        await first.Store.PutAsync(V("from-first", Secret.Random(8)), Ct);
        var blocked = Task.Run(() => second.Store.PutAsync(V("from-second", Secret.Random(8)), Ct), Ct);
        await Task.Delay(300, Ct);
        Assert.False(blocked.IsCompleted, "the second writer must wait for the lock, not fail or interleave");
        await tx.CommitAsync(Ct);
        await tx.DisposeAsync();
        await blocked;

        var writers = new[] { first, second }.SelectMany(s => Enumerable.Range(0, 50).Select(i => (s, i))).ToArray();
        await Task.WhenAll(writers.Select(w => Task.Run(() => w.s.Store.AppendAuditAsync(new AuditEvent(T0, "root@host", "mint", $"c{w.i}", 1, null, null), Ct), Ct)));

        Assert.Equal(["from-first", "from-second"], (await second.Store.ListVersionsAsync(Ct)).Select(v => v.Name));
        Assert.Equal(100, (await first.Store.ReadAuditAsync(null, Ct)).Count);
        Assert.Empty(await first.Store.VerifyAuditAsync(Ct)); // two writers never forked the chain
        using var raw = TestStates.Raw(dir);
        Assert.Equal("ok", TestStates.Scalar(raw, "PRAGMA integrity_check;"));
    }

    [Fact]
    public async Task TenThousandVersions_InOneTransaction_AreStoredAndListedInOneQuery()
    {
        var dir = _temp.Combine("state");
        await using var state = await TestStates.InitAsync(dir, Ct);
        await using (var tx = await state.Store.BeginAsync(Ct))
        {
            for (var i = 0; i < 10_000; i++) await state.Store.PutAsync(V($"cred-{i:D5}", Secret.Random(32)), Ct);
            await tx.CommitAsync(Ct);
        }
        var all = await state.Store.ListVersionsAsync(Ct);
        Assert.Equal(10_000, all.Count);
        Assert.All(all, v => Assert.Equal(VersionState.Active, v.State));
        var revealed = await state.Store.RevealActiveAsync(all.Select(v => v.Name), Ct);
        Assert.Equal(10_000, revealed.Count);
    }
}
