using Keyward.Core.Errors;
using Keyward.Core.Secrets;
using Keyward.Core.Store;
using Keyward.Store.Tests.Support;
using Microsoft.Extensions.Time.Testing;

namespace Keyward.Store.Tests.State;

/// <summary>The state lock (one writer at a time) and crash-safe init: what an interrupted init leaves, and what the next
/// command does with it. Real kills of a real process at each of init's fsyncs are in Keyward.Cli.Tests
/// (<c>StateCrashProcessTests</c>); these build the same on-disk states directly.</summary>
public sealed class StateLockTests : IDisposable
{
    private static readonly DateTimeOffset T0 = new(2025, 3, 1, 12, 0, 0, TimeSpan.Zero);
    private readonly TempDirectory _temp = new();
    private readonly FakeTimeProvider _time = new(T0);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _temp.Dispose();

    private static StateLockOptions Wait(TimeSpan timeout, Action<string>? waiting = null) => new() { Timeout = timeout, Purpose = "test", Waiting = waiting };

    private static async Task<KeywardException> ThrowsKwAsync(string code, Func<Task> action)
    {
        var e = await Assert.ThrowsAsync<KeywardException>(action);
        Assert.Equal(code, e.First.Code.Code);
        return e;
    }

    [Fact]
    public async Task SecondWriter_WaitsUntilTheFirstIsDisposed_ThenSeesItsWrites()
    {
        var dir = _temp.Combine("state");
        var first = await StateDirectory.InitAsync(dir, [], _time, Ct);
        Assert.True(first.HoldsLock);
        var waited = new List<string>();
        var second = StateDirectory.OpenForWriteAsync(dir, Wait(TimeSpan.FromMinutes(5), waited.Add), _time, Ct);
        await first.Store.PutAsync(new NewVersion("x", "secret", Secret.Random(8), VersionState.Active, T0, null, "generated", new Dictionary<string, string>()), Ct);
        // While the first holds the lock the second cannot have it (whatever the scheduling: this direction cannot flake).
        await Task.Delay(200, Ct);
        Assert.False(second.IsCompleted);
        await first.DisposeAsync();
        await using var opened = await second;
        Assert.True(opened.HoldsLock);
        Assert.Single(await opened.Store.ListVersionsAsync(Ct));
        var line = Assert.Single(waited);
        Assert.Contains($"pid {Environment.ProcessId} (init)", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ReleaseLock_LetsTheNextWriterIn_WhileTheFirstStateStillReadsItsWrites()
    {
        var dir = _temp.Combine("state");
        await using var first = await StateDirectory.InitAsync(dir, [], _time, Ct);
        await first.Store.PutAsync(new NewVersion("x", "secret", Secret.Random(8), VersionState.Active, T0, null, "generated", new Dictionary<string, string>()), Ct);
        await first.ReleaseLockAsync(Ct);
        Assert.False(first.HoldsLock);
        await using (var second = await StateDirectory.OpenForWriteAsync(dir, Wait(TimeSpan.Zero), _time, Ct))
        {
            Assert.True(second.HoldsLock);
            Assert.Single(await second.Store.ListVersionsAsync(Ct)); // the first's write was committed before the lock went
            await second.Store.PutAsync(new NewVersion("y", "secret", Secret.Random(8), VersionState.Active, T0, null, "generated", new Dictionary<string, string>()), Ct);
        }
        Assert.Equal(["x", "y"], (await first.Store.ListVersionsAsync(Ct)).Select(v => v.Name).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task ReleaseLock_InsideATransaction_IsRefused()
    {
        await using var state = await StateDirectory.InitAsync(_temp.Combine("state"), [], _time, Ct);
        await using (await state.Store.BeginAsync(Ct))
            await Assert.ThrowsAsync<InvalidOperationException>(() => state.ReleaseLockAsync(Ct));
        Assert.True(state.HoldsLock);
    }

    [Fact]
    public async Task SecondWriter_GivesUpAfterTheTimeout_WithKW0317_NamingTheHolder()
    {
        var dir = _temp.Combine("state");
        await using var first = await StateDirectory.InitAsync(dir, [], _time, Ct);
        var e = await ThrowsKwAsync("KW0317", () => StateDirectory.OpenForWriteAsync(dir, Wait(TimeSpan.Zero), _time, Ct));
        Assert.Contains($"pid {Environment.ProcessId} (init)", e.First.Message, StringComparison.Ordinal);
        Assert.Contains("--lock-timeout", e.First.Hint, StringComparison.Ordinal);
        await ThrowsKwAsync("KW0317", () => StateDirectory.OpenOrInitAsync(dir, [], Wait(TimeSpan.FromMilliseconds(50)), _time, Ct));
    }

    [Fact]
    public async Task Readers_DoNotWaitForAWriter()
    {
        var dir = _temp.Combine("state");
        await using var writer = await StateDirectory.InitAsync(dir, [], _time, Ct);
        await writer.Store.PutAsync(new NewVersion("x", "secret", Secret.Random(8), VersionState.Active, T0, null, "generated", new Dictionary<string, string>()), Ct);
        await using var reader = await StateDirectory.OpenAsync(dir, _time, Ct);
        Assert.False(reader.HoldsLock);
        Assert.Single(await reader.Store.ListVersionsAsync(Ct));
    }

    [Fact]
    public async Task ConcurrentOpenOrInit_CreatesOneStore_AndEveryWriterOpensIt()
    {
        var dir = _temp.Combine("state");
        var tasks = Enumerable.Range(0, 6).Select(_ => Task.Run(async () =>
        {
            await using var s = await StateDirectory.OpenOrInitAsync(dir, [], Wait(TimeSpan.FromMinutes(5)), _time, Ct);
            return (s.Created, s.Recipient);
        }, Ct)).ToArray();
        var results = await Task.WhenAll(tasks);
        Assert.Single(results, r => r.Created);
        Assert.Single(results.Select(r => r.Recipient).Distinct());
    }

    // ------------------------------------------------------------------ interrupted init

    private string Staging(string dir) => Path.Combine(dir, StateDirectory.StagingDirectoryName);

    /// <summary>A complete state with one value, then the identity moved back into the staging directory: what a kill
    /// between init's two renames leaves.</summary>
    private async Task<(string Dir, string Recipient)> KilledBetweenTheRenamesAsync()
    {
        var dir = _temp.Combine("state");
        string recipient;
        await using (var s = await StateDirectory.InitAsync(dir, [], _time, Ct))
        {
            recipient = s.Recipient;
            await s.Store.PutAsync(new NewVersion("kept", "secret", Secret.Random(8), VersionState.Active, T0, null, "generated", new Dictionary<string, string>()), Ct);
        }
        Directory.CreateDirectory(Staging(dir));
        File.Move(Path.Combine(dir, StateDirectory.IdentityFileName), Path.Combine(Staging(dir), StateDirectory.IdentityFileName));
        return (dir, recipient);
    }

    [Fact]
    public async Task KilledBetweenTheRenames_ReadersSayInterruptedInit_AndTheNextWriterFinishesIt()
    {
        var (dir, recipient) = await KilledBetweenTheRenamesAsync();
        var e = await ThrowsKwAsync("KW0301", () => StateDirectory.OpenAsync(dir, _time, Ct));
        Assert.Contains("interrupted", e.First.Message, StringComparison.Ordinal);
        Assert.Contains("keyward init", e.First.Hint, StringComparison.Ordinal);

        await using var s = await StateDirectory.OpenForWriteAsync(dir, StateLockOptions.Default, _time, Ct);
        Assert.Equal(recipient, s.Recipient);
        Assert.Single(await s.Store.ListVersionsAsync(Ct));
        Assert.False(Directory.Exists(Staging(dir)));
    }

    [Fact]
    public async Task KilledBeforeTheStoreWasPlaced_TheNextApplyStartsAFreshInit_AndWipesTheStagedIdentity()
    {
        var dir = _temp.Combine("state");
        Directory.CreateDirectory(Staging(dir));
        var staged = Path.Combine(Staging(dir), StateDirectory.IdentityFileName);
        await File.WriteAllTextAsync(staged, "AGE-SECRET-KEY-1STAGED\n", Ct);
        await File.WriteAllBytesAsync(Path.Combine(Staging(dir), StateDirectory.DatabaseFileName), [], Ct);
        await ThrowsKwAsync("KW0301", () => StateDirectory.OpenAsync(dir, _time, Ct));
        Assert.False(StateDirectory.IsInitialised(dir));

        await using var s = await StateDirectory.OpenOrInitAsync(dir, [], _time, Ct);
        Assert.True(s.Created);
        Assert.False(Directory.Exists(Staging(dir)));
        Assert.DoesNotContain("STAGED", await File.ReadAllTextAsync(Path.Combine(dir, StateDirectory.IdentityFileName), Ct), StringComparison.Ordinal);
    }

    [Fact]
    public async Task AStagedIdentityThatDoesNotUnlockThePlacedStore_IsLeftAlone()
    {
        var (dir, _) = await KilledBetweenTheRenamesAsync();
        var other = _temp.Combine("other");
        await (await StateDirectory.InitAsync(other, [], _time, Ct)).DisposeAsync();
        var staged = Path.Combine(Staging(dir), StateDirectory.IdentityFileName);
        File.Copy(Path.Combine(other, StateDirectory.IdentityFileName), staged, overwrite: true);
        var before = await File.ReadAllBytesAsync(staged, Ct);

        await ThrowsKwAsync("KW0305", () => StateDirectory.OpenForWriteAsync(dir, StateLockOptions.Default, _time, Ct));
        Assert.Equal(before, await File.ReadAllBytesAsync(staged, Ct));
        Assert.True(File.Exists(Path.Combine(dir, StateDirectory.DatabaseFileName)));
        Assert.False(File.Exists(Path.Combine(dir, StateDirectory.IdentityFileName)));
    }

    [Fact]
    public async Task Init_LeavesNoStagingDirectory_BehindAFinishedStore()
    {
        var dir = _temp.Combine("state");
        await (await StateDirectory.InitAsync(dir, [], _time, Ct)).DisposeAsync();
        Assert.False(Directory.Exists(Staging(dir)));
        Assert.True(StateDirectory.IsInitialised(dir));
        await using var reopened = await StateDirectory.OpenAsync(dir, _time, Ct);
    }
}
