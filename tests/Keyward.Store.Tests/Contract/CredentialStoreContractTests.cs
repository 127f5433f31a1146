using Keyward.Core.Errors;
using Keyward.Core.Secrets;
using Keyward.Core.Store;

namespace Keyward.Store.Tests.Contract;

/// <summary>
/// The behaviour every <see cref="ICredentialStore"/> must have, run against SQLite and PostgreSQL alike.
/// Subclasses create empty stores, reopen them (to prove writes are durable), and reach under the store to its rows
/// the way someone with write access to the database (but not the data key) could.
/// </summary>
public abstract class CredentialStoreContractTests : IAsyncDisposable
{
    private readonly List<ICredentialStore> _open = [];

    protected static readonly DateTimeOffset T0 = new(2025, 3, 1, 12, 0, 0, TimeSpan.Zero);

    protected static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>A new, empty store (a different store, with its own data key, on every call).</summary>
    protected abstract Task<ICredentialStore> CreateEmptyStoreAsync(CancellationToken cancellationToken);

    /// <summary>Closes <paramref name="store"/> and opens the same store again.</summary>
    protected abstract Task<ICredentialStore> ReopenStoreAsync(ICredentialStore store, CancellationToken cancellationToken);

    /// <summary>The raw nonce and ciphertext of one version, read past the store.</summary>
    protected abstract Task<(byte[] Nonce, byte[] Ciphertext)> ReadCiphertextAsync(ICredentialStore store, string name, int version);

    /// <summary>Overwrites one version's nonce and ciphertext past the store.</summary>
    protected abstract Task WriteCiphertextAsync(ICredentialStore store, string name, int version, byte[] nonce, byte[] ciphertext);

    /// <summary>Applies <paramref name="tamper"/> to the audit rows past the store (for the SQL stores: its plain SQL, which both
    /// databases accept, with the table's append-only guard removed).</summary>
    protected abstract Task TamperAuditAsync(ICredentialStore store, AuditTamper tamper);

    protected async Task<ICredentialStore> NewStoreAsync()
    {
        var store = await CreateEmptyStoreAsync(Ct);
        _open.Add(store);
        return store;
    }

    protected async Task<ICredentialStore> ReopenAsync(ICredentialStore store)
    {
        _open.Remove(store);
        var reopened = await ReopenStoreAsync(store, Ct);
        _open.Add(reopened);
        return reopened;
    }

    /// <summary>Another opening of <paramref name="store"/>'s state (its own connection), as a second process would have:
    /// another CLI command beside the server. Stores that cannot be opened twice (in memory) return the store itself.</summary>
    protected virtual Task<ICredentialStore> OpenSecondStoreAsync(ICredentialStore store, CancellationToken cancellationToken) => Task.FromResult(store);

    protected async Task<ICredentialStore> OpenSecondAsync(ICredentialStore store)
    {
        var second = await OpenSecondStoreAsync(store, Ct);
        if (!ReferenceEquals(second, store)) _open.Add(second);
        return second;
    }

    public virtual async ValueTask DisposeAsync()
    {
        foreach (var store in _open) await store.DisposeAsync();
        _open.Clear();
        GC.SuppressFinalize(this);
    }

    protected static NewVersion Version(string name, Secret value, VersionState state = VersionState.Active, DateTimeOffset? created = null,
        IReadOnlyDictionary<string, string>? metadata = null, DateTimeOffset? expires = null, string kind = "secret") =>
        new(name, kind, value, state, created ?? T0, expires, "generated", metadata ?? new Dictionary<string, string>());

    protected static async Task<KeywardException> ThrowsKwAsync(string code, Func<Task> action)
    {
        var e = await Assert.ThrowsAsync<KeywardException>(action);
        Assert.Equal(code, e.First.Code.Code);
        return e;
    }

    // ------------------------------------------------------------ identity and fingerprints

    [Fact]
    public async Task StoreId_IsStableAcrossReopen_AndDiffersBetweenStores()
    {
        var a = await NewStoreAsync();
        var b = await NewStoreAsync();
        Assert.False(string.IsNullOrWhiteSpace(a.StoreId));
        Assert.NotEqual(a.StoreId, b.StoreId);
        var id = a.StoreId;
        var reopened = await ReopenAsync(a);
        Assert.Equal(id, reopened.StoreId);
    }

