using Keyward.Services;
using Keyward.Engine;
using Keyward.Engine.Checks;
using Keyward.Services.Http;
using Keyward.Services.Tests.ContractServers;
using Keyward.Core.Store;

namespace Keyward.Server.Tests;

/// <summary>
/// Issue 11: the loop's checks and reconciles use the same stored tokens pass after pass. At a 5-minute interval that was
/// 288 <c>service.use</c> events per token a day; now a routine use is recorded when it first happens, when its version or
/// outcome changes, and otherwise once a day — driven here on the fake clock over many passes. A person's <c>check</c>
/// still records every use.
/// </summary>
public sealed class ServiceUseAuditTests : IAsyncDisposable
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    private readonly GiteaContractServer _gitea = new();
    private readonly AtticContractServer _attic = new();

    public async ValueTask DisposeAsync()
    {
        await _gitea.DisposeAsync();
        await _attic.DisposeAsync();
    }

    /// <summary>The harness's manifest with one more credential (a line under <c>credentials:</c>) and services.</summary>
    private static string With(string credential, string services) =>
        ServerHarness.Manifest.Replace("\nsinks:", "\n  " + credential + "\nsinks:", StringComparison.Ordinal) + "\nservices:\n" + services;

    private string GiteaManifest => With("gitea-token: { kind: external, provider: gitea, owner: ops, purpose: the CI bot's token, source: { file: gitea.token } }",
        $"  gitea: {{ kind: gitea, url: \"{_gitea.Url.AbsoluteUri}\", token: gitea-token }}\n");

    private static async Task<AuditRecord[]> UsesAsync(ServerHarness h, string credential)
    {
        await using var s = await h.OpenAsync();
        return [.. (await s.Store.ReadAuditAsync(null, Ct)).Where(a => a.Event.Action == "service.use" && a.Event.Credential == credential)];
    }

    private static async Task PassesAsync(ServerHarness h, int count, TimeSpan every)
    {
        for (var i = 0; i < count; i++)
        {
            h.Fake!.Advance(every);
            Assert.True(await h.PassAsync(), string.Join("\n", h.Status.Snapshot.Problems));
        }
    }

    [Fact]
    public async Task Passes_record_a_check_use_once_then_daily_and_again_when_its_outcome_or_version_changes()
    {
        var token = _gitea.NewToken("keyward-ci", "read:user");
        await using var h = new ServerHarness(manifest: GiteaManifest);
        File.WriteAllText(Path.Combine(h.Dir, "gitea.token"), token + "\n");
        await h.StartAsync();
        var start = h.Time.GetUtcNow();

        Assert.True(await h.PassAsync(), string.Join("\n", h.Status.Snapshot.Problems));
        var first = Assert.Single(await UsesAsync(h, "gitea-token"));
        Assert.Equal("gitea: validate (GET /api/v1/user) (check) -> Valid", first.Event.Detail);
        Assert.Equal((1, "serve"), (first.Event.Version, first.Event.Actor));

        // Three hours of 5-minute passes: the service is asked every pass, the log gets nothing more.
        var asked = _gitea.Server.Requests.Count(r => r.Path == "/api/v1/user");
        await PassesAsync(h, 36, TimeSpan.FromMinutes(5));
        Assert.Equal(asked + 36, _gitea.Server.Requests.Count(r => r.Path == "/api/v1/user"));
        Assert.Single(await UsesAsync(h, "gitea-token"));

        // A day after it was recorded, the same use is recorded again (a sign of life), once.
        h.Fake!.Advance(start + TimeSpan.FromDays(1) - h.Time.GetUtcNow());
        Assert.True(await h.PassAsync());
        await PassesAsync(h, 3, TimeSpan.FromMinutes(5));
        var uses = await UsesAsync(h, "gitea-token");
        Assert.Equal(2, uses.Length);
        Assert.Equal(start + TimeSpan.FromDays(1), uses[1].Event.At);

        // The service stops accepting the token: recorded at once, once.
        _gitea.Tokens.TryRemove(token, out _);
        await PassesAsync(h, 3, TimeSpan.FromMinutes(5));
        uses = await UsesAsync(h, "gitea-token");
        Assert.Equal(3, uses.Length);
        Assert.Equal("gitea: validate (GET /api/v1/user) (check) -> Invalid", uses[2].Event.Detail);

        // Accepted again: recorded again.
        _gitea.Tokens[token] = ["read:user"];
        await PassesAsync(h, 3, TimeSpan.FromMinutes(5));
        uses = await UsesAsync(h, "gitea-token");
        Assert.Equal(4, uses.Length);
        Assert.EndsWith("-> Valid", uses[3].Event.Detail, StringComparison.Ordinal);

        // A new token in the source: the pass imports version 2, and its first use is recorded.
        File.WriteAllText(Path.Combine(h.Dir, "gitea.token"), _gitea.NewToken("keyward-ci-2", "read:user") + "\n");
        await PassesAsync(h, 3, TimeSpan.FromMinutes(5));
        uses = await UsesAsync(h, "gitea-token");
        Assert.Equal(5, uses.Length);
        Assert.Equal(2, uses[4].Event.Version);
    }

    [Fact]
    public async Task A_persons_check_records_every_use_while_the_loop_records_it_once()
    {
        var token = _gitea.NewToken("keyward-ci", "read:user");
        await using var h = new ServerHarness(manifest: GiteaManifest);
        File.WriteAllText(Path.Combine(h.Dir, "gitea.token"), token + "\n");
        await h.StartAsync();
        Assert.True(await h.PassAsync(), string.Join("\n", h.Status.Snapshot.Problems));
        await PassesAsync(h, 2, TimeSpan.FromMinutes(5));
        Assert.Single(await UsesAsync(h, "gitea-token"));

        // `keyward check` runs the same CheckPass without the loop's filter: each run is audited.
        var loaded = Core.Manifest.ManifestLoader.Load(h.ManifestPath).Manifest!;
        using var http = ServiceHttp.CreateClient();
        for (var i = 0; i < 2; i++)
        {
            await using var state = await h.OpenAsync();
            await CheckPass.RunAsync(state, loaded, new ServiceClients(http, ServiceHttpOptions.Default with { MaxRetries = 0 }, h.Time),
                new CheckOptions { Root = h.Root }, new EngineOptions { Root = h.Root, Time = h.Time, Actor = "alice@laptop" }, Ct);
        }
        var uses = await UsesAsync(h, "gitea-token");
        Assert.Equal(3, uses.Length);
        Assert.Equal(["serve", "alice@laptop", "alice@laptop"], uses.Select(u => u.Event.Actor));
    }

    [Fact]
    public async Task Reconcile_passes_record_every_change_at_the_service_and_an_unchanged_cache_once()
    {
        const string admin = "attic-admin-token-value-for-the-contract-server";
        _attic.Tokens[admin] = new Dictionary<string, string[]> { ["main"] = ["r", "cc", "cr"] };
        var manifest = With("attic-admin: { kind: external, provider: generic, owner: platform, purpose: Attic admin token, source: { file: atok } }", $$"""
              attic:
                kind: attic
                url: "{{_attic.Url.AbsoluteUri}}"
                token: attic-admin
                caches:
                  main: { public: false, storeDir: /nix/store, priority: 41, upstreamCacheKeyNames: [] }

            """);
        await using var h = new ServerHarness(manifest: manifest);
        File.WriteAllText(Path.Combine(h.Dir, "atok"), admin + "\n");
        await h.StartAsync();

        Assert.True(await h.PassAsync(), string.Join("\n", h.Status.Snapshot.Problems));
        await PassesAsync(h, 12, TimeSpan.FromMinutes(5));
        string[] Reconciles(AuditRecord[] uses) => [.. uses.Select(u => u.Event.Detail!).Where(d => d.StartsWith("attic: reconcile", StringComparison.Ordinal))];
        var uses = await UsesAsync(h, "attic-admin");
        Assert.Equal(["attic: reconcile cache main -> Created", "attic: reconcile cache main -> UpToDate"], Reconciles(uses));
        Assert.Single(uses, u => u.Event.Detail!.StartsWith("attic: GET cache-config/main (check) -> ", StringComparison.Ordinal));

        // Someone changes the cache by hand: the next pass patches it back (recorded), then it is up to date again (recorded once).
        _attic.Caches["main"].Priority = 10;
        await PassesAsync(h, 6, TimeSpan.FromMinutes(5));
        Assert.Equal(["attic: reconcile cache main -> Created", "attic: reconcile cache main -> UpToDate",
            "attic: reconcile cache main -> Patched", "attic: reconcile cache main -> UpToDate"], Reconciles(await UsesAsync(h, "attic-admin")));
        Assert.Equal(41, _attic.Caches["main"].Priority);
    }
}
