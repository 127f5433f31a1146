using Keyward.Core.Errors;
using Keyward.Core.Secrets;
using Keyward.Store.Audit;
using Keyward.Core.Store;
using Keyward.Store.Tests.Support;

namespace Keyward.Store.Tests.Sqlite;

/// <summary>
/// The state seal and the audit-head copy: what someone who can write keyward.db (but holds no key) could flip to change
/// what Keyward delivers — a retired, leaked version made active again, a revocation undone — and a store that silently
/// lost committed writes. Each test breaks the database the way an attacker or an accident would and sees the open fail.
/// </summary>
public sealed class StateSealTests : IDisposable
{
    private static readonly DateTimeOffset T0 = new(2025, 3, 1, 12, 0, 0, TimeSpan.Zero);
    private readonly TempDirectory _temp = new();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _temp.Dispose();

    private static async Task<KeywardException> ThrowsKwAsync(string code, Func<Task> action)
    {
        var e = await Assert.ThrowsAsync<KeywardException>(action);
        Assert.Equal(code, e.First.Code.Code);
        return e;
    }

    /// <summary>A credential rotated twice (v1 retired, v2 previous, v3 active), a revoked token, each step audited.</summary>
    private async Task<string> RotatedStateAsync()
    {
        var dir = _temp.Combine("s");
        await using var state = await TestStates.InitAsync(dir, Ct);
        var store = state.Store;
        for (var v = 1; v <= 3; v++)
        {
            using var value = Secret.FromUtf8($"jwt-secret-{v}");
            await using var tx = await store.BeginAsync(Ct);
            var put = await store.PutAsync(new NewVersion("jwt", "secret", value, VersionState.Active, T0.AddDays(v), null, "generated", new Dictionary<string, string>()), Ct);
            await store.AppendAuditAsync(new AuditEvent(T0.AddDays(v), "root@host", "mint", "jwt", put.Version, put.Fingerprint, null), Ct);
            await tx.CommitAsync(Ct);
        }
        await store.SetStateAsync("jwt", 2, VersionState.Retired, Ct);
        await store.RecordTokenAsync(new LedgerEntry("tok-1", "push", 1, "ci", "push:main", T0, T0.AddDays(30), "kw1:" + new string('a', 32), "jwt", 3, null), Ct);
        await store.RevokeTokenAsync("tok-1", T0.AddDays(4), Ct);
        await store.AppendAuditAsync(new AuditEvent(T0.AddDays(4), "root@host", "revoke", "push", 1, null, "tok-1"), Ct);
        return dir;
    }

    private static void Raw(string dir, string sql)
    {
        using var raw = TestStates.Raw(dir);
        TestStates.Exec(raw, sql);
    }

    [Fact]
    public async Task IntactStore_OpensAndKeepsItsSealAcrossWrites()
    {
        var dir = await RotatedStateAsync();
        await using var state = await TestStates.OpenAsync(dir, Ct);
        Assert.Equal(3, (await state.Store.GetActiveAsync("jwt", Ct))!.Version);
        using var raw = TestStates.Raw(dir);
        Assert.StartsWith(StateSeal.Prefix, TestStates.Scalar(raw, "SELECT value FROM meta WHERE key = 'state_seal';") as string);
    }