    [Fact]
    public async Task Fingerprint_IsKeyedDeterministicAndPrintable()
    {
        var a = await NewStoreAsync();
        var b = await NewStoreAsync();
        byte[] value = [1, 2, 3, 4, 5];
        var fp = a.Fingerprint(value);
        Assert.Matches("^kw1:[0-9a-f]{32}$", fp);
        Assert.Equal(fp, a.Fingerprint(value.ToArray()));
        Assert.NotEqual(fp, a.Fingerprint([1, 2, 3, 4, 6]));
        Assert.NotEqual(fp, b.Fingerprint(value)); // keyed per store: equal values in two stores do not correlate
        var reopened = await ReopenAsync(a);
        Assert.Equal(fp, reopened.Fingerprint(value));
    }

    // ------------------------------------------------------------ versions

    [Fact]
    public async Task Put_ThenReveal_ReturnsTheSameBytes_AndTheFingerprintOfTheValue()
    {
        var store = await NewStoreAsync();
        using var value = Secret.Random(64);
        var stored = await store.PutAsync(Version("jwt", value), Ct);
        Assert.Equal(1, stored.Version);
        Assert.Equal(store.Fingerprint(value.Reveal()), stored.Fingerprint);
        using var revealed = await store.RevealAsync("jwt", 1, Ct);
        Assert.Equal(value, revealed);
    }

    [Fact]
    public async Task Put_EmptyValue_RoundTrips()
    {
        var store = await NewStoreAsync();
        await store.PutAsync(Version("empty", Secret.FromBytes([])), Ct);
        using var revealed = await store.RevealAsync("empty", 1, Ct);
        Assert.Equal(0, revealed.Length);
    }

    [Fact]
    public async Task Put_NumbersVersionsPerCredential()
    {
        var store = await NewStoreAsync();
        Assert.Equal(1, (await store.PutAsync(Version("a", Secret.Random(8)), Ct)).Version);
        Assert.Equal(2, (await store.PutAsync(Version("a", Secret.Random(8)), Ct)).Version);
        Assert.Equal(1, (await store.PutAsync(Version("b", Secret.Random(8)), Ct)).Version);
        Assert.Equal(3, (await store.PutAsync(Version("a", Secret.Random(8), VersionState.Staged), Ct)).Version);
    }

    [Fact]
    public async Task Put_Active_MovesActiveToPrevious_AndPreviousToRetired()
    {
        var store = await NewStoreAsync();
        await store.PutAsync(Version("k", Secret.Random(8)), Ct);
        await store.PutAsync(Version("k", Secret.Random(8)), Ct);
        await store.PutAsync(Version("k", Secret.Random(8)), Ct);
        var states = (await store.GetVersionsAsync("k", Ct)).Select(v => (v.Version, v.State)).ToArray();
        Assert.Equal([(1, VersionState.Retired), (2, VersionState.Previous), (3, VersionState.Active)], states);
        Assert.Equal(3, (await store.GetActiveAsync("k", Ct))!.Version);
    }

    [Fact]
    public async Task Put_Staged_LeavesTheActiveVersionAlone_UntilActivated()
    {
        var store = await NewStoreAsync();
        await store.PutAsync(Version("k", Secret.Random(8)), Ct);
        var staged = await store.PutAsync(Version("k", Secret.Random(8), VersionState.Staged), Ct);
        Assert.Equal(VersionState.Staged, staged.State);
        Assert.Equal(1, (await store.GetActiveAsync("k", Ct))!.Version);

        await store.SetStateAsync("k", staged.Version, VersionState.Active, Ct);
        var states = (await store.GetVersionsAsync("k", Ct)).Select(v => v.State).ToArray();
        Assert.Equal([VersionState.Previous, VersionState.Active], states);
    }

    [Fact]
    public async Task SetState_ReactivatingPrevious_SwapsActiveAndPrevious()
    {
        var store = await NewStoreAsync();
        await store.PutAsync(Version("k", Secret.Random(8)), Ct);
        await store.PutAsync(Version("k", Secret.Random(8)), Ct);
        await store.SetStateAsync("k", 1, VersionState.Active, Ct);
        var states = (await store.GetVersionsAsync("k", Ct)).Select(v => v.State).ToArray();
        Assert.Equal([VersionState.Active, VersionState.Previous], states);
    }

    [Fact]
    public async Task SetState_Retire_ChangesOnlyThatVersion()
    {
        var store = await NewStoreAsync();
        await store.PutAsync(Version("k", Secret.Random(8)), Ct);
        await store.PutAsync(Version("k", Secret.Random(8)), Ct);
        await store.SetStateAsync("k", 1, VersionState.Retired, Ct);
        var states = (await store.GetVersionsAsync("k", Ct)).Select(v => v.State).ToArray();
        Assert.Equal([VersionState.Retired, VersionState.Active], states);
    }

