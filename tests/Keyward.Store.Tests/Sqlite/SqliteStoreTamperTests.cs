using Keyward.Core.Errors;
using Keyward.Core.Secrets;
using Keyward.Core.Store;
using Keyward.Store.Tests.Support;

namespace Keyward.Store.Tests.Sqlite;

/// <summary>What someone with write access to keyward.db (but not the data key) can and cannot get away with.</summary>
public sealed class SqliteStoreTamperTests : IDisposable
{
    private static readonly DateTimeOffset T0 = new(2025, 3, 1, 12, 0, 0, TimeSpan.Zero);
    private readonly TempDirectory _temp = new();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _temp.Dispose();

    private static NewVersion V(string name, Secret value, VersionState state = VersionState.Active) =>
        new(name, "secret", value, state, T0, null, "generated", new Dictionary<string, string>());

    private static async Task<KeywardException> ThrowsKwAsync(string code, Func<Task> action)
    {
        var e = await Assert.ThrowsAsync<KeywardException>(action);
        Assert.Equal(code, e.First.Code.Code);
        return e;
    }

    private static void CopyCiphertext(string dir, string fromName, int fromVersion, string toName, int toVersion)
    {
        using var raw = TestStates.Raw(dir);
        var changed = TestStates.Exec(raw, """
            UPDATE versions SET
              nonce = (SELECT nonce FROM versions WHERE name = $fn AND version = $fv),
              ciphertext = (SELECT ciphertext FROM versions WHERE name = $fn AND version = $fv)
            WHERE name = $tn AND version = $tv;
            """, ("$fn", fromName), ("$fv", fromVersion), ("$tn", toName), ("$tv", toVersion));
        Assert.Equal(1, changed);
    }

    [Fact]
    public async Task CiphertextCopiedToAnotherCredential_FailsToDecrypt()
    {
        var dir = _temp.Combine("s");
        await using (var state = await TestStates.InitAsync(dir, Ct))
        {
            await state.Store.PutAsync(V("a", Secret.FromUtf8("value-of-a")), Ct);
            await state.Store.PutAsync(V("b", Secret.FromUtf8("value-of-b")), Ct);
        }
        CopyCiphertext(dir, "a", 1, "b", 1);
        await using var reopened = await TestStates.OpenAsync(dir, Ct);
        using (var a = await reopened.Store.RevealAsync("a", 1, Ct)) Assert.Equal("value-of-a", a.RevealString());
        var e = await ThrowsKwAsync("KW0310", () => reopened.Store.RevealAsync("b", 1, Ct));
        Assert.DoesNotContain("value-of", e.ToString(), StringComparison.Ordinal);
        await ThrowsKwAsync("KW0310", () => reopened.Store.RevealActiveAsync(["a", "b"], Ct));
    }

    [Fact]
    public async Task CiphertextCopiedToAnotherVersionOfTheSameCredential_FailsToDecrypt()
    {
        var dir = _temp.Combine("s");
        await using var state = await TestStates.InitAsync(dir, Ct);
        await state.Store.PutAsync(V("k", Secret.FromUtf8("old")), Ct);
        await state.Store.PutAsync(V("k", Secret.FromUtf8("new")), Ct);
        CopyCiphertext(dir, "k", 1, "k", 2); // roll back the active value by copying the old row's bytes
        await ThrowsKwAsync("KW0310", () => state.Store.RevealAsync("k", 2, Ct));
        using var old = await state.Store.RevealAsync("k", 1, Ct);
        Assert.Equal("old", old.RevealString());
    }

    [Fact]
    public async Task CiphertextCopiedFromAnotherStore_FailsToDecrypt()
    {
        var dirA = _temp.Combine("a");
        var dirB = _temp.Combine("b");
        await using (var a = await TestStates.InitAsync(dirA, Ct))
        await using (var b = await TestStates.InitAsync(dirB, Ct))
        {
            await a.Store.PutAsync(V("same-name", Secret.FromUtf8("from-store-a")), Ct);
            await b.Store.PutAsync(V("same-name", Secret.FromUtf8("from-store-b")), Ct);
        }
        byte[] nonce, ciphertext;
        using (var rawA = TestStates.Raw(dirA))
        {
            nonce = (byte[])TestStates.Scalar(rawA, "SELECT nonce FROM versions WHERE name = 'same-name';")!;
            ciphertext = (byte[])TestStates.Scalar(rawA, "SELECT ciphertext FROM versions WHERE name = 'same-name';")!;
        }
        using (var rawB = TestStates.Raw(dirB))
        {
            TestStates.Exec(rawB, "UPDATE versions SET nonce = $n, ciphertext = $c WHERE name = 'same-name';", ("$n", nonce), ("$c", ciphertext));
        }
        await using var reopenedB = await TestStates.OpenAsync(dirB, Ct);
        await ThrowsKwAsync("KW0310", () => reopenedB.Store.RevealAsync("same-name", 1, Ct));
    }

