using Keyward.Services.Tests.ContractServers;

namespace Keyward.Cli.Tests.Bootstrap;

/// <summary>Every use of a stored token against a service appears in the audit log as <c>service.use</c> with the actor,
/// the service, the credential, its version and the outcome — never the value. check and reconcile did not audit at all;
/// these run them through the CLI against the Coder and Attic contract servers.</summary>
public sealed class ServiceUseAuditContractTests : IAsyncDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("keyward-use-").FullName;
    private readonly CoderContractServer _coder = new() { HasFirstUser = true };
    private readonly AtticContractServer _attic = new();
    private string Manifest => Path.Combine(_dir, "keyward.yaml");
    private string State => Path.Combine(_dir, "state");

    public async ValueTask DisposeAsync()
    {
        await _coder.DisposeAsync();
        await _attic.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    private Task<CliResult> Run(CliHarness cli, params string[] args) =>
        cli.RunAsync([.. args, "-f", Manifest, "--state", State, .. (args[0] is "apply" ? new[] { "--root", Path.Combine(_dir, "root") } : [])]);

    /// <summary>The audit rows of one action, as `keyward audit --json` prints them.</summary>
    private static async Task<System.Text.Json.JsonElement[]> AuditAsync(CliHarness cli, string state, string action)
    {
        var audit = await cli.RunAsync("audit", "--state", state, "--json");
        Assert.True(audit.ExitCode == 0, audit.ToString());
        using var doc = System.Text.Json.JsonDocument.Parse(audit.Out);
        return doc.RootElement.EnumerateArray().Where(e => e.GetProperty("action").GetString() == action).Select(e => e.Clone()).ToArray();
    }

    [Fact]
    public async Task Check_AuditsTheValidationOfAStoredCoderToken_WithServiceCredentialVersionAndOutcome()
    {
        var token = _coder.NewToken(TimeSpan.FromDays(30));
        File.WriteAllText(Path.Combine(_dir, "ctok"), token + "\n");
        File.WriteAllText(Manifest, $$"""
            apiVersion: keyward/v1
            credentials:
              coder-admin-token: { kind: external, provider: coder, owner: platform, purpose: admin API token, source: { file: ctok } }
            services:
              coder: { kind: coder, url: "{{_coder.Url.AbsoluteUri}}", token: coder-admin-token }
            """);
        var cli = new CliHarness();
        var apply = await Run(cli, "apply");
        Assert.True(apply.ExitCode == 0, apply.ToString());
        Assert.Empty(await AuditAsync(cli, State, "service.use"));          // importing asks no service

        var check = await Run(cli, "check", "coder-admin-token");
        Assert.True(check.ExitCode == 0, check.ToString());
        var use = Assert.Single(await AuditAsync(cli, State, "service.use"));
        Assert.Equal("coder-admin-token", use.GetProperty("credential").GetString());
        Assert.Equal(1, use.GetProperty("version").GetInt32());
        Assert.Equal(Engine.EngineOptions.DefaultActor(), use.GetProperty("actor").GetString());
        Assert.Equal("coder: validate (GET /api/v2/users/me) (check) -> Valid", use.GetProperty("detail").GetString());
        Assert.DoesNotContain(token, cli.AllOutput.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Reconcile_AuditsEachCacheReconciledWithTheAdminToken_AndAFailureToo()
    {
        const string admin = "attic-admin-token-value-for-the-contract-server";
        _attic.Tokens[admin] = new Dictionary<string, string[]> { ["main"] = ["r", "cc", "cr"] };
        File.WriteAllText(Path.Combine(_dir, "atok"), admin + "\n");
        File.WriteAllText(Manifest, $$"""
            apiVersion: keyward/v1
            credentials:
              attic-admin: { kind: external, provider: generic, owner: platform, purpose: Attic admin token, source: { file: atok } }
            services:
              attic:
                kind: attic
                url: "{{_attic.Url.AbsoluteUri}}"
                token: attic-admin
                caches:
                  main: { public: false, storeDir: /nix/store, priority: 41, upstreamCacheKeyNames: [] }
                  other: { public: false, storeDir: /nix/store, priority: 41, upstreamCacheKeyNames: [] }
            """);
        var cli = new CliHarness();
        Assert.Equal(0, (await Run(cli, "apply")).ExitCode);

        var reconcile = await Run(cli, "reconcile");                     // main is created; the token grants nothing on other
        Assert.NotEqual(0, reconcile.ExitCode);
        var uses = await AuditAsync(cli, State, "service.use");
        Assert.Equal(2, uses.Length);
        Assert.All(uses, u => Assert.Equal("attic-admin", u.GetProperty("credential").GetString()));
        Assert.All(uses, u => Assert.Equal(1, u.GetProperty("version").GetInt32()));
        Assert.Equal("attic: reconcile cache main -> Created", uses[0].GetProperty("detail").GetString());
        Assert.StartsWith("attic: reconcile cache other -> failed: KW", uses[1].GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.True(_attic.Caches.ContainsKey("main"));
        Assert.DoesNotContain(admin, cli.AllOutput.ToString(), StringComparison.Ordinal);
    }
}
