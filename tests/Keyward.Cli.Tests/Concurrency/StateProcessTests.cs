using System.Diagnostics;
using System.Globalization;
using Microsoft.Data.Sqlite;

namespace Keyward.Cli.Tests.Concurrency;

/// <summary>
/// Issue 9 with real <c>keyward</c> processes (the native binary under test.sh, else <c>dotnet keyward.dll</c>: <see cref="KeywardProcess"/>): SIGKILL at each of
/// init's fsyncs and renames (strace's syscall fault injection, Debian <c>strace</c>), and a rotation with an apply
/// 0–100 ms behind it, two processes contending for the state lock.
/// </summary>
[Trait("Category", "Interop")]
public sealed class StateProcessTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("kw-process-").FullName;

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    private static ProcessStartInfo Keyward(IEnumerable<string> prefix, params string[] args)
    {
        var psi = KeywardProcess.Start(prefix, args);
        psi.Environment.Remove("KEYWARD_STATE");
        return psi;
    }

    private static Task<(int Code, string Out, string Err)> RunAsync(ProcessStartInfo psi) => KeywardProcess.RunAsync(psi);

    private static string Strace => File.Exists("/usr/bin/strace") ? "/usr/bin/strace"
        : throw new InvalidOperationException("strace is not installed (test.sh installs the Debian package)");

    [Fact]
    public async Task InitKilledAtEachFsyncAndRename_TheNextApplyFinishesOrRestartsIt()
    {
        var manifest = Path.Combine(_dir, "keyward.yaml");
        File.WriteAllText(manifest, StateConcurrencyTests.ManifestV1);
        var kills = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var call in new[] { "rename", "fsync", "fdatasync" })
        {
            // Kill at the 1st, 2nd, … call until an init runs to the end (how many calls there are varies a little with
            // what the runtime does at start-up; the loop finds the end instead of assuming it).
            for (var n = 1; n <= 80; n++)
            {
                var state = Path.Combine(_dir, $"{call}-{n}");
                var root = Path.Combine(_dir, $"{call}-{n}-root");
                var run = await RunAsync(Keyward([Strace, "-f", "-qq", "-o", "/dev/null", "-e", $"trace={call}", "-e", $"inject={call}:signal=KILL:when={n}"],
                    "init", "--state", state));
                var killedNow = run.Code != 0;
                if (killedNow) kills[call] = n;

                // The next command (in process, for speed: the same code as the binary) finishes or restarts the init.
                var cli = new CliHarness();
                var apply = await cli.RunAsync("apply", "-f", manifest, "--state", state, "--root", root, "--no-hooks");
                Assert.True(apply.ExitCode == 0, $"after a kill at {call} #{n}: {apply}");
                var init = await cli.RunAsync("init", "--state", state);
                Assert.True(init.ExitCode == 0 && init.Out.Contains("already initialised", StringComparison.Ordinal), $"after a kill at {call} #{n}: {init}");
                Assert.False(Directory.Exists(Path.Combine(state, Store.StateDirectory.StagingDirectoryName)), $"after a kill at {call} #{n}: staging left");
                await StateConcurrencyTests.AssertConsistentAsync(state, root, new() { ["attic-jwt-secret"] = 1, ["ci-push-token"] = 1, ["reader-token"] = 1 }, $"kill at {call} #{n}");
                if (!killedNow) break;
            }
        }
        // Init renames twice (store, then identity) and fsyncs at least its files, its database commits and the directory.
        Assert.Equal(2, kills.GetValueOrDefault("rename"));
        Assert.True(kills.GetValueOrDefault("fsync") + kills.GetValueOrDefault("fdatasync") >= 9, string.Join(", ", kills));
    }

    [Fact]
    public async Task RotateWithAnApply0To100msBehind_TwoProcesses_NoDoubleMint_NoStuckJournal()
    {
        var v1 = Path.Combine(_dir, "v1.yaml");
        var v2 = Path.Combine(_dir, "v2.yaml");
        File.WriteAllText(v1, StateConcurrencyTests.ManifestV1);
        File.WriteAllText(v2, StateConcurrencyTests.ManifestV2);
        for (var i = 0; i < StateConcurrencyTests.Loops(4); i++)
        {
            var state = Path.Combine(_dir, $"s{i}");
            var root = Path.Combine(_dir, $"r{i}");
            var first = await new CliHarness().RunAsync("apply", "-f", v1, "--state", state, "--root", root, "--no-hooks");
            Assert.True(first.ExitCode == 0, first.ToString());
            var rotate = RunAsync(Keyward([], "rotate", "attic-jwt-secret", "-f", v2, "--state", state, "--root", root, "--lock-timeout", "2m"));
            await Task.Delay(i * 33, TestContext.Current.CancellationToken); // 0, 33, 66, 99 ms behind
            var apply = RunAsync(Keyward([], "apply", "-f", v2, "--state", state, "--root", root, "--no-hooks", "--lock-timeout", "2m"));
            var (r, a) = (await rotate, await apply);
            Assert.True(r.Code == 0, $"rotate: {r.Err}");
            Assert.True(a.Code == 0, $"apply: {a.Err}");
            // One rotation of the secret; ci-push-token: the first mint, the rotation's re-mint, and at most one re-mint by
            // the apply for its widened grant (none when the rotation, run first, already minted it to the new spec).
            var ct = TestContext.Current.CancellationToken;
            await StateConcurrencyTests.AssertConsistentAsync(state, root, null, $"run {i}");
            await using var s = await Store.StateDirectory.OpenAsync(state, TimeProvider.System, ct);
            Assert.Equal(2, (await s.Store.GetVersionsAsync("attic-jwt-secret", ct)).Count);
            Assert.Equal(2, (await s.Store.GetVersionsAsync("reader-token", ct)).Count);
            var ci = (await s.Store.GetVersionsAsync("ci-push-token", ct)).Count;
            Assert.True(ci is 2 or 3, string.Create(CultureInfo.InvariantCulture, $"run {i}: ci-push-token has {ci} versions"));
        }
    }
}
