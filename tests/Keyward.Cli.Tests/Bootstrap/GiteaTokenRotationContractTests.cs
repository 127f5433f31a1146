using Keyward.Services.Tests.ContractServers;
using Microsoft.Extensions.Time.Testing;

namespace Keyward.Cli.Tests.Bootstrap;

/// <summary>Rotating a Gitea service's own token through the CLI against the stateful Gitea contract server, as far as
/// Gitea's API allows: with the admin's password (Basic auth) Keyward creates the next token and deletes the old one;
/// without it, and with no source to re-import from, `rotate` and `plan rotate` refuse (KW0816) instead of pretending.</summary>
public sealed class GiteaTokenRotationContractTests : IAsyncDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("keyward-gitea-").FullName;
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 23, 12, 0, 0, TimeSpan.Zero));
    private readonly GiteaContractServer _gitea = new() { Password = "Tr0ub4dor-and-3" };
    private string Manifest => Path.Combine(_dir, "keyward.yaml");
    private string Root => Path.Combine(_dir, "root");
    private string State => Path.Combine(_dir, "state");
    private string SinkFile => Path.Combine(Root, "run/keyward/gitea-token");
    private string Placed => Path.Combine(State, "bootstrap", "gitea-token.txt");

    public async ValueTask DisposeAsync()
    {
        await _gitea.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    private void WriteManifest(bool withPassword)
    {
        File.WriteAllText(Path.Combine(_dir, "gitea-password"), _gitea.Password + "\n");
        File.WriteAllText(Manifest, $$"""
            apiVersion: keyward/v1
            credentials:
              gitea-token: { kind: external, provider: gitea, owner: platform, purpose: admin API token }
              gitea-admin-password: { kind: external, provider: generic, owner: platform, purpose: Gitea admin login, source: { file: gitea-password } }
            sinks:
              gitea-token:
                path: /run/keyward/gitea-token
                format: raw
                mode: "0600"
                credential: gitea-token
            services:
              gitea:
                kind: gitea
                url: "{{_gitea.Url.AbsoluteUri}}"
                token: gitea-token
                scopes: [write:repository]
            {{(withPassword ? "    adminUser: admin\n    adminPassword: gitea-admin-password" : "")}}
            """);
    }

    private Task<CliResult> Run(CliHarness cli, params string[] args) =>
        cli.RunAsync([.. args, "-f", Manifest, "--state", State, .. (args[0] is "bootstrap" or "apply" or "rotate" ? new[] { "--root", Root } : [])]);

    /// <summary>Bootstrap picks up a token a person created with the Gitea CLI and pasted into the placeholder file.</summary>
    private async Task<string> PasteAsync(CliHarness cli)
    {
        var first = await Run(cli, "bootstrap", "gitea", "gitea");
        Assert.Contains("-> no-token", first.Out, StringComparison.Ordinal);
        var pasted = _gitea.NewToken("pasted-by-a-human", "write:repository", "read:user");
        File.WriteAllText(Placed, pasted + "\n");
        var valid = await Run(cli, "bootstrap", "gitea", "gitea");
        Assert.True(valid.ExitCode == 0, valid.ToString());
        Assert.Equal(pasted, File.ReadAllText(SinkFile));
        return pasted;
    }

    [Fact]
    public async Task Rotate_GiteaTokenWithAdminPassword_CreatesTheNextWithBasicAuthDeletesTheOldAndAuditsEachCall()
    {
        WriteManifest(withPassword: true);
        var cli = new CliHarness { Time = _time };
        Assert.Equal(0, (await Run(cli, "apply")).ExitCode);             // imports the admin password
        var boot = await Run(cli, "bootstrap", "gitea", "gitea");        // creates the first token with Basic auth
        Assert.True(boot.ExitCode == 0, boot.ToString());
        var pasted = File.ReadAllText(SinkFile);
        var pastedId = _gitea.Listed[pasted].Id;

        var plan = await Run(cli, "plan", "rotate", "gitea-token");
        Assert.True(plan.ExitCode == 0, plan.ToString());
        Assert.Contains("through Gitea's API with Basic auth", plan.Out, StringComparison.Ordinal);

        var rotated = await Run(cli, "rotate", "gitea-token");
        Assert.True(rotated.ExitCode == 0, rotated.ToString());
        var next = File.ReadAllText(SinkFile);
        Assert.NotEqual(pasted, next);
        Assert.Matches("^[0-9a-f]{40}$", next);
        Assert.Contains(next, _gitea.Tokens.Keys);
        Assert.DoesNotContain(pasted, _gitea.Tokens.Keys);                // the old token is deleted at Gitea, by its id
        Assert.Equal([pastedId], _gitea.Deleted);
        Assert.Equal(2, _gitea.CreatedScopes.Count);                     // bootstrap's and the rotation's
        Assert.All(_gitea.CreatedScopes, s => Assert.Equal(["write:repository", "read:user"], s)); // declared scopes + read:user only

        // Token routes only ever saw Basic auth with the admin's password (Gitea refuses a token there: "auth required").
        var tokenCalls = _gitea.Server.Requests.Where(r => r.Path == "/api/v1/users/admin/tokens" || r.Path.StartsWith("/api/v1/users/admin/tokens/", StringComparison.Ordinal)).ToArray();
        Assert.Equal(["POST", "POST", "GET", "DELETE"], tokenCalls.Select(r => r.Method));
        Assert.All(tokenCalls, r => Assert.StartsWith("Basic ", r.Header("Authorization"), StringComparison.Ordinal));

        var audit = await cli.RunAsync("audit", "--state", State);
        Assert.True(audit.ExitCode == 0, audit.ToString());
        Assert.Contains("gitea: POST /api/v1/users/admin/tokens", audit.Out, StringComparison.Ordinal);
        Assert.Contains($"gitea: DELETE /api/v1/users/admin/tokens/{pastedId}", audit.Out, StringComparison.Ordinal);
        Assert.Contains("-> deleted", audit.Out, StringComparison.Ordinal);
        var everything = cli.AllOutput.ToString();
        foreach (var secret in new[] { pasted, next, _gitea.Password })
            Assert.DoesNotContain(secret, everything, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Rotate_GiteaTokenWithoutPasswordOrSource_RefusesWithKW0816AndPlanRotateSaysTheSame()
    {
        WriteManifest(withPassword: false);
        var cli = new CliHarness { Time = _time };
        var pasted = await PasteAsync(cli);

        var plan = await Run(cli, "plan", "rotate", "gitea-token");
        Assert.Equal(2, plan.ExitCode);
        Assert.Contains("KW0816", plan.Err, StringComparison.Ordinal);
        Assert.Contains("adminPassword", plan.Err, StringComparison.Ordinal);

        var rotate = await Run(cli, "rotate", "gitea-token");
        Assert.Equal(2, rotate.ExitCode);
        Assert.Contains("KW0816", rotate.Err, StringComparison.Ordinal);
        Assert.Contains("Basic auth", rotate.Err, StringComparison.Ordinal);
        Assert.DoesNotContain("committed", rotate.Out + rotate.Err, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(pasted, File.ReadAllText(SinkFile));                  // nothing changed
        Assert.Empty(_gitea.Server.Writes);                               // and nothing was asked of Gitea
        var resume = await Run(cli, "rotate", "--resume");
        Assert.Contains("KW0807", resume.Err, StringComparison.Ordinal);  // no journal was opened
    }
}
