using System.Text.Json;

namespace Keyward.Cli.Tests.Agent;

/// <summary>A sink declared for a host (<c>host:</c>/<c>hosts:</c>) is delivered by that host's agent: plan, apply, check
/// and rotate on the authority never write it, never inspect it and never run its hooks; graph and plan rotate name the host.</summary>
public sealed class HostSinksOnTheAuthorityTests : IDisposable
{
    private const string KeyA = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOsCyxd30V4V79+Eabrhe6xoLVHQcMm61Yb1xrwCeUem root@r1";
    private readonly string _dir = Directory.CreateTempSubdirectory("keyward-hostsinks-").FullName;
    private readonly CliHarness _cli = new();
    private string Root => Path.Combine(_dir, "root");
    private string State => Path.Combine(_dir, "state");
    private string Manifest => Path.Combine(_dir, "keyward.yaml");
    private string Marker => Path.Combine(_dir, "hook-ran");

    public HostSinksOnTheAuthorityTests()
    {
        File.WriteAllText(Manifest, $"""
            apiVersion: keyward/v1
            hosts:
              runner-1: {"{"} sshKey: "{KeyA}" {"}"}
            credentials:
              tok: {"{"} kind: secret, owner: o, purpose: p {"}"}
            sinks:
              here: {"{"} format: raw, path: /run/k/here, credential: tok {"}"}
              there:
                format: raw
                path: /run/k/there
                credential: tok
                host: runner-1
                onChange: {"{"} command: [touch, "{Marker}"] {"}"}
            """);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private Task<CliResult> Run(params string[] args) => RunIn(true, args);

    private async Task<CliResult> RunIn(bool rooted, params string[] args)
    {
        var r = await _cli.RunAsync([.. args, "-f", Manifest, "--state", State, .. rooted ? new[] { "--root", Root } : []]);
        Assert.True(r.ExitCode == 0, r.ToString());
        return r;
    }

    [Fact]
    public async Task PlanApplyCheckAndRotate_LeaveAHostsSinkAlone()
    {
        var plan = await Run("plan", "--json");
        using (var doc = JsonDocument.Parse(plan.Out))
            Assert.Equal(["here"], doc.RootElement.GetProperty("sinks").EnumerateArray().Select(s => s.GetProperty("name").GetString()));

        await Run("apply");
        Assert.True(File.Exists(Path.Combine(Root, "run/k/here")));
        Assert.False(File.Exists(Path.Combine(Root, "run/k/there")));

        var check = await _cli.RunAsync("check", "-f", Manifest, "--root", Root, "--state", State, "--json", "--timeout", "1s");
        using (var doc = JsonDocument.Parse(check.Out))
        {
            var sinks = doc.RootElement.GetProperty("reports").EnumerateArray().Where(x => x.GetProperty("kind").GetString() == "sink")
                .Select(x => x.GetProperty("name").GetString()).ToList();
            Assert.Equal(["here"], sinks);
        }

        var rotatePlan = await RunIn(false, "plan", "rotate", "tok");
        Assert.Contains("hosts (their agents receive the new files):", rotatePlan.Out, StringComparison.Ordinal);
        Assert.Contains("  - runner-1: there", rotatePlan.Out, StringComparison.Ordinal);
        Assert.Contains("on host runner-1", rotatePlan.Out, StringComparison.Ordinal);

        // The rotation reaches the deliver step; runner-1's agent has never confirmed anything, so with no time to wait it
        // pauses (KW0815) naming the host, and the journal stays open.
        var rotate = await _cli.RunAsync("rotate", "tok", "-f", Manifest, "--state", State, "--root", Root, "--host-deadline", "0s");
        Assert.True(rotate.ExitCode == 1, rotate.ToString());
        Assert.Contains("delivered by the agent on host runner-1", rotate.Out + rotate.Err, StringComparison.Ordinal);
        Assert.Contains("KW0815", rotate.Err, StringComparison.Ordinal);
        Assert.Contains("runner-1 (there)", rotate.Err, StringComparison.Ordinal);
        var again = await _cli.RunAsync("rotate", "tok", "-f", Manifest, "--state", State, "--root", Root);
        Assert.Contains("KW0806", again.Err, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(Root, "run/k/there")));
        Assert.False(File.Exists(Marker), "the host sink's hook ran on the authority");

        var graph = await RunIn(false, "graph");
        Assert.Contains("on host runner-1", graph.Out, StringComparison.Ordinal);
    }
}
