using System.Text.RegularExpressions;

namespace Keyward.Cli.Tests;

public sealed partial class CommandDocsTests
{
    [GeneratedRegex(@"^  (?<name>[a-z-]+)\b", RegexOptions.Multiline)]
    private static partial Regex CommandLine();

    [Fact]
    public async Task EveryTopLevelCommand_IsDocumentedInCommandsMd()
    {
        var help = await new CliHarness().RunAsync("--help");
        var commands = help.Out[help.Out.IndexOf("Commands:", StringComparison.Ordinal)..];
        var names = CommandLine().Matches(commands).Select(m => m.Groups["name"].Value).ToArray();
        Assert.True(names.Length >= 15, help.Out);
        var doc = File.ReadAllText(Path.Combine(CliHarness.RepoRoot, "docs", "commands.md"));
        foreach (var name in names)
            Assert.True(doc.Contains($"## keyward {name}", StringComparison.Ordinal), $"docs/commands.md has no section for `keyward {name}`: run docs/gen-commands.sh");
    }
}