    [Fact]
    public async Task SetState_MissingVersion_IsKW0309()
    {
        var store = await NewStoreAsync();
        await ThrowsKwAsync("KW0309", () => store.SetStateAsync("nope", 1, VersionState.Active, Ct));
    }

    [Fact]
    public async Task Reveal_MissingCredentialOrVersion_IsKW0309()
    {
        var store = await NewStoreAsync();
        await store.PutAsync(Version("k", Secret.Random(8)), Ct);
        await ThrowsKwAsync("KW0309", () => store.RevealAsync("nope", 1, Ct));
        await ThrowsKwAsync("KW0309", () => store.RevealAsync("k", 2, Ct));
    }

    [Fact]
    public async Task GetActive_WithoutActiveVersion_IsNull()
    {
        var store = await NewStoreAsync();
        Assert.Null(await store.GetActiveAsync("k", Ct));
        await store.PutAsync(Version("k", Secret.Random(8), VersionState.Staged), Ct);
        Assert.Null(await store.GetActiveAsync("k", Ct));
    }

    [Fact]
    public async Task ListVersions_ReturnsEveryVersionWithAllMetadata_AfterReopen()
    {
        var store = await NewStoreAsync();
        var created = T0.AddTicks(1234567); // sub-millisecond precision survives
        var expires = T0.AddDays(30);
        var metadata = new Dictionary<string, string> { ["subject"] = "ci-runner", ["publicKey"] = "main-1:abc=", ["ünïcode"] = "✓" };
        await store.PutAsync(new NewVersion("tok", "attic-token", Secret.Random(8), VersionState.Active, created, expires, "minted", metadata), Ct);
        await store.PutAsync(Version("aaa", Secret.Random(8)), Ct);
        await store.PutAsync(Version("tok", Secret.Random(8), VersionState.Staged), Ct);

        store = await ReopenAsync(store);
        var all = await store.ListVersionsAsync(Ct);
        Assert.Equal(["aaa/1", "tok/1", "tok/2"], all.Select(v => $"{v.Name}/{v.Version}"));
        var tok = all[1];
        Assert.Equal("attic-token", tok.Kind);
        Assert.Equal(VersionState.Active, tok.State);
        Assert.Equal(created, tok.CreatedAt);
        Assert.Equal(expires, tok.ExpiresAt);
        Assert.Equal("minted", tok.Origin);
        Assert.Equal(metadata.OrderBy(p => p.Key, StringComparer.Ordinal), tok.Metadata.OrderBy(p => p.Key, StringComparer.Ordinal));
        Assert.Null(all[0].ExpiresAt);
        Assert.Empty(all[0].Metadata);
    }

    [Fact]
    public async Task GetVersions_UnknownName_IsEmpty()
    {
        var store = await NewStoreAsync();
        Assert.Empty(await store.GetVersionsAsync("nope", Ct));
        Assert.Empty(await store.ListVersionsAsync(Ct));
    }

