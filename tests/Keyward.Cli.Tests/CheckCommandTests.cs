using System.Text.Json;

namespace Keyward.Cli.Tests;

/// <summary>`keyward check` end to end on the example: the files Keyward wrote verify, a loosened mode flips the sink to
/// failing, and services that cannot be reached are reported Unknown/Unreachable (never a hang).</summary>
public sealed class CheckCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("keyward-check-").FullName;
    private string Root => Path.Combine(_dir, "root");
    private string State => Path.Combine(_dir, "state");
    private static string Manifest => Path.Combine(CliHarness.RepoRoot, "examples", "homelab", "keyward.yaml");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static JsonElement Condition(JsonDocument doc, string kind, string name, string type) =>
        doc.RootElement.GetProperty("reports").EnumerateArray()
            .Single(r => r.GetProperty("kind").GetString() == kind && r.GetProperty("name").GetString() == name)
            .GetProperty("conditions").EnumerateArray().Single(c => c.GetProperty("type").GetString() == type);

    [Fact]
    public async Task Check_Example_FilesVerify_LoosenedModeFails_UnreachableServiceIsUnknown()
    {
        var cli = new CliHarness();
        Assert.Equal(0, (await cli.RunAsync("apply", "-f", Manifest, "--root", Root, "--state", State, "--no-hooks")).ExitCode);

        var r = await cli.RunAsync("check", "ci-push-token", "-f", Manifest, "--root", Root, "--state", State, "--json", "--timeout", "5s");
        Assert.Equal(1, r.ExitCode); // the Attic server of the example does not exist here
        using (var doc = JsonDocument.Parse(r.Out))
        {
            Assert.Equal("True", Condition(doc, "sink", "runner-netrc", "Verified").GetProperty("status").GetString());
            var verified = Condition(doc, "credential", "ci-push-token", "Verified");
            Assert.Equal("Unknown", verified.GetProperty("status").GetString());
            // The example's host name does not resolve here: refused at once, or — when the resolver itself is slow, as on
            // a loaded machine — not answered within the timeout. Either way the service could not be asked: Unknown.
            Assert.Contains(verified.GetProperty("reason").GetString(), new[] { "Unreachable", "Timeout" });
        }

        File.SetUnixFileMode(Path.Combine(Root, "etc/nix/keyward-netrc"), (UnixFileMode)0x1A4); // 0644: world-readable token
        var loosened = await cli.RunAsync("check", "ci-push-token", "-f", Manifest, "--root", Root, "--state", State, "--json", "--timeout", "5s");
        using (var doc = JsonDocument.Parse(loosened.Out))
        {
            var sink = Condition(doc, "sink", "runner-netrc", "Verified");
            Assert.Equal("False", sink.GetProperty("status").GetString());
            Assert.Contains("0644", sink.GetProperty("message").GetString(), StringComparison.Ordinal);
        }
        var token = (await new CliHarness().RunAsync("get", "ci-push-token", "--state", State)).Out;
        Assert.DoesNotContain(token, cli.AllOutput.ToString(), StringComparison.Ordinal);
    }
}
