using System.Text;
using System.Text.Json;
using Keyward.Core.Secrets;
using Keyward.Crypto.Age;
using Keyward.Crypto.Sops;

namespace Keyward.Cli.Tests;

/// <summary><c>keyward export sops</c>, <c>keyward import sops</c> and the manifest's <c>source: { sops: … }</c>, run in-process.</summary>
public sealed class SopsCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("keyward-sops-cli-").FullName;
    private string P(string name) => Path.Combine(_dir, name);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string Fixture(string name) => Path.Combine(CliHarness.RepoRoot, "tests", "Keyward.Crypto.Tests", "Golden", "Sops", "sops-age", name);

    private static async Task<string> Get(string state, string name)
    {
        var r = await new CliHarness().RunAsync("get", name, "--state", state);
        Assert.True(r.ExitCode == 0, r.ToString());
        return Encoding.UTF8.GetString(r.StdOutBytes);
    }

    private static string HostRecipient(string state) =>
        File.ReadAllLines(Path.Combine(state, "identity.txt")).First(l => l.StartsWith("# public key: ", StringComparison.Ordinal))["# public key: ".Length..];

    [Fact]
    public async Task ExportThenImport_IntoAFreshState_GetReturnsTheSameValues_AndReExportLeavesTheFileAlone()
    {
        var (opId, opRecipient) = AgenixCommandTests.NewIdentity(P("operator.txt"));
        File.WriteAllText(P("keyward.yaml"), $"""
            apiVersion: keyward/v1
            recipients: ["{opRecipient}"]
            credentials:
              db-password: {"{"} kind: secret, bytes: 32, encoding: alphanumeric, owner: ops, purpose: db {"}"}
              jwt: {"{"} kind: secret, bytes: 64, owner: ops, purpose: signs {"}"}
              cache-key: {"{"} kind: nix-signing-key, keyName: cache-1, owner: ops, purpose: cache {"}"}
            """);
        var cli = new CliHarness();
        Assert.Equal(0, (await cli.RunAsync("apply", "-f", P("keyward.yaml"), "--state", P("s1"), "--no-hooks")).ExitCode);

        var export = await cli.RunAsync("export", "sops", P("secrets/keyward.yaml"), "-f", P("keyward.yaml"), "--state", P("s1"));
        Assert.True(export.ExitCode == 0, export.ToString());
        Assert.Contains("wrote ", export.Out, StringComparison.Ordinal);
        Assert.Contains("(3 keys, 2 recipients)", export.Out, StringComparison.Ordinal);
        var first = File.ReadAllBytes(P("secrets/keyward.yaml"));

        var again = await cli.RunAsync("export", "sops", P("secrets/keyward.yaml"), "-f", P("keyward.yaml"), "--state", P("s1"), "--json");
        Assert.True(again.ExitCode == 0, again.ToString());
        using (var doc = JsonDocument.Parse(again.Out)) Assert.False(doc.RootElement.GetProperty("written").GetBoolean());
        Assert.Equal(first, File.ReadAllBytes(P("secrets/keyward.yaml")));

        Assert.Equal(0, (await cli.RunAsync("init", "--state", P("s2"))).ExitCode);
        var import = await cli.RunAsync("import", "sops", P("secrets/keyward.yaml"), "-i", opId, "-f", P("keyward.yaml"), "--state", P("s2"));
        Assert.True(import.ExitCode == 0, import.ToString());
        Assert.Contains("[3/3] checked", import.Err, StringComparison.Ordinal);
        foreach (var name in new[] { "db-password", "jwt", "cache-key" })
        {
            var value = await Get(P("s1"), name);
            Assert.Equal(value, await Get(P("s2"), name));
            Assert.DoesNotContain(value.Trim(), cli.AllOutput.ToString(), StringComparison.Ordinal);
        }
        var reimport = await cli.RunAsync("import", "sops", P("secrets/keyward.yaml"), "-i", opId, "--state", P("s2"));
        Assert.True(reimport.ExitCode == 0, reimport.ToString());
        Assert.Contains("unchanged  jwt v1", reimport.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Apply_ReadsASopsSource_WithTheHostIdentity()
    {
        var cli = new CliHarness();
        Assert.Equal(0, (await cli.RunAsync("init", "--state", P("s"))).ExitCode);
        WriteTokens(HostRecipient(P("s")), "ghp_" + new string('a', 36));
        var apply = await cli.RunAsync("apply", "-f", Manifest(), "--state", P("s"), "--no-hooks");
        Assert.True(apply.ExitCode == 0, apply.ToString());
        Assert.Equal("ghp_" + new string('a', 36), (await Get(P("s"), "github-token")).Trim());
        Assert.DoesNotContain("ghp_" + new string('a', 36), cli.AllOutput.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Apply_WithATamperedSopsSource_FailsWithKW0472_AndStoresNothing()
    {
        var cli = new CliHarness();
        Assert.Equal(0, (await cli.RunAsync("init", "--state", P("s"))).ExitCode);
        WriteTokens(HostRecipient(P("s")), "ghp_" + new string('b', 36));
        var path = P("secrets/tokens.yaml");
        var text = File.ReadAllText(path);
        var at = text.IndexOf("data:", StringComparison.Ordinal) + 5;
        File.WriteAllText(path, text[..at] + (text[at] == 'A' ? 'B' : 'A') + text[(at + 1)..]);
        var apply = await cli.RunAsync("apply", "-f", Manifest(), "--state", P("s"), "--no-hooks");
        Assert.Equal(1, apply.ExitCode);
        Assert.Contains("KW0472", apply.Err, StringComparison.Ordinal);
        Assert.Contains("github/token", apply.Err, StringComparison.Ordinal);
        Assert.Contains("git checkout", apply.Err, StringComparison.Ordinal);
        Assert.DoesNotContain("ghp_" + new string('b', 36), cli.AllOutput.ToString(), StringComparison.Ordinal);
        Assert.NotEqual(0, (await cli.RunAsync("get", "github-token", "--state", P("s"))).ExitCode);
    }

    [Fact]
    public async Task Apply_WithAMissingSopsKey_ListsTheFilesKeys()
    {
        var cli = new CliHarness();
        Assert.Equal(0, (await cli.RunAsync("init", "--state", P("s"))).ExitCode);
        WriteTokens(HostRecipient(P("s")), "ghp_" + new string('c', 36), key: "github/other");
        var apply = await cli.RunAsync("apply", "-f", Manifest(), "--state", P("s"), "--no-hooks");
        Assert.Equal(2, apply.ExitCode);
        Assert.Contains("KW0473", apply.Err, StringComparison.Ordinal);
        Assert.Contains("github/other", apply.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ImportSops_OfAFileWrittenByRealSops_MapsKeysThroughTheManifest()
    {
        File.WriteAllText(P("keyward.yaml"), $"""
            apiVersion: keyward/v1
            credentials:
              secret: {"{"} kind: external, provider: generic, owner: ops, purpose: fixture {"}"}
              complex-value: {"{"} kind: external, provider: generic, owner: ops, purpose: fixture, source: {"{"} sops: {Fixture("secret.enc.json")}, key: complex/value {"}"} {"}"}
            """);
        var cli = new CliHarness();
        Assert.Equal(0, (await cli.RunAsync("init", "--state", P("s"))).ExitCode);
        var import = await cli.RunAsync("import", "sops", Fixture("secret.enc.json"), "-i", Fixture("key.txt"), "-f", P("keyward.yaml"), "--state", P("s"), "--json");
        Assert.True(import.ExitCode == 0, import.ToString());
        using var doc = JsonDocument.Parse(import.Out);
        var keys = doc.RootElement.GetProperty("keys").EnumerateArray().ToDictionary(k => k.GetProperty("key").GetString()!, k => k.GetProperty("action").GetString());
        Assert.Equal("imported", keys["secret"]);
        Assert.Equal("imported", keys["complex/value"]);
        Assert.Equal("skipped", keys["string"]);
        Assert.Equal("this is a secret", (await Get(P("s"), "complex-value")).Trim());
    }

    [Fact]
    public async Task ImportSops_WithTheWrongIdentity_FailsWithKW0471_NamingTheRecipients()
    {
        var (other, _) = AgenixCommandTests.NewIdentity(P("other.txt"));
        var cli = new CliHarness();
        Assert.Equal(0, (await cli.RunAsync("init", "--state", P("s"))).ExitCode);
        var import = await cli.RunAsync("import", "sops", Fixture("secret.enc.yaml"), "-i", other, "--state", P("s"));
        Assert.Equal(1, import.ExitCode);
        Assert.Contains("KW0471", import.Err, StringComparison.Ordinal);
        Assert.Contains("age1je6kjhzuhdjy3fqptpttxjh5k8q46vygzlgtpuq3030c947pc5tqz9dqvr", import.Err, StringComparison.Ordinal);
    }

    private string Manifest()
    {
        File.WriteAllText(P("keyward.yaml"), """
            apiVersion: keyward/v1
            credentials:
              github-token: { kind: external, provider: github, host: github.com, owner: ops, purpose: fetch, source: { sops: secrets/tokens.yaml, key: github/token } }
            """);
        return P("keyward.yaml");
    }

    private void WriteTokens(string recipient, string token, string key = "github/token")
    {
        Directory.CreateDirectory(P("secrets"));
        using var value = Secret.FromUtf8(token);
        File.WriteAllBytes(P("secrets/tokens.yaml"), SopsFile.Encrypt([new(key, value)], [recipient], DateTimeOffset.UnixEpoch, json: false));
    }
}
