using System.Text;

namespace Keyward.Cli.Tests;

/// <summary>What plan and apply say (issue 14, "the CLI a person expects"): `plan --detailed-exitcode` for CI gates,
/// `--summary` and `--quiet`, and progress that is a bar on a terminal and a line per tenth in a log.</summary>
public sealed class PlanApplyOutputTests : IDisposable
{
    private const int SinkCount = 25;
    private readonly string _dir = Directory.CreateTempSubdirectory("keyward-output-").FullName;
    private string Root => Path.Combine(_dir, "root");
    private string State => Path.Combine(_dir, "state");
    private string Manifest => Path.Combine(_dir, "keyward.yaml");

    public PlanApplyOutputTests()
    {
        var m = new StringBuilder("""
            apiVersion: keyward/v1
            credentials:
              app-secret:
                kind: secret
                bytes: 32
                owner: test
                purpose: output tests
            sinks:

            """);
        for (var i = 0; i < SinkCount; i++)
            m.Append($"  s{i}:\n    path: /srv/s{i}.key\n    format: raw\n    mode: \"0600\"\n    credential: app-secret\n");
        File.WriteAllText(Manifest, m.ToString());
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private Task<CliResult> Run(CliHarness cli, string command, params string[] extra) =>
        cli.RunAsync([command, "-f", Manifest, "--root", Root, "--state", State, .. extra]);

    private static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries);

    [Fact]
    public async Task PlanDetailedExitCode_Is3WhileChangesArePending_0WhenInStep_3AgainWhenReality()
    {
        var cli = new CliHarness();
        var fresh = await Run(cli, "plan", "--detailed-exitcode");
        Assert.True(fresh.ExitCode == 3, fresh.ToString());
        // Without the flag a plan with changes is still a success.
        Assert.Equal(0, (await Run(cli, "plan")).ExitCode);

        Assert.Equal(0, (await Run(cli, "apply", "--quiet")).ExitCode);
        var inStep = await Run(cli, "plan", "--detailed-exitcode");
        Assert.True(inStep.ExitCode == 0, inStep.ToString());

        // Break reality: one sink file deleted, then one edited behind keyward's back.
        File.Delete(Path.Combine(Root, "srv/s7.key"));
        Assert.Equal(3, (await Run(cli, "plan", "--detailed-exitcode")).ExitCode);
        Assert.Equal(0, (await Run(cli, "apply", "--quiet")).ExitCode);
        File.WriteAllText(Path.Combine(Root, "srv/s3.key"), "tampered");
        Assert.Equal(3, (await Run(cli, "plan", "--detailed-exitcode", "--quiet")).ExitCode);
    }

    [Fact]
    public async Task PlanDetailedExitCode_BadInputKeepsExit2()
    {
        var r = await new CliHarness().RunAsync("plan", "--detailed-exitcode", "-f", Path.Combine(_dir, "missing.yaml"), "--state", State);
        Assert.True(r.ExitCode == 2, r.ToString());
    }

    [Fact]
    public async Task ApplySummary_PrintsCountsPerAction_NotALinePerSink()
    {
        var r = await Run(new CliHarness(), "apply", "--summary");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains($"sinks:       {SinkCount} to create, 0 to update, 0 unchanged, 0 pending", r.Out, StringComparison.Ordinal);
        Assert.Contains("credentials: 1 to create", r.Out, StringComparison.Ordinal);
        Assert.DoesNotContain("s7.key", r.Out, StringComparison.Ordinal);
        Assert.True(Lines(r.Out).Length <= 6, r.ToString());
        Assert.Contains($"{SinkCount} files written", r.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ApplyQuiet_PrintsOneLine_AndNoProgress()
    {
        var r = await Run(new CliHarness(), "apply", "--quiet");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal([$"done: 1 credential version stored, {SinkCount} files written"], Lines(r.Out));
        Assert.Equal("", r.Err);
        var again = await Run(new CliHarness(), "apply", "-q");
        Assert.Equal(["done: everything was up to date; nothing written"], Lines(again.Out));
    }

    [Fact]
    public async Task ApplyPiped_ReportsProgressOnceper10Percent_WithCounts()
    {
        var r = await Run(new CliHarness(), "apply", "--summary");
        Assert.True(r.ExitCode == 0, r.ToString());
        var sinkLines = Lines(r.Err).Where(l => l.Contains("of writing sinks", StringComparison.Ordinal)).ToArray();
        // 25 sinks: a line each time another tenth is done (2/25 is 8 %, so 3/25 is the first), and the last.
        Assert.InRange(sinkLines.Length, 10, 11);
        Assert.StartsWith($"[{SinkCount}/{SinkCount}] wrote ", sinkLines[^1], StringComparison.Ordinal);
        Assert.Contains("(100% of writing sinks)", sinkLines[^1], StringComparison.Ordinal);
        Assert.DoesNotContain("\u001b[", r.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ApplyOnATerminal_DrawsAProgressDisplayWithCounts()
    {
        var r = await Run(new CliHarness { ErrIsTerminal = true }, "apply", "--summary");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("writing sinks", r.Err, StringComparison.Ordinal);
        Assert.Contains($"{SinkCount}/{SinkCount}", r.Err, StringComparison.Ordinal);
        Assert.Contains("100%", r.Err, StringComparison.Ordinal);
        Assert.Contains("\u001b[", r.Err, StringComparison.Ordinal);
        // The bar replaces the per-tenth lines.
        Assert.DoesNotContain("of writing sinks)", r.Err, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--summary", "--quiet")]
    [InlineData("--json", "--quiet")]
    [InlineData("--json", "--summary")]
    public async Task ConflictingOutputOptions_AreBadInput(string a, string b)
    {
        foreach (var command in new[] { "plan", "apply" })
        {
            var r = await Run(new CliHarness(), command, a, b);
            Assert.True(r.ExitCode == 2, r.ToString());
            Assert.False(Directory.Exists(Root), "nothing may be written on bad input");
        }
    }
}
