using System.Text.Json.Nodes;
using Keyward.Core.Attic;
using Keyward.Core.Errors;
using Keyward.Core.Manifest;
using Keyward.Core.Secrets;
using Keyward.Crypto.Nix;
using Keyward.Services.Attic;
using Keyward.Services.Http;
using Keyward.Engine.Checks;
using Keyward.Services;
using Keyward.Engine.Reconcile;
using Keyward.Services.Tests.ContractServers;

namespace Keyward.Services.Tests;

public sealed class AtticContractTests
{
    private static readonly Secret Admin = Secret.FromUtf8("admin-token");
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static AtticClient Client(AtticContractServer s) =>
        new(new ServiceHttp("attic", s.Url, ErrorShape.Attic, ServiceHttp.CreateClient(), M.FastHttp()));

    private static AtticContractServer Server()
    {
        var s = new AtticContractServer();
        s.Tokens["admin-token"] = new() { ["main"] = ["r", "cc", "cr"], ["ghost"] = ["r", "cc", "cr"] };
        s.Tokens["push-only"] = new() { ["priv"] = ["w"] };
        return s;
    }

    [Fact]
    public async Task GetCacheConfig_NoPermissionOnTheName_Is401ForMissingAndPrivateAlike()
    {
        await using var s = Server();
        s.Caches["priv"] = new AtticContractServer.Cache { PublicKey = "priv:x", IsPublic = false };
        var client = Client(s);
        Assert.Equal(AtticLookupStatus.NotVisible, (await client.GetCacheConfigAsync("priv", null, Ct)).Status);
        Assert.Equal(AtticLookupStatus.NotVisible, (await client.GetCacheConfigAsync("nothere", null, Ct)).Status);
        // With some permission on the name: 404 for a missing cache, 403 without pull.
        Assert.Equal(AtticLookupStatus.NotFound, (await client.GetCacheConfigAsync("ghost", Admin, Ct)).Status);
        Assert.Equal(AtticLookupStatus.Forbidden, (await client.GetCacheConfigAsync("priv", Secret.FromUtf8("push-only"), Ct)).Status);
    }

    [Fact]
    public async Task GetCacheConfig_BadToken_FallsBackToAnonymousSilently()
    {
        await using var s = Server();
        s.Caches["pub"] = new AtticContractServer.Cache { PublicKey = "pub:x", IsPublic = true };
        var r = await Client(s).GetCacheConfigAsync("pub", Secret.FromUtf8("revoked-or-garbage"), Ct);
        Assert.Equal(AtticLookupStatus.Found, r.Status); // public: the bad token is not noticed
        Assert.Equal("bearer revoked-or-garbage", s.Server.Requests.Single().Header("Authorization"));
        Assert.Equal("pub:x", r.Config!.PublicKey);
        Assert.True(r.Config.IsPublic);
        Assert.Equal(AtticRetention.Global, r.Config.RetentionPeriod);
    }

    [Fact]
    public async Task Configure_EmptyPatchIsRefusedLocally_RetentionNeedsCq()
    {
        await using var s = Server();
        s.Caches["main"] = new AtticContractServer.Cache { PublicKey = "main:x" };
        var client = Client(s);
        await Assert.ThrowsAsync<ArgumentException>(() => client.ConfigureCacheAsync("main", [], Admin, Ct));
        var ex = await Assert.ThrowsAsync<KeywardException>(() =>
            client.ConfigureCacheAsync("main", new JsonObject { ["retention_period"] = new JsonObject { ["Period"] = 60 } }, Admin, Ct));
        Assert.Equal(ErrorCodes.ServiceForbidden, ex.First.Code);
        Assert.Contains("AccessError", ex.First.Message, StringComparison.Ordinal);
    }

    private static (Service Service, AtticCacheSpec Spec) Declared(Uri url, string? retention = null)
    {
        var spec = M.Cache("main", isPublic: true, signingKey: "cache-key", priority: 41, upstream: [], retention: retention);
        return (M.Service("attic", ServiceKind.Attic, url, "attic-admin", [spec]), spec);
    }

    [Fact]
    public async Task Reconcile_Absent_CreatesWithTheDeclaredKeypair_ThenSecondRunSendsNoWrite()
    {
        await using var s = Server();
        var (service, spec) = Declared(s.Url);
        using var key = NixSecretKey.Generate("main-1");
        var reconciler = new AtticReconciler(Client(s));

        var first = await reconciler.ReconcileAsync(service, spec, Admin, key.ToSecret(), key.PublicKey.ToString(), dryRun: false, Ct);
        Assert.Equal(ReconcileAction.Created, first.Action);
        var post = Assert.Single(s.Server.Writes);
        Assert.Equal("POST", post.Method);
        var body = JsonNode.Parse(post.Body)!;
        Assert.Equal(key.ToSecret().RevealString().Trim(), (string)body["keypair"]!["Keypair"]!);
        Assert.True((bool)body["is_public"]!);
        Assert.Equal("/nix/store", (string)body["store_dir"]!);
        Assert.Equal(41, (int)body["priority"]!);
        Assert.Empty(body["upstream_cache_key_names"]!.AsArray());
        Assert.Equal(key.PublicKey.ToString(), s.Caches["main"].PublicKey);
        Assert.DoesNotContain(first.DiffLines(), l => l.Contains(key.ToSecret().RevealString().Trim(), StringComparison.Ordinal));

        var writes = s.Server.Writes.Count;
        var second = await reconciler.ReconcileAsync(service, spec, Admin, key.ToSecret(), key.PublicKey.ToString(), dryRun: false, Ct);
        Assert.Equal(ReconcileAction.UpToDate, second.Action);
        Assert.Empty(second.Drift);
        Assert.Equal(writes, s.Server.Writes.Count);
    }