    [Fact]
    public async Task FlippedCiphertextBit_FailsToDecrypt()
    {
        var dir = _temp.Combine("s");
        await using var state = await TestStates.InitAsync(dir, Ct);
        await state.Store.PutAsync(V("k", Secret.Random(32)), Ct);
        using (var raw = TestStates.Raw(dir))
        {
            var c = (byte[])TestStates.Scalar(raw, "SELECT ciphertext FROM versions;")!;
            c[5] ^= 0x01;
            TestStates.Exec(raw, "UPDATE versions SET ciphertext = $c;", ("$c", c));
        }
        await ThrowsKwAsync("KW0310", () => state.Store.RevealAsync("k", 1, Ct));
    }

    // ------------------------------------------------------------------ audit chain

    private async Task<string> AuditedStateAsync(int entries)
    {
        var dir = _temp.Combine("audit");
        await using var state = await TestStates.InitAsync(dir, Ct);
        for (var i = 1; i <= entries; i++)
        {
            await state.Store.AppendAuditAsync(new AuditEvent(T0.AddMinutes(i), "root@host", i % 2 == 0 ? "reveal" : "mint", $"cred-{i}", i, $"kw1:{i:x32}", null), Ct);
        }
        Assert.Empty(await state.Store.VerifyAuditAsync(Ct));
        return dir;
    }

    private static async Task<IReadOnlyList<string>> VerifyAsync(string dir)
    {
        await using var state = await TestStates.OpenAsync(dir, Ct);
        return await state.Store.VerifyAuditAsync(Ct);
    }

    private static void Tamper(string dir, string sql)
    {
        using var raw = TestStates.Raw(dir);
        TestStates.Exec(raw, "DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete;");
        TestStates.Exec(raw, sql);
    }

    [Fact]
    public async Task Audit_IsAppendOnlyForOrdinarySql()
    {
        var dir = await AuditedStateAsync(2);
        using var raw = TestStates.Raw(dir);
        Assert.Throws<Microsoft.Data.Sqlite.SqliteException>(() => TestStates.Exec(raw, "UPDATE audit SET actor = 'x';"));
        Assert.Throws<Microsoft.Data.Sqlite.SqliteException>(() => TestStates.Exec(raw, "DELETE FROM audit;"));
    }

    [Theory]
    [InlineData("actor = 'mallory@host'")]
    [InlineData("action = 'retire'")]
    [InlineData("credential = 'other'")]
    [InlineData("version = 99")]
    [InlineData("fingerprint = NULL")]
    [InlineData("detail = 'harmless'")]
    [InlineData("at = '2030-01-01T00:00:00.0000000Z'")]
    public async Task Audit_EditedEntry_IsDetected(string assignment)
    {
        var dir = await AuditedStateAsync(4);
        Tamper(dir, $"UPDATE audit SET {assignment} WHERE seq = 2;");
        var problems = await VerifyAsync(dir);
        Assert.Equal(["entry 2 (" + (assignment.StartsWith("action", StringComparison.Ordinal) ? "retire" : "reveal") + " " +
            (assignment.StartsWith("credential", StringComparison.Ordinal) ? "other" : "cred-2") + ") was altered: its content does not match its hash"], problems);
    }

