using System.Text.Json;

namespace Keyward.Cli.Tests;

/// <summary><c>keyward list --wide</c>: the key authority table printed from the manifest (seed 001).</summary>
public sealed class ListWideTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("keyward-list-wide-").FullName;
    private string P(string name) => Path.Combine(_dir, name);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task ListWide_ShowsOwnerPurposeConsumersAndTheRotationRule_OfEveryDeclaredCredential()
    {
        File.WriteAllText(P("keyward.yaml"), $$"""
            apiVersion: keyward/v1
            credentials:
              jwt: { kind: secret, bytes: 64, owner: attic-stack, purpose: signs tokens }
              ci-token: { kind: attic-token, signedBy: jwt, subject: ci, validity: 30d, caches: { main: [pull, push] }, owner: ci, purpose: push }
              cache-key: { kind: nix-signing-key, keyName: main-1, owner: cache, purpose: signs paths }
              s3: { kind: external, provider: s3, owner: storage, purpose: bucket, source: { env: S3_KEY } }
            sinks:
              netrc: { path: {{P("out/netrc")}}, format: netrc, entries: { cache.example.org: { credential: ci-token } } }
            """);
        var cli = new CliHarness();
        Assert.Equal(0, (await cli.RunAsync("init", "--state", P("s"))).ExitCode);
        var r = await cli.RunAsync("list", "--wide", "--json", "-f", P("keyward.yaml"), "--state", P("s"));
        Assert.True(r.ExitCode == 0, r.ToString());
        using var doc = JsonDocument.Parse(r.Out);
        var rows = doc.RootElement.EnumerateArray().ToDictionary(e => e.GetProperty("name").GetString()!, e => e.Clone());
        Assert.Equal(["jwt", "ci-token", "cache-key", "s3"], rows.Keys);
        Assert.Equal("rotate the JWT secret and re-mint every token", rows["jwt"].GetProperty("rotation").GetString());
        Assert.Equal("re-mint this token only", rows["ci-token"].GetProperty("rotation").GetString());
        Assert.Equal("two-phase rollover", rows["cache-key"].GetProperty("rotation").GetString());
        Assert.Equal("storage plane only", rows["s3"].GetProperty("rotation").GetString());
        Assert.Equal("attic-stack", rows["jwt"].GetProperty("owner").GetString());
        Assert.Equal("push", rows["ci-token"].GetProperty("purpose").GetString());
        Assert.Contains("signs ci-token", rows["jwt"].GetProperty("consumers").EnumerateArray().Select(c => c.GetString()));
        Assert.Contains("sink netrc", rows["ci-token"].GetProperty("consumers").EnumerateArray().Select(c => c.GetString()));
        Assert.Equal("yes", rows["ci-token"].GetProperty("secret").GetString());

        var text = await cli.RunAsync("list", "--wide", "-f", P("keyward.yaml"), "--state", P("s"));
        Assert.True(text.ExitCode == 0, text.ToString());
        Assert.StartsWith("NAME", text.Out, StringComparison.Ordinal);
        Assert.Contains("not stored", text.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ListWide_WithoutAManifest_SaysHowToPassOne()
    {
        var cli = new CliHarness();
        Assert.Equal(0, (await cli.RunAsync("init", "--state", P("s"))).ExitCode);
        var r = await cli.RunAsync("list", "--wide", "-f", P("missing.yaml"), "--state", P("s"));
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("-f PATH", r.Err, StringComparison.Ordinal);
    }
}
