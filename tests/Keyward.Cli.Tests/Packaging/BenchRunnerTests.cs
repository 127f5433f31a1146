using System.Text.RegularExpressions;

namespace Keyward.Cli.Tests.Packaging;

/// <summary>
/// bench/run.sh's section handling (issue 14), with fake parts that print a section at once (nothing is built or measured):
/// a run of some parts replaces only those parts' blocks of the file, keeps every other block, the header and the notes
/// written by hand between blocks, puts a new part's block in part order, stamps each block with its run, and keeps the
/// old block of a part that fails.
/// </summary>
public sealed partial class BenchRunnerTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("keyward-bench-runner-").FullName;
    private string Parts => Path.Combine(_dir, "parts");
    private string Doc => Path.Combine(_dir, "benchmarks.md");

    private const string Header = "# Benchmarks\n\nA header written by a person.\n";

    private static readonly string Before = Header + """

        <!-- bench:part 10-apply -->
        ### Apply (old)

        | old | 1 |

        _Measured by `bench/run.sh` on 2026-11-23: an old machine._
        <!-- bench:end 10-apply -->

        A note by hand about apply: the second round was 1.2× faster.

        #### A sub-section by hand

        More words.

        <!-- bench:part 20-plan -->
        ### Plan (old)
        <!-- bench:end 20-plan -->

        Closing note.

        """;

    public BenchRunnerTests()
    {
        Directory.CreateDirectory(Parts);
        Part("10-apply", "echo '### Apply (new)'; echo; echo '| new | 2 |'; echo; echo");
        Part("15-manifest", "echo '### Manifest (new part)'");
        Part("20-plan", "echo '### Plan (new)'");
        Part("30-broken", "echo 'half a section'; exit 3");
        File.WriteAllText(Doc, Before);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private void Part(string name, string body) => File.WriteAllText(Path.Combine(Parts, name + ".sh"), "#!/usr/bin/env bash\nset -euo pipefail\n" + body + "\n");

    private Task<Tool.Result> RunAsync(params string[] parts) =>
        Tool.RunAsync("bash", [Path.Combine(CliHarness.RepoRoot, "bench", "run.sh"), .. parts], env: new Dictionary<string, string>
        {
            ["KW_BENCH_PARTS"] = Parts, ["KW_BENCH_DOC"] = Doc, ["KW_BENCH_NO_BUILD"] = "1", ["KW_BENCH"] = Path.Combine(_dir, "scratch"),
        });

    /// <summary>The block of one part, markers included.</summary>
    private static string Block(string doc, string part)
    {
        var start = doc.IndexOf($"<!-- bench:part {part} -->", StringComparison.Ordinal);
        var endMarker = $"<!-- bench:end {part} -->";
        var end = doc.IndexOf(endMarker, StringComparison.Ordinal);
        Assert.True(start >= 0 && end > start, $"no block {part} in:\n{doc}");
        return doc[start..(end + endMarker.Length)];
    }

    [GeneratedRegex(@"^_Measured by `bench/run\.sh (?<part>[^`]+)` on \d{4}-\d\d-\d\d \d\d:\d\d UTC: \d+ cores, .+; load average [0-9.]+ at the start, [0-9.]+ at the end; commit .+\._$", RegexOptions.Multiline)]
    private static partial Regex Stamp();

    [Fact]
    public async Task A_run_of_one_part_replaces_its_block_only_and_keeps_the_header_the_notes_and_the_other_blocks()
    {
        var run = await RunAsync("10-apply");
        Assert.True(run.ExitCode == 0, run.ToString());
        var doc = File.ReadAllText(Doc);

        var apply = Block(doc, "10-apply");
        Assert.Contains("### Apply (new)\n\n| new | 2 |\n\n_Measured by `bench/run.sh 10-apply` on ", apply, StringComparison.Ordinal);
        Assert.DoesNotContain("old", apply, StringComparison.Ordinal);
        Assert.Equal("10-apply", Assert.Single(Stamp().Matches(doc)).Groups["part"].Value);
        // Everything outside the block is as it was, byte for byte.
        Assert.Equal(Before.Replace(Block(Before, "10-apply"), apply, StringComparison.Ordinal), doc);
    }

    [Fact]
    public async Task A_new_part_goes_in_part_order_after_the_notes_of_the_block_before_it_and_a_failing_part_keeps_its_old_block()
    {
        File.WriteAllText(Doc, Before.Replace("<!-- bench:end 20-plan -->\n", "<!-- bench:end 20-plan -->\n\n<!-- bench:part 30-broken -->\nthe last good figures\n<!-- bench:end 30-broken -->\n", StringComparison.Ordinal));
        var kept = File.ReadAllText(Doc);

        var run = await RunAsync("30-broken", "15-manifest", "20-plan");
        Assert.Equal(1, run.ExitCode);
        Assert.Contains("part 30-broken failed (exit 3)", run.Err, StringComparison.Ordinal);
        Assert.Contains("half a section", run.Err, StringComparison.Ordinal);
        var doc = File.ReadAllText(Doc);

        Assert.Equal(Block(kept, "30-broken"), Block(doc, "30-broken"));
        Assert.Equal(Block(kept, "10-apply"), Block(doc, "10-apply"));
        Assert.Contains("### Plan (new)", Block(doc, "20-plan"), StringComparison.Ordinal);
        Assert.Contains("### Manifest (new part)", Block(doc, "15-manifest"), StringComparison.Ordinal);
        var note = doc.IndexOf("More words.", StringComparison.Ordinal);
        var manifest = doc.IndexOf("<!-- bench:part 15-manifest -->", StringComparison.Ordinal);
        var plan = doc.IndexOf("<!-- bench:part 20-plan -->", StringComparison.Ordinal);
        Assert.True(note < manifest && manifest < plan, doc);
        Assert.StartsWith(Header, doc, StringComparison.Ordinal);
        Assert.Contains("Closing note.", doc, StringComparison.Ordinal);
        Assert.Equal(["15-manifest", "20-plan"], Stamp().Matches(doc).Select(m => m.Groups["part"].Value));
    }

    [Fact]
    public async Task An_unknown_part_or_a_broken_marker_runs_nothing_and_leaves_the_file_as_it_was()
    {
        var unknown = await RunAsync("10-apply", "99-nope");
        Assert.Equal(2, unknown.ExitCode);
        Assert.Contains("no part named '99-nope'", unknown.Err, StringComparison.Ordinal);
        Assert.Equal(Before, File.ReadAllText(Doc));

        var broken = Before.Replace("<!-- bench:end 10-apply -->\n", "", StringComparison.Ordinal);
        File.WriteAllText(Doc, broken);
        var run = await RunAsync("20-plan");
        Assert.Equal(2, run.ExitCode);
        Assert.Contains("block 10-apply has no end marker", run.Err, StringComparison.Ordinal);
        Assert.Equal(broken, File.ReadAllText(Doc));
    }

    [Fact]
    public void The_repositorys_benchmarks_file_has_one_block_for_every_part()
    {
        var doc = File.ReadAllText(Path.Combine(CliHarness.RepoRoot, "docs", "benchmarks.md"));
        foreach (var part in Directory.GetFiles(Path.Combine(CliHarness.RepoRoot, "bench", "parts"), "*.sh").Select(Path.GetFileNameWithoutExtension))
        {
            Assert.Single(Regex.Matches(doc, $"^<!-- bench:part {Regex.Escape(part!)} -->$", RegexOptions.Multiline));
            Assert.Single(Regex.Matches(doc, $"^<!-- bench:end {Regex.Escape(part!)} -->$", RegexOptions.Multiline));
        }
    }
}
