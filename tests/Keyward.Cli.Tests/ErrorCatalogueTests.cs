using System.Text.RegularExpressions;
using Keyward.Core.Errors;

namespace Keyward.Cli.Tests;

public sealed partial class ErrorCatalogueTests
{
    [Fact]
    public async Task DocsErrorsMd_MatchesTheCatalogue()
    {
        var r = await new CliHarness().RunAsync("errors", "--markdown");
        Assert.Equal(0, r.ExitCode);
        var committed = File.ReadAllText(Path.Combine(CliHarness.RepoRoot, "docs", "errors.md"));
        Assert.True(committed == r.Out, "docs/errors.md is stale: run `./keyward errors --markdown > docs/errors.md`");
    }

    [GeneratedRegex(@"^KW\d{4}$")]
    private static partial Regex CodeShape();

    [Fact]
    public void EveryCode_IsUniqueWellFormedAndHasAHint()
    {
        var all = ErrorCodes.All;
        Assert.NotEmpty(all);
        Assert.Equal(all.Count, all.Select(c => c.Code).Distinct().Count());
        Assert.All(all, c =>
        {
            Assert.Matches(CodeShape(), c.Code);
            Assert.False(string.IsNullOrWhiteSpace(c.Hint), c.Code);
            Assert.False(string.IsNullOrWhiteSpace(c.Title), c.Code);
        });
    }

    [Fact]
    public async Task UnknownOption_IsUsageErrorWithExitTwo()
    {
        var r = await new CliHarness().RunAsync("list", "--no-such-flag");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("error[KW0002]", r.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task NoCommand_PrintsHelpToStderrAndExitsTwo()
    {
        var r = await new CliHarness().RunAsync();
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("Commands:", r.Err, StringComparison.Ordinal);
        Assert.Contains("apply", r.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MissingManifest_IsOneErrorWithHint_NoSummaryNoise()
    {
        var r = await new CliHarness().RunAsync("plan", "-f", "/nonexistent/keyward.yaml");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("error[KW0003]", r.Err, StringComparison.Ordinal);
        Assert.Contains("hint:", r.Err, StringComparison.Ordinal);
        Assert.DoesNotContain("KW0022", r.Err, StringComparison.Ordinal);
    }
}