    [Fact]
    public async Task RetiredVersionFlippedBackToActive_IsKW0310_AndNothingIsDelivered()
    {
        var dir = await RotatedStateAsync();
        // The reproduction from the review: two state columns, no key needed.
        Raw(dir, "UPDATE versions SET state = 'retired' WHERE name = 'jwt' AND version = 3; UPDATE versions SET state = 'active' WHERE name = 'jwt' AND version = 1;");
        var e = await ThrowsKwAsync("KW0310", () => TestStates.OpenAsync(dir, Ct));
        Assert.Contains("altered outside Keyward", e.First.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("UPDATE ledger SET revoked = NULL WHERE token_id = 'tok-1';")]
    [InlineData("UPDATE versions SET expires = '2099-01-01T00:00:00.0000000Z' WHERE name = 'jwt' AND version = 3;")]
    [InlineData("UPDATE versions SET metadata = '{\"publicKey\":\"attacker\"}' WHERE name = 'jwt' AND version = 3;")]
    [InlineData("UPDATE versions SET fingerprint = 'kw1:00000000000000000000000000000000' WHERE name = 'jwt' AND version = 3;")]
    [InlineData("DELETE FROM versions WHERE name = 'jwt' AND version = 3; UPDATE versions SET state = 'active' WHERE name = 'jwt' AND version = 2;")]
    [InlineData("DELETE FROM ledger;")]
    public async Task AnyFlipOfWhatIsDeliveredOrAccepted_IsKW0310(string sql)
    {
        var dir = await RotatedStateAsync();
        Raw(dir, sql);
        await ThrowsKwAsync("KW0310", () => TestStates.OpenAsync(dir, Ct));
    }

    /// <summary>The seal check reads SQLite's UTF-8 text without making strings; its seal must be the seal of the decoded
    /// strings (what the PostgreSQL store and every older Keyward seal), whatever the database holds: odd storage classes,
    /// an embedded NUL, bytes that are not UTF-8. The reference is computed here the old way, through
    /// <see cref="Microsoft.Data.Sqlite.SqliteDataReader.GetString"/>, and stored as the seal: the open only passes if the
    /// two agree row for row. Then a revocation undone beside them must still fail it.</summary>
    [Fact]
    public async Task SealOfTheRawText_EqualsTheSealOfTheDecodedStrings_ForOddAndInvalidText()
    {
        var dir = await RotatedStateAsync();
        byte[] auditKey;
        await using (var state = await TestStates.OpenAsync(dir, Ct))
        {
            auditKey = AuditKey(state);
        }
        Raw(dir, """
            INSERT INTO versions (name, version, kind, state, created, expires, origin, metadata, nonce, ciphertext, fingerprint)
            VALUES ('a' || char(0) || 'b', 2.5, 'secret', 'retired', '2025-01-01T00:00:00.0000000Z', X'3432', 'generated',
                    X'7B22C328223A2278FF227D', X'00', X'00', 'kw1:' || char(233) || char(0));
            INSERT INTO ledger (token_id, credential, version, subject, permissions, issued, expires, fingerprint, signed_by, signed_by_version, revoked)
            VALUES ('tok-odd', 'push', '7', 'ci', X'80', '2025-03-01', 1.25, 'kw1:x', 'jwt', 3, X'EDA080');
            """);

        StoreSeal(dir, ReferenceSeal(dir, auditKey));
        await using (var state = await TestStates.OpenAsync(dir, Ct))
        {
            // The odd rows were sealed as they are; they still fail to parse where the versions are listed.
            await Assert.ThrowsAsync<KeywardException>(() => state.Store.ListVersionsAsync(Ct));
        }

        Raw(dir, "UPDATE ledger SET revoked = NULL WHERE token_id = 'tok-odd';");
        await ThrowsKwAsync("KW0310", () => TestStates.OpenAsync(dir, Ct));
        StoreSeal(dir, ReferenceSeal(dir, auditKey));
        await using (await TestStates.OpenAsync(dir, Ct))
        {
        }
    }

    private static byte[] AuditKey(OpenedState state) => (byte[])((Keyward.Store.Sqlite.SqliteCredentialStore)state.Store).Keys.AuditKey.Clone();

    /// <summary>The seal of the rows as they are, computed the old way: every column through
    /// <see cref="Microsoft.Data.Sqlite.SqliteDataReader.GetString"/>.</summary>
    private static string ReferenceSeal(string dir, byte[] auditKey)
    {
        using var raw = TestStates.Raw(dir);
        var head = TestStates.Scalar(raw, "SELECT value FROM meta WHERE key = 'audit_head';") as string;
        using var seal = new StateSeal(auditKey, head);
        foreach (var sql in new[] { StateSeal.SqliteVersionRows, StateSeal.SqliteLedgerRows })
        {
            using var command = raw.CreateCommand();
            command.CommandText = sql;
            using var reader = command.ExecuteReader();
            seal.AddRows(reader);
        }
        return seal.Finish();
    }

    private static void StoreSeal(string dir, string seal)
    {
        using var raw = TestStates.Raw(dir);
        TestStates.Exec(raw, "UPDATE meta SET value = $v WHERE key = 'state_seal';", ("$v", seal));
    }

    /// <summary>The seal check parses the version rows it reads in batches on another thread: every row comes back, in
    /// order, with its metadata; a row that does not parse in a later batch still fails the list (KW0310) after the seal
    /// passed, as it did when the rows were parsed where they are listed.</summary>
    [Fact]
    public async Task ManyVersions_ParsedWhileSealed_ComeBackInOrder_AndABadRowInALaterBatchFailsTheList()
    {
        const int Count = 1300;
        var dir = _temp.Combine("many");
        await using (var state = await TestStates.InitAsync(dir, Ct))
        {
            await using var tx = await state.Store.BeginAsync(Ct);
            for (var i = 0; i < Count; i++)
            {
                using var value = Secret.FromUtf8($"value-{i}");
                var metadata = new Dictionary<string, string> { ["spec"] = $"{i:x16}", ["signedBy"] = $"jwt-{i % 7}", ["permissions"] = "main:pull" };
                await state.Store.PutAsync(new NewVersion($"c{i:D4}", i % 2 == 0 ? "secret" : "attic-token", value, VersionState.Active, T0.AddSeconds(i),
                    i % 2 == 0 ? null : T0.AddDays(30), i % 2 == 0 ? "generated" : "minted", metadata), Ct);
            }
            await tx.CommitAsync(Ct);
        }
        byte[] auditKey;
        await using (var state = await TestStates.OpenAsync(dir, Ct))
        {
            auditKey = AuditKey(state);
            var versions = await state.Store.ListVersionsAsync(Ct);
            Assert.Equal(Count, versions.Count);
            for (var i = 0; i < Count; i++)
            {
                var v = versions[i];
                Assert.Equal($"c{i:D4}", v.Name);
                Assert.Equal(1, v.Version);
                Assert.Equal(i % 2 == 0 ? "secret" : "attic-token", v.Kind);
                Assert.Equal(i % 2 == 0 ? "generated" : "minted", v.Origin);
                Assert.Equal(T0.AddSeconds(i), v.CreatedAt);
                Assert.Equal(i % 2 == 0 ? null : T0.AddDays(30), v.ExpiresAt);
                Assert.Equal(VersionState.Active, v.State);
                Assert.Equal(["permissions", "signedBy", "spec"], v.Metadata.Keys);
                Assert.Equal($"{i:x16}", v.Metadata["spec"]);
                Assert.Equal($"jwt-{i % 7}", v.Metadata["signedBy"]);
                using var revealed = await state.Store.RevealAsync(v.Name, 1, Ct);
                Assert.Equal(v.Fingerprint, state.Store.Fingerprint(revealed.Reveal()));
            }
        }
        Raw(dir, "UPDATE versions SET created = 'not a time' WHERE name = 'c1200';");
        StoreSeal(dir, ReferenceSeal(dir, auditKey));
        await using (var state = await TestStates.OpenAsync(dir, Ct))
        {
            var e = await ThrowsKwAsync("KW0310", () => state.Store.ListVersionsAsync(Ct));
            Assert.Contains("wrong type or format", e.First.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task DeletedSeal_IsKW0310_NotAStoreMadeBeforeTheSeal()
    {
        var dir = await RotatedStateAsync();
        Raw(dir, "DELETE FROM meta WHERE key = 'state_seal'; UPDATE versions SET state = 'retired' WHERE name = 'jwt' AND version = 3; UPDATE versions SET state = 'active' WHERE name = 'jwt' AND version = 1;");
        var e = await ThrowsKwAsync("KW0310", () => TestStates.OpenAsync(dir, Ct));
        Assert.Contains("seal", e.First.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task OlderSealReplayedWithOlderRows_IsKW0310_BecauseTheAuditHeadMovedOn()
    {
        var dir = await RotatedStateAsync();
        string oldSeal, oldStates;
        using (var raw = TestStates.Raw(dir))
        {
            oldSeal = (string)TestStates.Scalar(raw, "SELECT value FROM meta WHERE key = 'state_seal';")!;
            oldStates = (string)TestStates.Scalar(raw, "SELECT group_concat(version || state) FROM versions;")!;
        }
        await using (var state = await TestStates.OpenAsync(dir, Ct))
        {
            await state.Store.SetStateAsync("jwt", 3, VersionState.Retired, Ct);
            await state.Store.SetStateAsync("jwt", 1, VersionState.Retired, Ct);
            await state.Store.AppendAuditAsync(new AuditEvent(T0.AddDays(5), "root@host", "retire", "jwt", 3, null, "leaked"), Ct);
        }
        // Put the rows and the seal back as they were: the seal is genuine, but for an earlier audit head.
        Raw(dir, $"UPDATE versions SET state = 'retired' WHERE name = 'jwt'; UPDATE versions SET state = 'active' WHERE version = 3; UPDATE meta SET value = '{oldSeal}' WHERE key = 'state_seal';");
        using (var raw = TestStates.Raw(dir)) Assert.Equal(oldStates, TestStates.Scalar(raw, "SELECT group_concat(version || state) FROM versions;"));
        await ThrowsKwAsync("KW0310", () => TestStates.OpenAsync(dir, Ct));
    }

    [Fact]
    public async Task StoreMadeBeforeTheSeal_IsSealedAtItsNextOpen_AndProtectedFromThen()
    {
        var dir = await RotatedStateAsync();
        await MakeLegacyAsync(dir);
        await using (var state = await TestStates.OpenAsync(dir, Ct))
        {
            Assert.Equal(3, (await state.Store.GetActiveAsync("jwt", Ct))!.Version);
            Assert.Empty(await state.Store.VerifyAuditAsync(Ct));
        }
        using (var raw = TestStates.Raw(dir))
            Assert.NotNull(TestStates.Scalar(raw, "SELECT value FROM meta WHERE key = 'state_seal';"));
        Raw(dir, "UPDATE versions SET state = 'retired' WHERE version = 3; UPDATE versions SET state = 'active' WHERE version = 1;");
        await ThrowsKwAsync("KW0310", () => TestStates.OpenAsync(dir, Ct));
    }

    [Fact]
    public async Task StoreMadeBeforeTheSeal_WithABrokenAuditChain_IsNotSealedButRefusedWithKW0811()
    {
        var dir = await RotatedStateAsync();
        await MakeLegacyAsync(dir);
        Raw(dir, "DROP TRIGGER audit_no_update; UPDATE audit SET detail = 'forged' WHERE seq = 2;");
        await ThrowsKwAsync("KW0811", () => TestStates.OpenAsync(dir, Ct));
        using var raw = TestStates.Raw(dir);
        Assert.Null(TestStates.Scalar(raw, "SELECT value FROM meta WHERE key = 'state_seal';"));
    }

    /// <summary>What a store written before the seal looks like: no seal row, and a head MAC'd under the old label.</summary>
    private static async Task MakeLegacyAsync(string dir)
    {
        byte[] auditKey;
        await using (var state = await TestStates.OpenAsync(dir, Ct)) auditKey = [.. state.KeyedStore.Keys.AuditKey];
        using var raw = TestStates.Raw(dir);
        var head = AuditHead.TryParse((string)TestStates.Scalar(raw, "SELECT value FROM meta WHERE key = 'audit_head';")!)!;
        var legacy = new AuditHead(head.Sequence, head.Hash, AuditChain.HeadMac(auditKey, head.Sequence, head.Hash, legacy: true));
        TestStates.Exec(raw, "DELETE FROM meta WHERE key = 'state_seal'; UPDATE meta SET value = $h WHERE key = 'audit_head';", ("$h", legacy.ToString()));
    }

    [Fact]
    public void AuditVerifier_EmptyLogWithoutHead_OnAStoreWithVersions_IsReported()
    {
        var key = new byte[32];
        Assert.Equal(["the audit log is empty but the store holds 2 credential versions: the log and its chain head were deleted"],
            AuditVerifier.Verify(key, [], null, 2));
        Assert.Empty(AuditVerifier.Verify(key, [], null, 0));
    }

    // ------------------------------------------------------------------ lost writes

    [Fact]
    public async Task DeletedWal_ThatHeldACommittedRotation_IsKW0324()
    {
        var dir = await RotatedStateAsync();
        var copy = _temp.Combine("copy");
        await using (var state = await TestStates.OpenAsync(dir, Ct))
        {
            await state.Store.SetStateAsync("jwt", 3, VersionState.Retired, Ct);
            await state.Store.AppendAuditAsync(new AuditEvent(T0.AddDays(6), "root@host", "retire", "jwt", 3, null, "leaked"), Ct);
            // While the store is open its last commits live in keyward.db-wal: a copy without that file (a backup tool
            // that skips it, or an operator deleting "junk") is the database as it was before them.
            Directory.CreateDirectory(copy);
            foreach (var name in new[] { StateDirectory.DatabaseFileName, StateDirectory.IdentityFileName, StateAnchor.FileName })
                File.Copy(Path.Combine(dir, name), Path.Combine(copy, name));
            Assert.True(new FileInfo(Path.Combine(dir, StateDirectory.DatabaseFileName + "-wal")).Length > 0);
        }
        var e = await ThrowsKwAsync("KW0324", () => TestStates.OpenAsync(copy, Ct));
        Assert.Contains("lost writes", e.First.Message, StringComparison.Ordinal);
        // The writer's own copy, with its WAL, is whole.
        await using (var whole = await TestStates.OpenAsync(dir, Ct)) Assert.Null(await whole.Store.GetActiveAsync("jwt", Ct));
    }

    [Fact]
    public async Task OlderKeywardDbRestored_IsKW0324_UntilTheOperatorAcceptsItByRemovingTheCopy()
    {
        var dir = await RotatedStateAsync();
        var backup = _temp.Combine("backup.db");
        File.Copy(Path.Combine(dir, StateDirectory.DatabaseFileName), backup);
        await using (var state = await TestStates.OpenAsync(dir, Ct))
            await state.Store.AppendAuditAsync(new AuditEvent(T0.AddDays(6), "root@host", "reveal", "jwt", 3, null, null), Ct);
        File.Copy(backup, Path.Combine(dir, StateDirectory.DatabaseFileName), overwrite: true);
        await ThrowsKwAsync("KW0324", () => TestStates.OpenAsync(dir, Ct));
        File.Delete(Path.Combine(dir, StateAnchor.FileName));
        await using var accepted = await TestStates.OpenAsync(dir, Ct);
        Assert.Equal(3, (await accepted.Store.GetActiveAsync("jwt", Ct))!.Version);
    }

    [Fact]
    public async Task AuditHeadCopy_IsWrittenAfterEachAuditedCommit_0600()
    {
        var dir = await RotatedStateAsync();
        var path = Path.Combine(dir, StateAnchor.FileName);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        using var raw = TestStates.Raw(dir);
        var head = AuditHead.TryParse((string)TestStates.Scalar(raw, "SELECT value FROM meta WHERE key = 'audit_head';")!)!;
        Assert.Equal(head, AuditHead.TryParse(File.ReadAllText(path).Trim()));
    }
}
