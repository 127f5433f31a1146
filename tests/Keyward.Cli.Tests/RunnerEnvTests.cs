using System.Text.Json;

namespace Keyward.Cli.Tests;

/// <summary>
/// Seed 001's runner template on the example's <c>runner-env</c>: literal values (ATTIC_SERVER, ATTIC_CACHE) beside
/// credentials go through the one delivery path, so plan, apply and check agree on them — a literal changed in the
/// manifest or edited on disk is a change plan reports, check fails naming the entry, and one apply repairs — and
/// check fails a runner env that names a declared cache without its ATTIC_PUBLIC_KEY.
/// </summary>
public sealed class RunnerEnvTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("keyward-runner-env-").FullName;
    private readonly CliHarness _cli = new();
    private string Root => Path.Combine(_dir, "root");
    private string State => Path.Combine(_dir, "state");
    private string Manifest => Path.Combine(_dir, "estate", "keyward.yaml");
    private string EnvFile => Path.Combine(Root, "run/keyward/runner.env");

    public RunnerEnvTests()
    {
        var estate = Directory.CreateDirectory(Path.Combine(_dir, "estate")).FullName;
        foreach (var f in Directory.GetFiles(Path.Combine(CliHarness.RepoRoot, "examples", "homelab")))
            File.Copy(f, Path.Combine(estate, Path.GetFileName(f)));
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private void EditManifest(string from, string to)
    {
        var text = File.ReadAllText(Manifest);
        Assert.Contains(from, text, StringComparison.Ordinal);
        File.WriteAllText(Manifest, text.Replace(from, to, StringComparison.Ordinal));
    }

    private async Task<CliResult> ApplyAsync()
    {
        var r = await _cli.RunAsync("apply", "-f", Manifest, "--root", Root, "--state", State, "--no-hooks");
        Assert.True(r.ExitCode == 0, r.ToString());
        return r;
    }

    /// <summary>The sink's check: failed, and the first condition that is not True (reason, message).</summary>
    private async Task<(bool Failed, string Reason, string Message)> CheckAsync(string sink)
    {
        // The example's services do not exist here; only the sink reports matter.
        var r = await _cli.RunAsync("check", "-f", Manifest, "--root", Root, "--state", State, "--json", "--timeout", "1s", "--concurrency", "64");
        using var doc = JsonDocument.Parse(r.Out);
        var report = doc.RootElement.GetProperty("reports").EnumerateArray()
            .Single(x => x.GetProperty("kind").GetString() == "sink" && x.GetProperty("name").GetString() == sink);
        var bad = report.GetProperty("conditions").EnumerateArray()
            .FirstOrDefault(c => c.GetProperty("status").GetString() != "True" && c.GetProperty("type").GetString() != "ExpiresSoon");
        return (report.GetProperty("failed").GetBoolean(),
            bad.ValueKind == JsonValueKind.Undefined ? "" : bad.GetProperty("reason").GetString()!,
            bad.ValueKind == JsonValueKind.Undefined ? "" : bad.GetProperty("message").GetString()!);
    }

    private async Task<(string Action, string Reason)> PlanAsync(string sink)
    {
        var r = await _cli.RunAsync("plan", "-f", Manifest, "--root", Root, "--state", State, "--json");
        Assert.True(r.ExitCode == 0, r.ToString());
        using var doc = JsonDocument.Parse(r.Out);
        var s = doc.RootElement.GetProperty("sinks").EnumerateArray().Single(x => x.GetProperty("name").GetString() == sink);
        return (s.GetProperty("action").GetString()!, s.GetProperty("reason").GetString()!);
    }

    [Fact]
    public async Task Apply_WritesLiteralsAndCredentialsInManifestOrder_CheckAndPlanAreClean()
    {
        await ApplyAsync();
        var lines = File.ReadAllLines(EnvFile);
        Assert.Equal(4, lines.Length);
        Assert.Equal("ATTIC_SERVER=https://cache.example.org/", lines[0]);
        Assert.Equal("ATTIC_CACHE=main", lines[1]);
        Assert.StartsWith("ATTIC_TOKEN=eyJ", lines[2], StringComparison.Ordinal);
        Assert.Matches("^ATTIC_PUBLIC_KEY=cache\\.example\\.org-1:[A-Za-z0-9+/]{43}=$", lines[3]);
        Assert.Equal((false, "", ""), await CheckAsync("runner-env"));
        Assert.Equal("unchanged", (await PlanAsync("runner-env")).Action);
    }

    [Fact]
    public async Task LiteralChangedInManifest_PlanReportsTheSink_ApplyRewritesIt_CheckIsCleanAgain()
    {
        await ApplyAsync();
        EditManifest("ATTIC_SERVER: { value: \"https://cache.example.org/\" }", "ATTIC_SERVER: { value: \"https://attic.example.org/\" }");

        var plan = await PlanAsync("runner-env");
        Assert.Equal("update", plan.Action);
        Assert.Contains("ATTIC_SERVER", plan.Reason, StringComparison.Ordinal);
        var check = await CheckAsync("runner-env");
        Assert.True(check.Failed);
        Assert.Equal("ContentDiffers", check.Reason);
        Assert.Contains("ATTIC_SERVER on disk is not the manifest's literal value", check.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("ci-push-token", check.Message, StringComparison.Ordinal);

        await ApplyAsync();
        Assert.Equal("ATTIC_SERVER=https://attic.example.org/", File.ReadAllLines(EnvFile)[0]);
        Assert.Equal("unchanged", (await PlanAsync("runner-env")).Action);
        Assert.False((await CheckAsync("runner-env")).Failed);
    }

    [Fact]
    public async Task LiteralEditedOnDisk_CheckFailsNamingTheEntry_PlanAgrees_ApplyRepairs()
    {
        await ApplyAsync();
        var before = File.ReadAllBytes(EnvFile);
        File.WriteAllText(EnvFile, File.ReadAllText(EnvFile).Replace("ATTIC_CACHE=main\n", "ATTIC_CACHE=private-stuff\n", StringComparison.Ordinal));

        var check = await CheckAsync("runner-env");
        Assert.True(check.Failed);
        Assert.Equal("ContentDiffers", check.Reason);
        Assert.Contains("ATTIC_CACHE", check.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("ATTIC_SERVER", check.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("attic-cache-key", check.Message, StringComparison.Ordinal);
        var plan = await PlanAsync("runner-env");
        Assert.Equal("update", plan.Action);
        Assert.Contains("ATTIC_CACHE", plan.Reason, StringComparison.Ordinal);

        await ApplyAsync();
        Assert.Equal(before, File.ReadAllBytes(EnvFile));
        Assert.False((await CheckAsync("runner-env")).Failed);
        Assert.Equal("unchanged", (await PlanAsync("runner-env")).Action);
    }

    /// <summary>A rotation re-renders through the same path: the token line changes, the literal lines stay.</summary>
    [Fact]
    public async Task RotatingThePushToken_RewritesTheTokenLine_KeepsTheLiterals()
    {
        await ApplyAsync();
        var before = File.ReadAllLines(EnvFile);
        var r = await _cli.RunAsync("rotate", "ci-push-token", "-f", Manifest, "--root", Root, "--state", State);
        Assert.True(r.ExitCode == 0, r.ToString());
        var after = File.ReadAllLines(EnvFile);
        Assert.Equal(before[..2], after[..2]);
        Assert.NotEqual(before[2], after[2]);
        Assert.StartsWith("ATTIC_TOKEN=eyJ", after[2], StringComparison.Ordinal);
        Assert.Equal(before[3], after[3]);
        Assert.False((await CheckAsync("runner-env")).Failed);
    }

    [Fact]
    public async Task RunnerEnvWithoutPublicKey_CheckFailsNamingSinkAndKey_WithTheEntryToAdd()
    {
        EditManifest("      ATTIC_PUBLIC_KEY: { credential: attic-cache-key, public: true }\n", "");
        var apply = await ApplyAsync();
        Assert.Contains("KW0231", apply.Err, StringComparison.Ordinal); // warned at load, with the manifest position

        var check = await CheckAsync("runner-env");
        Assert.True(check.Failed);
        Assert.Equal("MissingAtticPublicKey", check.Reason);
        Assert.Contains("sink 'runner-env'", check.Message, StringComparison.Ordinal);
        Assert.Contains("cache 'main' of service 'attic'", check.Message, StringComparison.Ordinal);
        Assert.Contains("does not carry ATTIC_PUBLIC_KEY", check.Message, StringComparison.Ordinal);
        Assert.Contains("add ATTIC_PUBLIC_KEY: { credential: attic-cache-key, public: true } to its entries", check.Message, StringComparison.Ordinal);
        // The file is as declared, so plan has nothing to write: the declaration is what is wrong.
        Assert.Equal("unchanged", (await PlanAsync("runner-env")).Action);
        // An env without ATTIC_SERVER is not concerned.
        var atticd = await CheckAsync("atticd-env");
        Assert.False(atticd.Failed, atticd.Message);
    }

    [Fact]
    public async Task RunnerEnvOfAHost_CheckReportsItsDeclaration()
    {
        EditManifest("\nsinks:\n", """

            sinks:
              runner-1-env:
                host: runner-1
                path: /run/keyward/runner.env
                format: env
                entries:
                  ATTIC_SERVER: { value: "https://cache.example.org/" }
                  ATTIC_CACHE: { value: main }
                  ATTIC_TOKEN: ci-push-token

            """);
        File.AppendAllText(Manifest, "\nhosts:\n  runner-1: { ageRecipient: age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj }\n");
        await ApplyAsync();

        var check = await CheckAsync("runner-1-env");
        Assert.True(check.Failed);
        Assert.Equal("MissingAtticPublicKey", check.Reason);
        Assert.Contains("delivered by the agent of runner-1", check.Message, StringComparison.Ordinal);
        Assert.False((await CheckAsync("runner-env")).Failed); // the authority's own runner env carries its key
    }

    [Fact]
    public async Task RunnerEnvWithALiteralPublicKey_CheckFailsAsWrongKey()
    {
        await ApplyAsync();
        var key = File.ReadAllLines(EnvFile)[3]["ATTIC_PUBLIC_KEY=".Length..];
        EditManifest("ATTIC_PUBLIC_KEY: { credential: attic-cache-key, public: true }", $"ATTIC_PUBLIC_KEY: {{ value: \"{key}\" }}");
        await ApplyAsync();
        var check = await CheckAsync("runner-env");
        Assert.True(check.Failed);
        Assert.Equal("WrongAtticPublicKey", check.Reason);
        Assert.Contains("a literal value, which goes stale when the key rotates", check.Message, StringComparison.Ordinal);
    }
}
