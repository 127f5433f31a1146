using System.Diagnostics;
using Keyward.Core.Secrets;
using Keyward.Core.Store;
using Keyward.Store.Tests.Support;

namespace Keyward.Store.Tests.Sqlite;

/// <summary>A real second process (the sqlite3 CLI) holding the write lock: Keyward waits for it, then writes; nothing is corrupted.</summary>
[Trait("Category", "Interop")]
public sealed class SqliteStoreLockInteropTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task AnotherProcessHoldingTheWriteLock_MakesKeywardWait_NotFail()
    {
        const string sqlite3 = "/usr/bin/sqlite3";
        Assert.True(File.Exists(sqlite3), "the real sqlite3 CLI is not installed; run ./test.sh (it installs sqlite3)");
        var dir = _temp.Combine("state");
        await using var state = await TestStates.InitAsync(dir, Ct);
        await state.Store.PutAsync(new NewVersion("before", "secret", Secret.Random(8), VersionState.Active, TestStates.Time.GetUtcNow(), null, "generated", new Dictionary<string, string>()), Ct);

        var start = new ProcessStartInfo(sqlite3) { RedirectStandardError = true, RedirectStandardOutput = true, RedirectStandardInput = true, UseShellExecute = false };
        var marker = _temp.Combine("locked");
        foreach (var a in new[] { Path.Combine(dir, StateDirectory.DatabaseFileName), "BEGIN IMMEDIATE;", "INSERT INTO sinks VALUES ('from-sqlite3', '/x', 'kw1:0', '2025-03-01T12:00:00.0000000Z');", $".shell touch {marker}", ".shell sleep 1", "COMMIT;" })
        {
            start.ArgumentList.Add(a);
        }
        using var holder = Process.Start(start)!;
        holder.StandardInput.Close();
        // Wait until the other process holds the write lock (it touches the marker right after BEGIN IMMEDIATE).
        var deadline = Stopwatch.StartNew();
        while (!File.Exists(marker))
        {
            Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(20) && !holder.HasExited, "sqlite3 did not take the lock");
            await Task.Delay(10, Ct);
        }

        var sw = Stopwatch.StartNew();
        await state.Store.PutSinkAsync(new SinkRecord("from-keyward", "/y", "kw1:1", TestStates.Time.GetUtcNow()), Ct);
        var waited = sw.Elapsed;
        await holder.WaitForExitAsync(Ct);
        Assert.True(holder.ExitCode == 0, await holder.StandardError.ReadToEndAsync(Ct));

        Assert.True(waited >= TimeSpan.FromMilliseconds(500), $"Keyward should have waited for the other process's lock (waited {waited.TotalMilliseconds:F0} ms)");
        Assert.Equal(["from-keyward", "from-sqlite3"], (await state.Store.ListSinksAsync(Ct)).Select(s => s.Name));
        using var raw = TestStates.Raw(dir);
        Assert.Equal("ok", TestStates.Scalar(raw, "PRAGMA integrity_check;"));
    }
}
