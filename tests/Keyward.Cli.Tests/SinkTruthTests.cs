using System.Text.Json;

namespace Keyward.Cli.Tests;

/// <summary>
/// `plan`, `apply` and `check` give one answer to "is this sink correct?": each test breaks a delivered file the way a
/// person or an attacker would, and sees check fail and plan want an update — naming the credential whose value differs —
/// then one apply makes both clean again. (Before, check compared only mode and owner: a pasted token was "ok".)
/// </summary>
public sealed class SinkTruthTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("keyward-truth-").FullName;
    private readonly CliHarness _cli = new();
    private string Root => Path.Combine(_dir, "root");
    private string State => Path.Combine(_dir, "state");
    private string Manifest => Path.Combine(_dir, "estate", "keyward.yaml");

    public SinkTruthTests()
    {
        var estate = Directory.CreateDirectory(Path.Combine(_dir, "estate")).FullName;
        foreach (var f in Directory.GetFiles(Path.Combine(CliHarness.RepoRoot, "examples", "homelab")))
            File.Copy(f, Path.Combine(estate, Path.GetFileName(f)));
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string P(string path) => Path.Combine(Root, path.TrimStart('/'));

    private async Task ApplyAsync()
    {
        var r = await _cli.RunAsync("apply", "-f", Manifest, "--root", Root, "--state", State, "--no-hooks");
        Assert.True(r.ExitCode == 0, r.ToString());
    }

    /// <summary>Sink name → (check failed, reason, message).</summary>
    private async Task<Dictionary<string, (bool Failed, string Reason, string Message)>> CheckAsync()
    {
        // Services of the example do not exist here; only sink reports matter. A short timeout keeps it quick.
        var r = await _cli.RunAsync("check", "-f", Manifest, "--root", Root, "--state", State, "--json", "--timeout", "1s", "--concurrency", "64");
        using var doc = JsonDocument.Parse(r.Out);
        return doc.RootElement.GetProperty("reports").EnumerateArray()
            .Where(x => x.GetProperty("kind").GetString() == "sink")
            .ToDictionary(x => x.GetProperty("name").GetString()!, x =>
            {
                var bad = x.GetProperty("conditions").EnumerateArray().FirstOrDefault(c => c.GetProperty("status").GetString() != "True"
                    && c.GetProperty("type").GetString() != "ExpiresSoon");
                return (x.GetProperty("failed").GetBoolean(),
                    bad.ValueKind == JsonValueKind.Undefined ? "" : bad.GetProperty("reason").GetString()!,
                    bad.ValueKind == JsonValueKind.Undefined ? "" : bad.GetProperty("message").GetString()!);
            }, StringComparer.Ordinal);
    }

    /// <summary>Sink name → (action, reason) from `plan --json`.</summary>
    private async Task<Dictionary<string, (string Action, string Reason)>> PlanAsync()
    {
        var r = await _cli.RunAsync("plan", "-f", Manifest, "--root", Root, "--state", State, "--json");
        Assert.True(r.ExitCode == 0, r.ToString());
        using var doc = JsonDocument.Parse(r.Out);
        return doc.RootElement.GetProperty("sinks").EnumerateArray().ToDictionary(
            x => x.GetProperty("name").GetString()!, x => (x.GetProperty("action").GetString()!, x.GetProperty("reason").GetString()!), StringComparer.Ordinal);
    }

    private async Task AssertAgreeAsync()
    {
        var plan = await PlanAsync();
        var check = await CheckAsync();
        foreach (var (sink, (action, reason)) in plan)
        {
            if (action == "pending") continue; // no value yet (coder-admin-token waits for bootstrap): check says NoValue
            Assert.True(check[sink].Failed == (action != "unchanged"),
                $"sink {sink}: plan says {action} ({reason}) but check {(check[sink].Failed ? "fails" : "passes")} ({check[sink].Reason}: {check[sink].Message})");
        }
    }

    [Fact]
    public async Task Check_PastedTokenInGitCredentials_FailsNamingTheCredential_PlanAgrees_ApplyRepairs()
    {
        await ApplyAsync();
        var path = P("/home/deploy/.git-credentials");
        var lines = File.ReadAllLines(path);
        lines[0] = "https://deploy-bot:ghp_1111111111111111111111111111111111111111@github.com";
        File.WriteAllLines(path, lines);

        var check = await CheckAsync();
        Assert.True(check["git-credentials"].Failed);
        Assert.Equal("ContentDiffers", check["git-credentials"].Reason);
        Assert.Contains("github-token", check["git-credentials"].Message, StringComparison.Ordinal);
        Assert.DoesNotContain("gitlab-token", check["git-credentials"].Message, StringComparison.Ordinal);
        var plan = await PlanAsync();
        Assert.Equal("update", plan["git-credentials"].Action);
        Assert.Contains("github-token", plan["git-credentials"].Reason, StringComparison.Ordinal);

        await ApplyAsync();
        Assert.False((await CheckAsync())["git-credentials"].Failed);
        Assert.Equal("unchanged", (await PlanAsync())["git-credentials"].Action);
        Assert.DoesNotContain("ghp_1111", _cli.AllOutput.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Check_CacheKeyCutOutOfRunnerNixConf_FailsNamingTheKey()
    {
        await ApplyAsync();
        var path = P("/etc/nix/keyward-runner.conf");
        File.WriteAllLines(path, File.ReadAllLines(path).Where(l => !l.StartsWith("trusted-public-keys", StringComparison.Ordinal)));

        var check = await CheckAsync();
        Assert.True(check["runner-nix-conf"].Failed);
        Assert.Contains("attic-cache-key", check["runner-nix-conf"].Message, StringComparison.Ordinal);
        Assert.Equal("update", (await PlanAsync())["runner-nix-conf"].Action);
        await ApplyAsync();
        Assert.False((await CheckAsync())["runner-nix-conf"].Failed);
    }

    [Fact]
    public async Task Apply_RepairsPersistedDirectoryMode_AndRestoresRuntimeLinkAfterReboot()
    {
        await ApplyAsync();
        File.SetUnixFileMode(P("/persist/root/.config/op"), (UnixFileMode)0b111_101_101); // 0755
        var check = await CheckAsync();
        Assert.Equal("PersistDirMode", check["onepassword-token"].Reason);
        Assert.Equal("update", (await PlanAsync())["onepassword-token"].Action);
        await ApplyAsync();
        Assert.Equal(0b111_000_000, (int)File.GetUnixFileMode(P("/persist/root/.config/op")));
        Assert.False((await CheckAsync())["onepassword-token"].Failed);

        // An impermanent host reboots: everything outside /persist is gone.
        Directory.Delete(P("/root"), recursive: true);
        check = await CheckAsync();
        Assert.Equal("RuntimeLinkMissing", check["onepassword-token"].Reason);
        Assert.Equal("update", (await PlanAsync())["onepassword-token"].Action);
        await ApplyAsync();
        Assert.Equal("../../../persist/root/.config/op/token", new FileInfo(P("/root/.config/op/token")).LinkTarget);
        Assert.False((await CheckAsync())["onepassword-token"].Failed);
    }

    [Fact]
    public async Task Check_RuntimePathIsAPlainFile_IsRuntimeNotLinked_LinkElsewhere_IsRuntimeLinkWrong()
    {
        await ApplyAsync();
        var runtime = P("/root/.config/op/token");
        File.Delete(runtime);
        File.WriteAllText(runtime, "copied by hand");
        Assert.Equal("RuntimeNotLinked", (await CheckAsync())["onepassword-token"].Reason);
        File.Delete(runtime);
        File.CreateSymbolicLink(runtime, "/elsewhere/token");
        Assert.Equal("RuntimeLinkWrong", (await CheckAsync())["onepassword-token"].Reason);
        await ApplyAsync();
        Assert.False((await CheckAsync())["onepassword-token"].Failed);
    }

    [Fact]
    public async Task Check_WorldReadableSecretIsReported_ButNixConfMayBeWorldReadable()
    {
        await ApplyAsync();
        File.SetUnixFileMode(P("/run/keyward/atticd.env"), (UnixFileMode)0b100_100_100);
        var check = await CheckAsync();
        Assert.Equal("WorldReadable", check["atticd-env"].Reason);
        Assert.False(check["runner-nix-conf"].Failed); // 0644 as declared
    }

    /// <summary>The property: whatever is done to the delivered files, plan reports a change exactly when check fails,
    /// and one apply makes both clean. Seeded, so a failure reproduces.</summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public async Task PlanAndCheckAgree_UnderRandomMutations_AndOneApplyCleansBoth(int seed)
    {
        await ApplyAsync();
        var files = new[]
        {
            "/run/keyward/atticd.env", "/root/.config/attic/config.toml", "/etc/nix/keyward-runner.conf", "/etc/nix/keyward-netrc",
            "/run/keyward/private-reader.token", "/etc/nix/access-tokens.conf", "/home/deploy/.git-credentials", "/persist/root/.config/op/token",
            "/run/keyward/runner.env",
        };
#pragma warning disable CA5394 // a seeded choice of test mutations, not secret material
        var random = new Random(seed);
        for (var round = 0; round < 3; round++)
        {
            foreach (var file in files.OrderBy(_ => random.Next()).Take(3))
            {
                var path = P(file);
                switch (random.Next(6))
                {
                    case 0: File.AppendAllText(path, "# added by hand\n"); break;
                    case 1:
                        var bytes = File.ReadAllBytes(path);
                        bytes[random.Next(bytes.Length)] ^= 0x01;
                        File.WriteAllBytes(path, bytes);
                        break;
                    case 2: File.SetUnixFileMode(path, (UnixFileMode)0b110_110_000); break;
                    case 3: Chown(path, 4242); break;
                    case 4: File.Delete(path); break;
                    default:
                        if (File.Exists(P("/root/.config/op/token")) || new FileInfo(P("/root/.config/op/token")).LinkTarget is not null) File.Delete(P("/root/.config/op/token"));
                        break;
                }
            }
#pragma warning restore CA5394
            await AssertAgreeAsync();
            await ApplyAsync();
            var plan = await PlanAsync();
            Assert.All(plan.Where(p => p.Value.Action != "pending"), p => Assert.Equal("unchanged", p.Value.Action));
            var check = await CheckAsync();
            Assert.All(plan.Where(p => p.Value.Action != "pending"), p => Assert.False(check[p.Key].Failed, $"{p.Key}: {check[p.Key].Message}"));
        }
    }

    private static void Chown(string path, int uid)
    {
        if (Environment.UserName != "root") return; // only root can give a file away; elsewhere this mutation is skipped
        using var p = System.Diagnostics.Process.Start("chown", [uid.ToString(System.Globalization.CultureInfo.InvariantCulture), path])!;
        p.WaitForExit();
    }
}