    [Fact]
    public async Task Reconcile_Drifted_PatchesOnlyTheDriftedFields_NeverRetentionUnlessDeclared()
    {
        await using var s = Server();
        s.Caches["main"] = new AtticContractServer.Cache { PublicKey = "main:x", IsPublic = false, Priority = 40, Upstream = ["cache.nixos.org-1"] };
        var (service, spec) = Declared(s.Url);
        var reconciler = new AtticReconciler(Client(s));

        var first = await reconciler.ReconcileAsync(service, spec, Admin, null, null, dryRun: false, Ct);
        Assert.Equal(ReconcileAction.Patched, first.Action);
        Assert.Equal(["is_public", "priority", "upstream_cache_key_names"], first.Drift.Select(d => d.Field));
        Assert.Contains("-   priority: 40", first.DiffLines());
        Assert.Contains("+   priority: 41", first.DiffLines());
        var patch = JsonNode.Parse(Assert.Single(s.Server.Writes).Body)!.AsObject();
        Assert.Equal(["is_public", "priority", "upstream_cache_key_names"], patch.Select(p => p.Key).Order());
        Assert.False(patch.ContainsKey("retention_period"));
        Assert.False(patch.ContainsKey("store_dir"));

        var second = await reconciler.ReconcileAsync(service, spec, Admin, null, null, dryRun: false, Ct);
        Assert.Equal(ReconcileAction.UpToDate, second.Action);
        Assert.Single(s.Server.Writes);
    }

    [Fact]
    public async Task Reconcile_DryRun_ReportsDriftAndSendsNothing()
    {
        await using var s = Server();
        s.Caches["main"] = new AtticContractServer.Cache { PublicKey = "main:x", IsPublic = false, Upstream = [] };
        var (service, spec) = Declared(s.Url);
        var result = await new AtticReconciler(Client(s)).ReconcileAsync(service, spec, Admin, null, null, dryRun: true, Ct);
        Assert.Equal(ReconcileAction.WouldPatch, result.Action);
        Assert.Equal("is_public", Assert.Single(result.Drift).Field);
        Assert.Empty(s.Server.Writes);
    }

    [Fact]
    public async Task Reconcile_DeclaredRetention_NeedsCqAndIsSentOnlyWhenDifferent()
    {
        await using var s = Server();
        s.Tokens["admin-token"]["main"] = ["r", "cc", "cr", "cq"];
        s.Caches["main"] = new AtticContractServer.Cache { PublicKey = "main:x", IsPublic = true, Upstream = [] };
        var (service, spec) = Declared(s.Url, retention: "30d");
        var reconciler = new AtticReconciler(Client(s));
        var first = await reconciler.ReconcileAsync(service, spec, Admin, null, null, false, Ct);
        Assert.Equal("retention_period", Assert.Single(first.Drift).Field);
        Assert.Equal(30u * 86400, s.Caches["main"].RetentionSeconds);
        Assert.Equal(ReconcileAction.UpToDate, (await reconciler.ReconcileAsync(service, spec, Admin, null, null, false, Ct)).Action);
        Assert.Single(s.Server.Writes);
    }

    [Fact]
    public async Task Reconcile_TokenWithoutAnyPermission_ExplainsThe401Ambiguity()
    {
        await using var s = Server();
        var (service, spec) = Declared(s.Url);
        var ex = await Assert.ThrowsAsync<KeywardException>(() =>
            new AtticReconciler(Client(s)).ReconcileAsync(service, spec, Secret.FromUtf8("expired-token"), null, null, false, Ct));
        Assert.Equal(ErrorCodes.ReconcileFailed, ex.First.Code);
        Assert.Contains("treats the request as anonymous", ex.First.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("expired-token", ex.First.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Reconcile_Generate_WhenNoSigningKeyDeclared()
    {
        await using var s = Server();
        var spec = M.Cache("main", isPublic: false, upstream: ["cache.nixos.org-1"]);
        var service = M.Service("attic", ServiceKind.Attic, s.Url, "attic-admin", [spec]);
        var r = await new AtticReconciler(Client(s)).ReconcileAsync(service, spec, Admin, null, null, false, Ct);
        Assert.Equal(ReconcileAction.Created, r.Action);
        Assert.Equal("Generate", (string)JsonNode.Parse(s.Server.Writes.Single().Body)!["keypair"]!);
    }
}