    [Fact]
    public async Task RevealActive_ReturnsTheActiveValueOfEachRequestedName_AndSkipsOthers()
    {
        var store = await NewStoreAsync();
        var a1 = Secret.Random(16);
        var a2 = Secret.Random(16);
        var b1 = Secret.Random(16);
        await store.PutAsync(Version("a", a1), Ct);
        await store.PutAsync(Version("a", a2), Ct);
        await store.PutAsync(Version("b", b1), Ct);
        await store.PutAsync(Version("c", Secret.Random(16)), Ct);
        await store.PutAsync(Version("staged-only", Secret.Random(16), VersionState.Staged), Ct);

        var values = await store.RevealActiveAsync(["a", "b", "a", "staged-only", "missing"], Ct);
        Assert.Equal(["a", "b"], values.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(a2, values["a"]);
        Assert.Equal(b1, values["b"]);
    }

    [Fact]
    public async Task SetMetadata_ReplacesMetadataAndExpiry()
    {
        var store = await NewStoreAsync();
        await store.PutAsync(Version("k", Secret.Random(8), metadata: new Dictionary<string, string> { ["old"] = "1" }), Ct);
        await store.SetMetadataAsync("k", 1, new Dictionary<string, string> { ["new"] = "2" }, T0.AddDays(9), Ct);
        var v = (await store.GetActiveAsync("k", Ct))!;
        Assert.Equal(["new"], v.Metadata.Keys);
        Assert.Equal(T0.AddDays(9), v.ExpiresAt);
        await store.SetMetadataAsync("k", 1, new Dictionary<string, string>(), null, Ct);
        Assert.Null((await store.GetActiveAsync("k", Ct))!.ExpiresAt);
        await ThrowsKwAsync("KW0309", () => store.SetMetadataAsync("k", 7, new Dictionary<string, string>(), null, Ct));
    }

    [Fact]
    public async Task Values_SurviveReopen()
    {
        var store = await NewStoreAsync();
        var value = Secret.FromUtf8("ghp_persisted-value-0123456789");
        await store.PutAsync(Version("gh", value), Ct);
        store = await ReopenAsync(store);
        using var revealed = await store.RevealAsync("gh", 1, Ct);
        Assert.Equal(value, revealed);
    }

    // ------------------------------------------------------------ transactions

    [Fact]
    public async Task Transaction_Commit_WritesEverything()
    {
        var store = await NewStoreAsync();
        await using (var tx = await store.BeginAsync(Ct))
        {
            for (var i = 0; i < 50; i++) await store.PutAsync(Version($"c{i}", Secret.Random(8)), Ct);
            await store.AppendAuditAsync(new AuditEvent(T0, "root@host", "mint", "c0", 1, null, null), Ct);
            await tx.CommitAsync(Ct);
        }
        store = await ReopenAsync(store);
        Assert.Equal(50, (await store.ListVersionsAsync(Ct)).Count);
        Assert.Single(await store.ReadAuditAsync(null, Ct));
        Assert.Empty(await store.VerifyAuditAsync(Ct));
    }

    [Fact]
    public async Task Transaction_DisposedWithoutCommit_RollsBackEverything()
    {
        var store = await NewStoreAsync();
        await store.PutAsync(Version("keep", Secret.Random(8)), Ct);
        await store.AppendAuditAsync(new AuditEvent(T0, "root@host", "mint", "keep", 1, null, null), Ct);
        await using (var tx = await store.BeginAsync(Ct))
        {
            await store.PutAsync(Version("keep", Secret.Random(8)), Ct);
            await store.PutAsync(Version("gone", Secret.Random(8)), Ct);
            await store.AppendAuditAsync(new AuditEvent(T0, "root@host", "mint", "gone", 1, null, null), Ct);
            await store.PutSinkAsync(new SinkRecord("s", "/x", "kw1:00", T0), Ct);
            Assert.Equal(3, (await store.ListVersionsAsync(Ct)).Count); // reads inside see the writes
        }
        var versions = await store.ListVersionsAsync(Ct);
        Assert.Equal(["keep/1/Active"], versions.Select(v => $"{v.Name}/{v.Version}/{v.State}"));
        Assert.Single(await store.ReadAuditAsync(null, Ct));
        Assert.Empty(await store.ListSinksAsync(Ct));
        Assert.Empty(await store.VerifyAuditAsync(Ct)); // the chain head rolled back with the row
        await store.AppendAuditAsync(new AuditEvent(T0, "root@host", "mint", "next", 1, null, null), Ct);
        Assert.Empty(await store.VerifyAuditAsync(Ct));
    }

    [Fact]
    public async Task Transaction_DoesNotNest()
    {
        var store = await NewStoreAsync();
        await using var tx = await store.BeginAsync(Ct);
        await Assert.ThrowsAsync<InvalidOperationException>(() => store.BeginAsync(Ct));
    }

    [Fact]
    public async Task Transaction_FailureInside_CanBeRolledBackAndTheStoreStaysUsable()
    {
        var store = await NewStoreAsync();
        await using (var tx = await store.BeginAsync(Ct))
        {
            await store.PutAsync(Version("a", Secret.Random(8)), Ct);
            await ThrowsKwAsync("KW0309", () => store.RevealAsync("nope", 1, Ct));
        }
        Assert.Empty(await store.ListVersionsAsync(Ct));
        await store.PutAsync(Version("b", Secret.Random(8)), Ct);
        Assert.Single(await store.ListVersionsAsync(Ct));
    }

    // ------------------------------------------------------------ ledger

    private static LedgerEntry Token(string id, DateTimeOffset issued) =>
        new(id, "ci-push-token", 1, "ci-runner", "main:pull,push", issued, issued.AddDays(30), "kw1:" + new string('a', 32), "attic-jwt-secret", 2, null);

    [Fact]
    public async Task Ledger_RecordsListsAndRevokes()
    {
        var store = await NewStoreAsync();
        var second = Token("tok-b", T0.AddHours(1));
        var first = Token("tok-a", T0);
        await store.RecordTokenAsync(second, Ct);
        await store.RecordTokenAsync(first, Ct);
        store = await ReopenAsync(store);
        Assert.Equal([first, second], await store.ListLedgerAsync(Ct));

        await store.RevokeTokenAsync("tok-a", T0.AddDays(1), Ct);
        await store.RevokeTokenAsync("tok-a", T0.AddDays(2), Ct); // the first revocation stands
        var ledger = await store.ListLedgerAsync(Ct);
        Assert.Equal(T0.AddDays(1), ledger.Single(e => e.TokenId == "tok-a").RevokedAt);
        Assert.Null(ledger.Single(e => e.TokenId == "tok-b").RevokedAt);
    }

    [Fact]
    public async Task Ledger_DuplicateTokenId_IsKW0312_AndUnknownRevoke_IsKW0313()
    {
        var store = await NewStoreAsync();
        await store.RecordTokenAsync(Token("t", T0), Ct);
        await ThrowsKwAsync("KW0312", () => store.RecordTokenAsync(Token("t", T0.AddDays(1)), Ct));
        await ThrowsKwAsync("KW0313", () => store.RevokeTokenAsync("unknown", T0, Ct));
        Assert.Single(await store.ListLedgerAsync(Ct));
    }

    /// <summary>The CI exchange's replay check: it records a token whose id derives from the job's ID token, inside a
    /// transaction with its audit row; a second exchange must fail on the id, leave nothing of its transaction behind
    /// (PostgreSQL must not abort on the conflict, SQLite must roll back) and leave the store writable.</summary>
    [Fact]
    public async Task Ledger_DuplicateTokenIdInsideATransaction_IsKW0312_RollsItBack_AndTheStoreStaysUsable()
    {
        var store = await NewStoreAsync();
        await using (var tx = await store.BeginAsync(Ct))
        {
            await store.RecordTokenAsync(Token("ci-1", T0), Ct);
            await store.AppendAuditAsync(new AuditEvent(T0, "serve", "ci-token", "ci/p", null, null, "first"), Ct);
            await tx.CommitAsync(Ct);
        }
        await using (var tx = await store.BeginAsync(Ct))
        {
            await store.AppendAuditAsync(new AuditEvent(T0, "serve", "ci-token", "ci/p", null, null, "second"), Ct);
            await ThrowsKwAsync("KW0312", () => store.RecordTokenAsync(Token("ci-1", T0.AddMinutes(1)), Ct));
        }
        await store.AppendAuditAsync(new AuditEvent(T0, "serve", "ci-token-replayed", "ci/p", null, null, "refused"), Ct);
        store = await ReopenAsync(store);
        Assert.Equal([T0], (await store.ListLedgerAsync(Ct)).Select(e => e.IssuedAt));
        Assert.Equal(["first", "refused"], (await store.ReadAuditAsync(null, Ct)).Select(a => a.Event.Detail));
        Assert.Empty(await store.VerifyAuditAsync(Ct));
    }

    [Fact]
    public async Task Ledger_KeepsARecordedRevocation()
    {
        var store = await NewStoreAsync();
        var revoked = Token("t", T0) with { RevokedAt = T0.AddMinutes(5) };
        await store.RecordTokenAsync(revoked, Ct);
        Assert.Equal([revoked], await store.ListLedgerAsync(Ct));
    }

    // ------------------------------------------------------------ audit

    [Fact]
    public async Task Audit_AppendsInOrderWithAChain_AndFiltersBySince()
    {
        var store = await NewStoreAsync();
        var events = new[]
        {
            new AuditEvent(T0, "root@host", "mint", "jwt", 1, "kw1:" + new string('1', 32), null),
            new AuditEvent(T0.AddHours(1), "root@host", "reveal", "jwt", 1, null, "stdout"),
            new AuditEvent(T0.AddHours(2), "alice@laptop", "rotate", "jwt", null, null, "rule 2"),
        };
        foreach (var e in events) await store.AppendAuditAsync(e, Ct);
        store = await ReopenAsync(store);
        var records = await store.ReadAuditAsync(null, Ct);
        Assert.Equal(events, records.Select(r => r.Event));
        Assert.Equal([1L, 2L, 3L], records.Select(r => r.Sequence));
        Assert.Equal(records[0].Hash, records[1].PreviousHash);
        Assert.Equal(records[1].Hash, records[2].PreviousHash);
        Assert.Equal(3, records.Select(r => r.Hash).Distinct().Count());
        Assert.Equal(events[1..], (await store.ReadAuditAsync(T0.AddHours(1), Ct)).Select(r => r.Event));
        Assert.Empty(await store.VerifyAuditAsync(Ct));
    }

    [Fact]
    public async Task Audit_VerifyOfAnEmptyLog_IsIntact()
    {
        var store = await NewStoreAsync();
        Assert.Empty(await store.VerifyAuditAsync(Ct));
        Assert.Empty(await store.ReadAuditAsync(null, Ct));
    }

    [Fact]
    public async Task Audit_SameEventsInTwoStores_ChainToDifferentHashes()
    {
        var a = await NewStoreAsync();
        var b = await NewStoreAsync();
        var e = new AuditEvent(T0, "root@host", "mint", "jwt", 1, null, null);
        await a.AppendAuditAsync(e, Ct);
        await b.AppendAuditAsync(e, Ct);
        Assert.NotEqual((await a.ReadAuditAsync(null, Ct))[0].Hash, (await b.ReadAuditAsync(null, Ct))[0].Hash);
    }

    // ------------------------------------------------------------ sinks

    [Fact]
    public async Task Sinks_PutUpsertsByName_AndListsSorted()
    {
        var store = await NewStoreAsync();
        await store.PutSinkAsync(new SinkRecord("b", "/run/b", "kw1:" + new string('b', 32), T0), Ct);
        await store.PutSinkAsync(new SinkRecord("a", "/run/a", "kw1:" + new string('a', 32), T0), Ct);
        var updated = new SinkRecord("b", "/run/b2", "kw1:" + new string('c', 32), T0.AddDays(1));
        await store.PutSinkAsync(updated, Ct);
        store = await ReopenAsync(store);
        var sinks = await store.ListSinksAsync(Ct);
        Assert.Equal(["a", "b"], sinks.Select(s => s.Name));
        Assert.Equal(updated, sinks[1]);
    }

    // ------------------------------------------------------------ journal

    [Fact]
    public async Task Journal_StepsAreNumberedAndDurable_AndClosedJournalsDisappear()
    {
        var store = await NewStoreAsync();
        var j1 = await store.BeginJournalAsync("rotate", "{\"rotate\":[\"jwt\"]}", T0, Ct);
        var j2 = await store.BeginJournalAsync("rotate", "{\"rotate\":[\"cache-key\"]}", T0.AddMinutes(1), Ct);
        Assert.NotEqual(j1, j2);
        await store.AppendJournalStepAsync(j1, "stage", "jwt", "done", "{\"version\":2}", T0.AddSeconds(1), Ct);
        await store.AppendJournalStepAsync(j1, "render", "atticd-env", "started", null, T0.AddSeconds(2), Ct);
        await store.AppendJournalStepAsync(j2, "stage", "cache-key", "done", null, T0.AddSeconds(3), Ct);
        await store.SetJournalStatusAsync(j2, "phase-one-done", Ct);

        store = await ReopenAsync(store); // each call was committed on its own
        var open = await store.OpenJournalsAsync(Ct);
        Assert.Equal([j1, j2], open.Select(j => j.Id));
        var first = open[0];
        Assert.Equal(("rotate", JournalStatuses.Open, "{\"rotate\":[\"jwt\"]}", T0), (first.Operation, first.Status, first.Intent, first.StartedAt));
        Assert.Equal(
            [new JournalStep(j1, 1, "stage", "jwt", "done", "{\"version\":2}", T0.AddSeconds(1)), new JournalStep(j1, 2, "render", "atticd-env", "started", null, T0.AddSeconds(2))],
            first.Steps);
        Assert.Equal("phase-one-done", open[1].Status);
        Assert.Single(open[1].Steps);

        await store.SetJournalStatusAsync(j1, JournalStatuses.Committed, Ct);
        await store.SetJournalStatusAsync(j2, JournalStatuses.Aborted, Ct);
        Assert.Empty(await store.OpenJournalsAsync(Ct));
    }

    [Fact]
    public async Task Journal_ClosedOrUnknownJournal_IsKW0314()
    {
        var store = await NewStoreAsync();
        var j = await store.BeginJournalAsync("rotate", "{}", T0, Ct);
        await store.SetJournalStatusAsync(j, JournalStatuses.Committed, Ct);
        await ThrowsKwAsync("KW0314", () => store.AppendJournalStepAsync(j, "stage", "x", "done", null, T0, Ct));
        await ThrowsKwAsync("KW0314", () => store.SetJournalStatusAsync(j, JournalStatuses.Open, Ct));
        await ThrowsKwAsync("KW0314", () => store.AppendJournalStepAsync(j + 100, "stage", "x", "done", null, T0, Ct));
        await ThrowsKwAsync("KW0314", () => store.SetJournalStatusAsync(j + 100, JournalStatuses.Aborted, Ct));
    }

    [Fact]
    public async Task Journal_RefusesToRunInsideATransaction_BecauseEachCallMustCommit()
    {
        var store = await NewStoreAsync();
        var j = await store.BeginJournalAsync("rotate", "{}", T0, Ct);
        await using var tx = await store.BeginAsync(Ct);
        await Assert.ThrowsAsync<InvalidOperationException>(() => store.BeginJournalAsync("rotate", "{}", T0, Ct));
        await Assert.ThrowsAsync<InvalidOperationException>(() => store.AppendJournalStepAsync(j, "stage", "x", "done", null, T0, Ct));
        await Assert.ThrowsAsync<InvalidOperationException>(() => store.SetJournalStatusAsync(j, "aborted", Ct));
    }

    // ------------------------------------------------------------ tampering (write access to the rows, not the key)

    [Fact]
    public async Task CiphertextFromAnotherStore_IsRefused_EvenUnderTheSameNameAndVersion()
    {
        var a = await NewStoreAsync();
        var b = await NewStoreAsync();
        await a.PutAsync(Version("same", Secret.FromUtf8("value-in-a")), Ct);
        await b.PutAsync(Version("same", Secret.FromUtf8("value-in-b")), Ct);
        var (nonce, ciphertext) = await ReadCiphertextAsync(a, "same", 1);
        await WriteCiphertextAsync(b, "same", 1, nonce, ciphertext);
        var e = await ThrowsKwAsync("KW0310", () => b.RevealAsync("same", 1, Ct));
        Assert.DoesNotContain("value-in", e.ToString(), StringComparison.Ordinal);
        await ThrowsKwAsync("KW0310", () => b.RevealActiveAsync(["same"], Ct));
    }

    [Fact]
    public async Task CiphertextMovedToAnotherCredentialOrVersion_IsRefused()
    {
        var store = await NewStoreAsync();
        await store.PutAsync(Version("a", Secret.FromUtf8("old")), Ct);
        await store.PutAsync(Version("a", Secret.FromUtf8("new")), Ct);
        await store.PutAsync(Version("b", Secret.FromUtf8("other")), Ct);
        var (nonce, ciphertext) = await ReadCiphertextAsync(store, "a", 1);
        await WriteCiphertextAsync(store, "a", 2, nonce, ciphertext); // roll the active value back
        await WriteCiphertextAsync(store, "b", 1, nonce, ciphertext);
        await ThrowsKwAsync("KW0310", () => store.RevealAsync("a", 2, Ct));
        await ThrowsKwAsync("KW0310", () => store.RevealAsync("b", 1, Ct));
        using var old = await store.RevealAsync("a", 1, Ct);
        Assert.Equal("old", old.RevealString());
    }

    private async Task<ICredentialStore> StoreWithAuditAsync(int entries)
    {
        var store = await NewStoreAsync();
        for (var i = 1; i <= entries; i++)
            await store.AppendAuditAsync(new AuditEvent(T0.AddMinutes(i), "root@host", "mint", $"c{i}", 1, "kw1:" + new string('a', 32), null), Ct);
        Assert.Empty(await store.VerifyAuditAsync(Ct));
        return store;
    }

    [Theory]
    [InlineData(2, "detail", "forged", "entry 2 (mint c2) was altered: its content does not match its hash")]
    [InlineData(1, "actor", "mallory", "entry 1 (mint c1) was altered: its content does not match its hash")]
    [InlineData(2, null, null, "entry 2 is missing (deleted)")]
    [InlineData(4, null, null, "the newest entry 4 was deleted")]
    public async Task AuditVerify_DetectsEditedAndDeletedEntries(long sequence, string? column, string? value, string expected)
    {
        var store = await StoreWithAuditAsync(4);
        await TamperAuditAsync(store, column is null ? new AuditTamper.DeleteRows(sequence) : new AuditTamper.EditColumn(sequence, column, value!));
        Assert.Contains(expected, await store.VerifyAuditAsync(Ct));
    }

    [Fact]
    public async Task AuditVerify_DetectsTheWholeLogDeleted_WhenVersionsExist()
    {
        var store = await NewStoreAsync();
        await store.PutAsync(Version("a", Secret.Random(8)), Ct);
        await store.AppendAuditAsync(new AuditEvent(T0, "root@host", "mint", "a", 1, null, null), Ct);
        await TamperAuditAsync(store, new AuditTamper.DeleteRows(null));
        Assert.NotEmpty(await store.VerifyAuditAsync(Ct));
    }

    // ------------------------------------------------------------ secrets never leak

    [Fact]
    public async Task Errors_NeverContainTheValue()
    {
        var store = await NewStoreAsync();
        var value = Secret.FromUtf8("glpat-NEVER-PRINT-THIS-value");
        await store.PutAsync(Version("gl", value), Ct);
        var messages = new List<string>();
        foreach (var action in new Func<Task>[]
        {
            () => store.RevealAsync("gl", 9, Ct),
            () => store.SetStateAsync("gl", 9, VersionState.Active, Ct),
            () => store.RecordTokenAsync(Token("x", T0), Ct).ContinueWith(_ => store.RecordTokenAsync(Token("x", T0), Ct), TaskScheduler.Default).Unwrap(),
        })
        {
            var e = await Assert.ThrowsAsync<KeywardException>(action);
            messages.Add(e.ToString());
            messages.AddRange(e.Errors.Select(x => x.Message + x.Hint));
        }
        Assert.DoesNotContain(messages, m => m.Contains("NEVER-PRINT", StringComparison.Ordinal));
        Assert.Equal(Secret.Redacted, value.ToString());
    }

    // ------------------------------------------------------------ the version list, listed again

    [Fact]
    public async Task ListVersions_again_sees_every_commit_since_the_last_list_by_this_opener_or_another()
    {
        var a = await NewStoreAsync();
        await a.PutAsync(Version("x", Secret.FromUtf8("one")), Ct);
        Assert.Equal([("x", 1, VersionState.Active)], (await a.ListVersionsAsync(Ct)).Select(v => (v.Name, v.Version, v.State)));
        Assert.Equal([("x", 1, VersionState.Active)], (await a.ListVersionsAsync(Ct)).Select(v => (v.Name, v.Version, v.State)));

        var b = await OpenSecondAsync(a); // another process: a CLI rotate beside the server
        await b.PutAsync(Version("x", Secret.FromUtf8("two")), Ct);
        Assert.Equal([("x", 1, VersionState.Previous), ("x", 2, VersionState.Active)], (await a.ListVersionsAsync(Ct)).Select(v => (v.Name, v.Version, v.State)));

        await b.SetMetadataAsync("x", 2, new Dictionary<string, string> { ["note"] = "changed" }, T0.AddDays(3), Ct);
        var x2 = (await a.ListVersionsAsync(Ct)).Single(v => v.Version == 2);
        Assert.Equal("changed", x2.Metadata["note"]);
        Assert.Equal(T0.AddDays(3), x2.ExpiresAt);

        await a.PutAsync(Version("y", Secret.FromUtf8("own")), Ct); // this opener's own write
        Assert.Contains(await a.ListVersionsAsync(Ct), v => v.Name == "y");

        await using (var tx = await a.BeginAsync(Ct)) // inside a transaction: its own uncommitted write, then none after rollback
        {
            await a.PutAsync(Version("z", Secret.FromUtf8("pending")), Ct);
            Assert.Contains(await a.ListVersionsAsync(Ct), v => v.Name == "z");
        }
        Assert.DoesNotContain(await a.ListVersionsAsync(Ct), v => v.Name == "z");
        Assert.Equal(3, (await b.ListVersionsAsync(Ct)).Count); // x1, x2, y
    }
}

/// <summary>What someone with write access to the audit rows, but not the key, does to them.</summary>
public abstract record AuditTamper
{
    /// <summary>The same edit as plain SQL that SQLite and PostgreSQL both accept.</summary>
    public abstract string Sql { get; }

    /// <summary>Sets one text column (<c>detail</c>, <c>actor</c>) of audit row <paramref name="Sequence"/>.</summary>
    public sealed record EditColumn(long Sequence, string Column, string Value) : AuditTamper
    {
        public override string Sql => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"UPDATE audit SET {Column} = '{Value}' WHERE seq = {Sequence};");
    }

    /// <summary>Deletes audit row <paramref name="Sequence"/>, or every row when null.</summary>
    public sealed record DeleteRows(long? Sequence) : AuditTamper
    {
        public override string Sql => Sequence is { } s
            ? string.Create(System.Globalization.CultureInfo.InvariantCulture, $"DELETE FROM audit WHERE seq = {s};")
            : "DELETE FROM audit;";
    }
}
