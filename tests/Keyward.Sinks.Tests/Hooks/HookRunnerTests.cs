using Keyward.Core.Manifest;
using Keyward.Sinks.Hooks;
using Keyward.Sinks.Tests.Support;

namespace Keyward.Sinks.Tests.Hooks;

public sealed class HookRunnerTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>A stand-in systemctl that records its argv, one argument per line, and fails for units named fail*.</summary>
    private string FakeSystemctl()
    {
        var path = _dir["systemctl"];
        File.WriteAllText(path, $"#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done > '{_dir["argv"]}'\ncase \"$2\" in fail*) echo \"Job for $2 failed.\" >&2; exit 1;; esac\n");
        File.SetUnixFileMode(path, (UnixFileMode)0x1ED);
        return path;
    }

    [Fact]
    public async Task Restart_RunsSystemctlRestartUnit()
    {
        var runner = new HookRunner(FakeSystemctl());
        var result = await runner.RunAsync(new RestartUnitHook("atticd.service", Fixtures.Here), TestContext.Current.CancellationToken);
        Assert.True(result.Success, result.Message);
        Assert.Equal(0, result.ExitCode);
        Assert.Equal(["restart", "atticd.service"], File.ReadAllLines(_dir["argv"]));
        Assert.Equal("restart atticd.service", result.Message);
    }

    [Fact]
    public async Task Reload_RunsSystemctlReloadUnit()
    {
        var runner = new HookRunner(FakeSystemctl());
        var result = await runner.RunAsync(new ReloadUnitHook("nginx.service", Fixtures.Here), TestContext.Current.CancellationToken);
        Assert.True(result.Success);
        Assert.Equal(["reload", "nginx.service"], File.ReadAllLines(_dir["argv"]));
    }

    [Fact]
    public async Task FailingUnit_ReportsExitCodeAndStderr_WithoutThrowing()
    {
        var runner = new HookRunner(FakeSystemctl());
        var result = await runner.RunAsync(new RestartUnitHook("fail.service", Fixtures.Here), TestContext.Current.CancellationToken);
        Assert.False(result.Success);
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("Job for fail.service failed.", result.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Command_RunsArgvWithoutAShell()
    {
        var marker = _dir["pwned"];
        var output = _dir["out"];
        // Every shell metacharacter must reach the program as literal text.
        var hook = new CommandHook(["/bin/sh", "-c", "printf '%s|' \"$@\" > \"$0\"", output, "$(touch " + marker + ")", "a b", ";", "*"], Fixtures.Here);
        var result = await new HookRunner().RunAsync(hook, TestContext.Current.CancellationToken);
        Assert.True(result.Success, result.Message);
        Assert.Equal("$(touch " + marker + ")|a b|;|*|", File.ReadAllText(output));
        Assert.False(File.Exists(marker));
    }

    [Fact]
    public async Task Command_Missing_IsAFailedResult()
    {
        var result = await new HookRunner().RunAsync(new CommandHook([_dir["does-not-exist"]], Fixtures.Here), TestContext.Current.CancellationToken);
        Assert.False(result.Success);
        Assert.Null(result.ExitCode);
        Assert.Contains("cannot start", result.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Command_Empty_IsAFailedResult()
    {
        var result = await new HookRunner().RunAsync(new CommandHook([], Fixtures.Here), TestContext.Current.CancellationToken);
        Assert.False(result.Success);
    }

    [Fact]
    public async Task Command_Hanging_IsKilledAtTheTimeout()
    {
        var pidFile = _dir["pid"];
        var hook = new CommandHook(["/bin/sh", "-c", "echo $$ > \"$0\"; exec sleep 30", pidFile], Fixtures.Here);
        var result = await new HookRunner(timeout: TimeSpan.FromMilliseconds(500)).RunAsync(hook, TestContext.Current.CancellationToken);
        Assert.False(result.Success);
        Assert.Null(result.ExitCode);
        Assert.Contains("timed out", result.Message, StringComparison.Ordinal);
        var pid = File.ReadAllText(pidFile).Trim();
        Assert.False(Directory.Exists("/proc/" + pid) && !File.ReadAllText($"/proc/{pid}/stat").Contains(") Z ", StringComparison.Ordinal),
            "the hook process is still running");
    }

    [Fact]
    public async Task Command_GetsEmptyStdin()
    {
        var hook = new CommandHook(["/bin/sh", "-c", "cat > \"$0\"", _dir["stdin"]], Fixtures.Here);
        var result = await new HookRunner(timeout: TimeSpan.FromSeconds(10)).RunAsync(hook, TestContext.Current.CancellationToken);
        Assert.True(result.Success, result.Message);
        Assert.Equal("", File.ReadAllText(_dir["stdin"]));
    }

    [Fact]
    public async Task Command_GetsAMinimalEnvironment_NotKeywardsWhole()
    {
        // A credential read by `source: { env: … }` sits in Keyward's environment: no hook may inherit it.
        var name = "KW_HOOK_LEAK_" + Guid.NewGuid().ToString("N");
        Environment.SetEnvironmentVariable(name, "ghp_secretvalue");
        try
        {
            var hook = new CommandHook(["/bin/sh", "-c", "env > \"$0\"", _dir["env"]], Fixtures.Here);
            var result = await new HookRunner(timeout: TimeSpan.FromSeconds(30)).RunAsync(hook, TestContext.Current.CancellationToken);
            Assert.True(result.Success, result.Message);
            var env = File.ReadAllLines(_dir["env"]).Select(l => l.Split('=', 2)[0]).Where(n => n is not ("PWD" or "SHLVL" or "_")).ToHashSet();
            Assert.DoesNotContain(name, env);
            Assert.DoesNotContain("ghp_secretvalue", File.ReadAllText(_dir["env"]), StringComparison.Ordinal);
            Assert.Contains("PATH", env);
            Assert.Subset(HookRunner.BaseEnvironment.ToHashSet(), env);
        }
        finally
        {
            Environment.SetEnvironmentVariable(name, null);
        }
    }

    [Fact]
    public async Task Command_PassEnv_AddsOnlyTheNamedVariables()
    {
        var env = new Dictionary<string, string> { ["PATH"] = "/usr/bin:/bin", ["WANTED"] = "yes", ["SECRET"] = "no" };
        var hook = new CommandHook(["/bin/sh", "-c", "env > \"$0\"", _dir["env"]], Fixtures.Here) { PassEnv = ["WANTED", "UNSET"] };
        var runner = new HookRunner(timeout: TimeSpan.FromSeconds(30), getEnv: n => env.GetValueOrDefault(n));
        Assert.Equal(new Dictionary<string, string> { ["PATH"] = "/usr/bin:/bin", ["WANTED"] = "yes" }, runner.EnvironmentFor(hook));
        var result = await runner.RunAsync(hook, TestContext.Current.CancellationToken);
        Assert.True(result.Success, result.Message);
        var lines = File.ReadAllLines(_dir["env"]);
        Assert.Contains("WANTED=yes", lines);
        Assert.DoesNotContain(lines, l => l.StartsWith("SECRET=", StringComparison.Ordinal));
    }

    [Fact]
    public void Environment_WithoutPath_GetsTheDefaultPath() =>
        Assert.Equal(HookRunner.DefaultPath, new HookRunner(getEnv: _ => null).EnvironmentFor(new RestartUnitHook("a.service", Fixtures.Here))["PATH"]);

    [Fact]
    public void Describe_NamesTheAction() =>
        Assert.Equal("run /usr/bin/touch '/tmp/a b'", HookRunner.Describe(new CommandHook(["/usr/bin/touch", "/tmp/a b"], Fixtures.Here)));
}
