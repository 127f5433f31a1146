using System.Text.RegularExpressions;

namespace Keyward.Cli.Tests;

/// <summary>Every manifest in tests/data/manifests/invalid/ makes `keyward plan -f` exit 2 and report its expected
/// code with a line and column.</summary>
public sealed partial class InvalidManifestTests
{
    public static TheoryData<string> Files()
    {
        var data = new TheoryData<string>();
        foreach (var f in Directory.EnumerateFiles(Path.Combine(CliHarness.RepoRoot, "tests", "data", "manifests", "invalid"), "*.yaml").Order(StringComparer.Ordinal))
            data.Add(Path.GetFileName(f));
        return data;
    }

    [Fact]
    public void TheCorpus_HasAtLeast25Manifests() => Assert.True(Files().Count >= 25, $"only {Files().Count} invalid manifests");

    [GeneratedRegex(@"^# expect: (KW\d{4})")]
    private static partial Regex Expect();

    [Theory]
    [MemberData(nameof(Files))]
    public async Task Plan_InvalidManifest_ExitsTwoAndReportsTheCodeWithLineAndColumn(string file)
    {
        var path = Path.Combine(CliHarness.RepoRoot, "tests", "data", "manifests", "invalid", file);
        var m = Expect().Match(File.ReadLines(path).First());
        Assert.True(m.Success, $"{file} must start with '# expect: KW####'");
        var code = m.Groups[1].Value;
        var state = Directory.CreateTempSubdirectory("keyward-invalid-").FullName;
        try
        {
            var r = await new CliHarness().RunAsync("plan", "-f", path, "--state", state);
            Assert.True(r.ExitCode == 2, r.ToString());
            Assert.Matches(new Regex($@"error\[{code}\]: [^\n]*{Regex.Escape(file)}:\d+:\d+: "), r.Err);
            Assert.DoesNotContain("   at ", r.Err, StringComparison.Ordinal); // no stack trace without --debug
        }
        finally
        {
            Directory.Delete(state, recursive: true);
        }
    }
}
