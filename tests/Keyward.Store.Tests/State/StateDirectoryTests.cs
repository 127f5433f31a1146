using Keyward.Core.Errors;
using Keyward.Core.Secrets;
using Keyward.Crypto.Age;
using Keyward.Core.Store;
using Keyward.Store.Tests.Support;
using Microsoft.Extensions.Time.Testing;

namespace Keyward.Store.Tests.State;

/// <summary>The state directory with the real (in-process) age wrapping.</summary>
public sealed class StateDirectoryTests : IDisposable
{
    private static readonly DateTimeOffset T0 = new(2025, 3, 1, 12, 0, 0, TimeSpan.Zero);
    private readonly TempDirectory _temp = new();
    private readonly FakeTimeProvider _time = new(T0);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _temp.Dispose();

    private static NewVersion V(string name, Secret value) =>
        new(name, "secret", value, VersionState.Active, T0, null, "generated", new Dictionary<string, string>());

    private static async Task<KeywardException> ThrowsKwAsync(string code, Func<Task> action)
    {
        var e = await Assert.ThrowsAsync<KeywardException>(action);
        Assert.Equal(code, e.First.Code.Code);
        return e;
    }

    [Fact]
    public async Task Init_WritesAnAgeKeygenStyleIdentity_AndTheStoreReopensWithIt()
    {
        var dir = _temp.Combine("state");
        Assert.False(StateDirectory.IsInitialised(dir));
        string recipient;
        await using (var state = await StateDirectory.InitAsync(dir, [], _time, Ct))
        {
            recipient = state.Recipient;
            Assert.StartsWith("age1", recipient, StringComparison.Ordinal);
            Assert.Equal([recipient], state.Recipients);
            Assert.Equal(Path.Combine(dir, "identity.txt"), state.IdentityPath);
            Assert.Equal(dir, state.Directory);
            await state.Store.PutAsync(V("jwt", Secret.FromUtf8("persisted")), Ct);
        }
        Assert.True(StateDirectory.IsInitialised(dir));
        var lines = await File.ReadAllLinesAsync(Path.Combine(dir, "identity.txt"), Ct);
        Assert.Equal(["# created: 2025-03-01T12:00:00Z", $"# public key: {recipient}"], lines[..2]);
        Assert.StartsWith("AGE-SECRET-KEY-1", lines[2], StringComparison.Ordinal);
        Assert.Equal(3, lines.Length);

        await using var reopened = await StateDirectory.OpenAsync(dir, _time, Ct);
        Assert.Equal(recipient, reopened.Recipient);
        using var value = await reopened.Store.RevealAsync("jwt", 1, Ct);
        Assert.Equal("persisted", value.RevealString());
    }

    [Fact]
    public async Task Init_Twice_IsKW0302_AndLeavesTheFirstIdentityUntouched()
    {
        var dir = _temp.Combine("state");
        await (await StateDirectory.InitAsync(dir, [], _time, Ct)).DisposeAsync();
        var identity = await File.ReadAllBytesAsync(Path.Combine(dir, "identity.txt"), Ct);
        await ThrowsKwAsync("KW0302", () => StateDirectory.InitAsync(dir, [], _time, Ct));
        Assert.Equal(identity, await File.ReadAllBytesAsync(Path.Combine(dir, "identity.txt"), Ct));
    }

    [Fact]
    public async Task Init_WithAnExistingIdentityButNoStore_RefusesToOverwriteIt()
    {
        var dir = _temp.Combine("state");
        Directory.CreateDirectory(dir);
        await File.WriteAllTextAsync(Path.Combine(dir, "identity.txt"), "precious\n", Ct);
        await ThrowsKwAsync("KW0302", () => StateDirectory.InitAsync(dir, [], _time, Ct));
        Assert.Equal("precious\n", await File.ReadAllTextAsync(Path.Combine(dir, "identity.txt"), Ct));
        Assert.False(File.Exists(Path.Combine(dir, "keyward.db")));
    }

    [Fact]
    public async Task Init_WithAnInvalidExtraRecipient_IsKW0306_AndCreatesNothing()
    {
        var dir = _temp.Combine("state");
        await ThrowsKwAsync("KW0306", () => StateDirectory.InitAsync(dir, ["age1notarecipient"], _time, Ct));
        Assert.False(Directory.Exists(dir) && Directory.EnumerateFileSystemEntries(dir).Any());
    }