    [Fact]
    public async Task Audit_EditedEntryWithARecomputedLookingHash_BreaksTheChainAfterIt()
    {
        var dir = await AuditedStateAsync(4);
        Tamper(dir, "UPDATE audit SET detail = 'x', hash = (SELECT hash FROM audit WHERE seq = 1) WHERE seq = 2;");
        var problems = await VerifyAsync(dir);
        Assert.Contains(problems, p => p.StartsWith("entry 2 ", StringComparison.Ordinal) && p.Contains("altered", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("entry 3 ", StringComparison.Ordinal) && p.Contains("chain was broken", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Audit_DeletedMiddleEntry_IsDetected()
    {
        var dir = await AuditedStateAsync(4);
        Tamper(dir, "DELETE FROM audit WHERE seq = 2;");
        var problems = await VerifyAsync(dir);
        Assert.Contains("entry 2 is missing (deleted)", problems);
        Assert.Contains(problems, p => p.StartsWith("entry 3 ", StringComparison.Ordinal) && p.Contains("chain was broken", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Audit_DeletedNewestEntry_IsDetectedThroughTheChainHead()
    {
        var dir = await AuditedStateAsync(4);
        Tamper(dir, "DELETE FROM audit WHERE seq = 4;");
        Assert.Equal(["the newest entry 4 was deleted"], await VerifyAsync(dir));
    }

    [Fact]
    public async Task Audit_DeletedNewestEntryAndRewoundHead_IsDetected()
    {
        var dir = await AuditedStateAsync(4);
        Tamper(dir, "DELETE FROM audit WHERE seq = 4;");
        using (var raw = TestStates.Raw(dir))
        {
            // The attacker points the head at entry 3 but cannot compute the head's MAC.
            TestStates.Exec(raw, "UPDATE meta SET value = '3:' || (SELECT hash FROM audit WHERE seq = 3) || ':' || substr(value, -64) WHERE key = 'audit_head';");
        }
        // The copy of the head beside the database still names entry 4; without it, the state seal (which covers the
        // head) no longer matches. Either way the store refuses to open with a tamper code.
        await ThrowsKwAsync("KW0324", () => VerifyAsync(dir));
        File.Delete(Path.Combine(dir, StateAnchor.FileName));
        await ThrowsKwAsync("KW0310", () => VerifyAsync(dir));
    }

    [Fact]
    public async Task Audit_DeletingEverything_IsDetected()
    {
        var dir = await AuditedStateAsync(3);
        Tamper(dir, "DELETE FROM audit;");
        Assert.Equal(["the newest entries 1..3 were deleted"], await VerifyAsync(dir));
    }

    [Fact]
    public async Task Audit_ReorderedEntries_AreDetected()
    {
        var dir = await AuditedStateAsync(4);
        // Swap the contents (including hashes) of entries 2 and 3, keeping the sequence numbers in place.
        Tamper(dir, """
            UPDATE audit SET seq = -2 WHERE seq = 2;
            UPDATE audit SET seq = 2 WHERE seq = 3;
            UPDATE audit SET seq = 3 WHERE seq = -2;
            """);
        var problems = await VerifyAsync(dir);
        Assert.Contains(problems, p => p.StartsWith("entry 2 ", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("entry 3 ", StringComparison.Ordinal));
        Assert.NotEmpty(problems);
    }

    [Fact]
    public async Task Audit_AppendAfterADeletedNewestEntry_LeavesTheGapVisible()
    {
        var dir = await AuditedStateAsync(3);
        Tamper(dir, "DELETE FROM audit WHERE seq = 3;");
        await using var state = await TestStates.OpenAsync(dir, Ct);
        await state.Store.AppendAuditAsync(new AuditEvent(T0.AddHours(1), "root@host", "mint", "x", 1, null, null), Ct);
        var records = await state.Store.ReadAuditAsync(null, Ct);
        Assert.Equal([1L, 2L, 4L], records.Select(r => r.Sequence));
        var problems = await state.Store.VerifyAuditAsync(Ct);
        Assert.Equal(2, problems.Count);
        Assert.Equal("entry 3 is missing (deleted)", problems[0]);
        Assert.StartsWith("entry 4 (mint x) does not follow the entry before it", problems[1], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Audit_ForgedEntryAppendedWithoutTheKey_IsDetected()
    {
        var dir = await AuditedStateAsync(2);
        using (var raw = TestStates.Raw(dir))
        {
            TestStates.Exec(raw, """
                INSERT INTO audit (seq, at, actor, action, credential, version, fingerprint, detail, prev_hash, hash)
                SELECT 3, '2025-03-01T13:00:00.0000000Z', 'mallory', 'mint', 'x', 1, NULL, NULL, hash, hash FROM audit WHERE seq = 2;
                """);
        }
        var problems = await VerifyAsync(dir);
        Assert.Contains("entry 3 (mint x) was altered: its content does not match its hash", problems);
        Assert.Contains("entries 3..3 were added outside Keyward", problems);
    }
    // ------------------------------------------------------------------ issue 9: malformed rows and a wiped log

    [Theory]
    [InlineData("UPDATE versions SET ciphertext = 'not a blob';", "reveal", "KW0310")]
    [InlineData("UPDATE versions SET nonce = 42;", "reveal", "KW0310")]
    [InlineData("UPDATE versions SET created = 'yesterday';", "list", "KW0310")]
    [InlineData("UPDATE versions SET expires = 'soon';", "list", "KW0310")]
    [InlineData("UPDATE versions SET metadata = '{not json';", "list", "KW0307")] // StoredMetadata says so itself
    public async Task RowEditedToTheWrongTypeOrFormat_IsATamperOrCorruptCode_NotAnInternalError(string sql, string read, string code)
    {
        var dir = _temp.Combine("s");
        await using var state = await TestStates.InitAsync(dir, Ct);
        await state.Store.PutAsync(V("k", Secret.Random(32)), Ct);
        using (var raw = TestStates.Raw(dir)) TestStates.Exec(raw, sql);
        await ThrowsKwAsync(code, () => read == "reveal" ? state.Store.RevealAsync("k", 1, Ct) : state.Store.ListVersionsAsync(Ct));
    }

    [Fact]
    public async Task Audit_WipedLogAndHeadOnAStoreWithVersions_IsDetected()
    {
        var dir = await AuditedStateAsync(3);
        await using (var state = await TestStates.OpenAsync(dir, Ct)) await state.Store.PutAsync(V("k", Secret.Random(32)), Ct);
        Tamper(dir, "DELETE FROM audit; DELETE FROM meta WHERE key = 'audit_head';");
        await ThrowsKwAsync("KW0324", () => VerifyAsync(dir));
        File.Delete(Path.Combine(dir, StateAnchor.FileName));
        await ThrowsKwAsync("KW0310", () => VerifyAsync(dir));
        // And with the seal gone too, the verifier itself (what `audit verify` reports) still sees it.
        using (var raw = TestStates.Raw(dir)) TestStates.Exec(raw, "DELETE FROM meta WHERE key = 'state_seal';");
        await ThrowsKwAsync("KW0310", () => VerifyAsync(dir));
    }
}
