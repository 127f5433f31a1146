namespace Keyward.Cli.Tests;

/// <summary>Seed 002: GitOps tokens from a tokens.json map — every value checked before anything is stored, errors with
/// FILE:LINE:COLUMN and what to do, <c>[n/N]</c> progress.</summary>
public sealed class GitOpsTokensTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("keyward-gitops-").FullName;
    private string P(string name) => Path.Combine(_dir, name);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private const string GitHub = "ghp_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    private const string GitLab = "glpat-bbbbbbbbbbbbbbbbbbbb";

    private async Task<(CliResult Apply, CliHarness Cli)> ApplyAsync(string tokensJson)
    {
        File.WriteAllText(P("tokens.json"), tokensJson);
        File.WriteAllText(P("keyward.yaml"), $$"""
            apiVersion: keyward/v1
            credentials:
              github-token: { kind: external, provider: github, host: github.com, owner: ops, purpose: fetch, source: { jsonMap: tokens.json, key: github.com } }
              gitlab-token: { kind: external, provider: gitlab, host: gitlab.com, owner: ops, purpose: fetch, source: { jsonMap: tokens.json, key: gitlab.com } }
            sinks:
              access-tokens: { path: {{P("out/access-tokens.conf")}}, format: nix-access-tokens, mode: "0600", tokens: [github-token, gitlab-token] }
            """);
        var cli = new CliHarness();
        return (await cli.RunAsync("apply", "-f", P("keyward.yaml"), "--state", P("s"), "--no-hooks"), cli);
    }

    [Fact]
    public async Task TrailingComma_IsReportedWithLineAndColumn_AndHowToFixIt()
    {
        var (apply, _) = await ApplyAsync($"{{\n  \"github.com\": \"{GitHub}\",\n  \"gitlab.com\": \"{GitLab}\",\n}}\n");
        Assert.Equal(2, apply.ExitCode);
        Assert.Contains("tokens.json:4:1: a trailing comma", apply.Err, StringComparison.Ordinal);
        Assert.Contains("remove the ','", apply.Err, StringComparison.Ordinal);
        Assert.DoesNotContain(GitHub, apply.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task NonStringValue_IsReportedAtItsPosition()
    {
        var (apply, _) = await ApplyAsync($"{{\"github.com\": \"{GitHub}\",\n \"gitlab.com\": 42}}");
        Assert.Equal(2, apply.ExitCode);
        Assert.Contains("tokens.json:2:16: the value of \"gitlab.com\" is a number, not a string", apply.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EmptyValue_SaysItIsEmpty_NotMissing()
    {
        var (apply, _) = await ApplyAsync($"{{\"github.com\": \"{GitHub}\", \"gitlab.com\": \"\"}}");
        Assert.Equal(2, apply.ExitCode);
        Assert.Contains("key 'gitlab.com'", apply.Err, StringComparison.Ordinal);
        Assert.Contains("is empty", apply.Err, StringComparison.Ordinal);
        Assert.DoesNotContain("is not in", apply.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TokenWithASpace_IsRefusedBeforeAnythingIsStored()
    {
        var (apply, cli) = await ApplyAsync($"{{\"github.com\": \"{GitHub}\", \"gitlab.com\": \"glpat-bbbb bbbbbbbbbbbbbbbb\"}}");
        Assert.Equal(2, apply.ExitCode);
        Assert.Contains("KW0021", apply.Err, StringComparison.Ordinal);
        Assert.Contains("contains a space at character 11", apply.Err, StringComparison.Ordinal);
        Assert.Contains("nothing was stored", apply.Err, StringComparison.Ordinal);
        Assert.False(File.Exists(P("out/access-tokens.conf")));
        // The good token was not stored either: the whole apply stops before its transaction.
        Assert.NotEqual(0, (await cli.RunAsync("get", "github-token", "--state", P("s"))).ExitCode);
    }

    [Fact]
    public async Task GoodTokens_AreImportedWithProgress()
    {
        var (apply, _) = await ApplyAsync($"{{\"github.com\": \"{GitHub}\", \"gitlab.com\": \"{GitLab}\"}}");
        Assert.True(apply.ExitCode == 0, apply.ToString());
        Assert.Contains("[1/2] imported github-token v1", apply.Err, StringComparison.Ordinal);
        Assert.Contains("[2/2] imported gitlab-token v1", apply.Err, StringComparison.Ordinal);
        Assert.Contains("access-tokens = github.com=" + GitHub, File.ReadAllText(P("out/access-tokens.conf")), StringComparison.Ordinal);
    }
}