    [Fact]
    public async Task Open_UninitialisedDirectory_IsKW0301_WithTheInitHint()
    {
        var e = await ThrowsKwAsync("KW0301", () => StateDirectory.OpenAsync(_temp.Combine("nothing"), _time, Ct));
        Assert.Contains("keyward init", e.First.Hint, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Open_WithoutTheIdentity_IsKW0303()
    {
        var dir = _temp.Combine("state");
        await (await StateDirectory.InitAsync(dir, [], _time, Ct)).DisposeAsync();
        File.Move(Path.Combine(dir, "identity.txt"), _temp.Combine("moved.txt"));
        await ThrowsKwAsync("KW0303", () => StateDirectory.OpenAsync(dir, _time, Ct));
    }

    [Fact]
    public async Task Open_WithAnotherStoresIdentity_IsKW0305()
    {
        var a = _temp.Combine("a");
        var b = _temp.Combine("b");
        await (await StateDirectory.InitAsync(a, [], _time, Ct)).DisposeAsync();
        await (await StateDirectory.InitAsync(b, [], _time, Ct)).DisposeAsync();
        await ThrowsKwAsync("KW0305", () => StateDirectory.OpenWithIdentityAsync(a, Path.Combine(b, "identity.txt"), _time, Ct));
    }

    [Fact]
    public async Task Open_WithAGarbledIdentity_IsKW0304_AndDoesNotQuoteIt()
    {
        var dir = _temp.Combine("state");
        await (await StateDirectory.InitAsync(dir, [], _time, Ct)).DisposeAsync();
        var bad = _temp.Combine("bad.txt");
        await File.WriteAllTextAsync(bad, "AGE-SECRET-KEY-1SECRETLOOKINGGARBAGE\n", Ct);
        var e = await ThrowsKwAsync("KW0304", () => StateDirectory.OpenWithIdentityAsync(dir, bad, _time, Ct));
        Assert.DoesNotContain("SECRETLOOKING", e.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task OpenOrInit_InitialisesOnce_ThenOpens()
    {
        var dir = _temp.Combine("state");
        string recipient;
        await using (var first = await StateDirectory.OpenOrInitAsync(dir, [], _time, Ct))
        {
            recipient = first.Recipient;
            await first.Store.PutAsync(V("x", Secret.Random(8)), Ct);
        }
        await using var second = await StateDirectory.OpenOrInitAsync(dir, [], _time, Ct);
        Assert.Equal(recipient, second.Recipient);
        Assert.Single(await second.Store.ListVersionsAsync(Ct));
    }

    [Fact]
    public async Task ExtraRecipientAtInit_CanOpenTheStore()
    {
        var operatorIdentity = X25519Identity.Generate();
        var operatorFile = _temp.Combine("operator.txt");
        using (var line = operatorIdentity.ToSecret()) await File.WriteAllTextAsync(operatorFile, line.RevealString() + "\n", Ct);

        var dir = _temp.Combine("state");
        await using (var state = await StateDirectory.InitAsync(dir, [operatorIdentity.Recipient], _time, Ct))
        {
            Assert.Equal([state.Recipient, operatorIdentity.Recipient], state.Recipients);
            await state.Store.PutAsync(V("k", Secret.FromUtf8("recoverable")), Ct);
        }
        await using var asOperator = await StateDirectory.OpenWithIdentityAsync(dir, operatorFile, _time, Ct);
        Assert.Equal(operatorIdentity.Recipient, asOperator.Recipient);
        using var value = await asOperator.Store.RevealAsync("k", 1, Ct);
        Assert.Equal("recoverable", value.RevealString());
    }

    [Fact]
    public async Task AddRecipients_RewrapsTheDataKey_WithoutTouchingValues()
    {
        var dir = _temp.Combine("state");
        var operatorIdentity = X25519Identity.Generate();
        var operatorFile = _temp.Combine("operator.txt");
        using (var line = operatorIdentity.ToSecret()) await File.WriteAllTextAsync(operatorFile, line.RevealString() + "\n", Ct);

        await using (var state = await StateDirectory.InitAsync(dir, [], _time, Ct))
        {
            await state.Store.PutAsync(V("k", Secret.FromUtf8("before-rewrap")), Ct);
            await ThrowsKwAsync("KW0306", () => state.AddRecipientsAsync(["not-a-key"], Ct));
            await state.AddRecipientsAsync([operatorIdentity.Recipient, operatorIdentity.Recipient], Ct);
            await state.AddRecipientsAsync([operatorIdentity.Recipient], Ct); // idempotent
            Assert.Equal(2, state.Recipients.Count);
        }
        await using (var own = await StateDirectory.OpenAsync(dir, _time, Ct))
        {
            Assert.Equal(2, own.Recipients.Count);
        }
        await using var asOperator = await StateDirectory.OpenWithIdentityAsync(dir, operatorFile, _time, Ct);
        using var value = await asOperator.Store.RevealAsync("k", 1, Ct);
        Assert.Equal("before-rewrap", value.RevealString());
    }

    [Fact]
    public async Task Recover_AfterLosingTheHostIdentity_WritesANewIdentity_AndKeepsTheOperator()
    {
        var dir = _temp.Combine("state");
        var operatorIdentity = X25519Identity.Generate();
        var operatorFile = _temp.Combine("operator.txt");
        using (var line = operatorIdentity.ToSecret()) await File.WriteAllTextAsync(operatorFile, line.RevealString() + "\n", Ct);
        string lostRecipient;
        await using (var state = await StateDirectory.InitAsync(dir, [operatorIdentity.Recipient], _time, Ct))
        {
            lostRecipient = state.Recipient;
            await state.Store.PutAsync(V("k", Secret.FromUtf8("survives")), Ct);
        }
        File.Move(Path.Combine(dir, "identity.txt"), _temp.Combine("lost-identity.txt"));

        await using (var recovered = await StateDirectory.RecoverAsync(dir, operatorFile, _time, Ct))
        {
            Assert.NotEqual(lostRecipient, recovered.Recipient);
            Assert.Equal([recovered.Recipient, operatorIdentity.Recipient], recovered.Recipients);
            using var value = await recovered.Store.RevealAsync("k", 1, Ct);
            Assert.Equal("survives", value.RevealString());
        }
        // The lost identity no longer opens the store; the operator still does.
        await ThrowsKwAsync("KW0305", () => StateDirectory.OpenWithIdentityAsync(dir, _temp.Combine("lost-identity.txt"), _time, Ct));
        await (await StateDirectory.OpenWithIdentityAsync(dir, operatorFile, _time, Ct)).DisposeAsync();
        await ThrowsKwAsync("KW0302", () => StateDirectory.RecoverAsync(dir, operatorFile, _time, Ct));
    }
}
