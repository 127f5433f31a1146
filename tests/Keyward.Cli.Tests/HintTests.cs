namespace Keyward.Cli.Tests;

/// <summary>Hints point at the command that actually helps (issue 10, part C).</summary>
public sealed class HintTests
{
    [Fact]
    public async Task InvalidRecipient_HintDoesNotSuggestSshRsa_WhichIsRefused()
    {
        var path = Path.Combine(CliHarness.RepoRoot, "tests", "data", "manifests", "invalid", "invalid-recipient.yaml");
        var state = Directory.CreateTempSubdirectory("keyward-hint-").FullName;
        try
        {
            var r = await new CliHarness().RunAsync("plan", "-f", path, "--state", state);
            Assert.True(r.ExitCode == 2 && r.Err.Contains("KW0116", StringComparison.Ordinal), r.ToString());
            Assert.DoesNotContain("ssh-rsa AAAA", r.Err, StringComparison.Ordinal);
            Assert.Contains("ssh-ed25519", r.Err, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(state, recursive: true);
        }
    }

    [Theory]
    [InlineData(new[] { "aply" }, "did you mean `keyward apply`?")]
    [InlineData(new[] { "bootstrap", "codr", "x" }, "did you mean `keyward bootstrap coder`?")]
    [InlineData(new[] { "chek" }, "did you mean `keyward check`?")]
    public async Task TypodCommand_GetsDidYouMean(string[] args, string expected)
    {
        var r = await new CliHarness().RunAsync(args);
        Assert.True(r.ExitCode == 2, r.ToString());
        Assert.Contains(expected, r.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task FarFromAnyCommand_NoSuggestion()
    {
        var r = await new CliHarness().RunAsync("frobnicate");
        Assert.True(r.ExitCode == 2, r.ToString());
        Assert.DoesNotContain("did you mean", r.Err, StringComparison.Ordinal);
    }
}
