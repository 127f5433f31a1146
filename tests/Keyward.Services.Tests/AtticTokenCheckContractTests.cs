using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Keyward.Core.Attic;
using Keyward.Core.Manifest;
using Keyward.Engine.Checks;
using Keyward.Services;
using Keyward.Services.Http;
using Keyward.Services.Tests.ContractServers;
using Microsoft.Extensions.Time.Testing;

namespace Keyward.Services.Tests;

public sealed class AtticTokenCheckContractTests : IDisposable
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    private static readonly DateTimeOffset Now = new(2026, 11, 23, 12, 0, 0, TimeSpan.Zero);
    private static readonly byte[] SigningSecret = RandomNumberGenerator.GetBytes(64);
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>An HS256 Attic JWT (shape per attic.md: exp, nbf, sub, namespace claim with r/w flags as 1).</summary>
    private static string Jwt(byte[] secret, DateTimeOffset exp, params (string Cache, string[] Perms)[] caches)
    {
        static string B64(byte[] b) => Convert.ToBase64String(b).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        var c = new JsonObject();
        foreach (var (cache, perms) in caches)
        {
            var p = new JsonObject();
            foreach (var perm in perms) p[perm] = 1;
            c[cache] = p;
        }
        var payload = new JsonObject { ["exp"] = exp.ToUnixTimeSeconds(), ["nbf"] = 0, ["sub"] = "ci", ["https://jwt.attic.rs/v1"] = new JsonObject { ["caches"] = c } };
        var head = B64("{\"alg\":\"HS256\",\"typ\":\"JWT\"}"u8.ToArray()) + "." + B64(Encoding.UTF8.GetBytes(payload.ToJsonString()));
        return head + "." + B64(HMACSHA256.HashData(secret, Encoding.ASCII.GetBytes(head)));
    }

    private async Task<Condition> Verified(AtticContractServer attic, string token, bool withSigningSecret = true)
    {
        var manifest = M.Manifest(
            [M.Secret("attic-jwt"), M.Token("ci-token", "attic-jwt", ("main", [AtticPermission.Pull, AtticPermission.Push]))],
            [M.Service("attic", ServiceKind.Attic, attic.Url, caches: [M.Cache("main", isPublic: false)])]);
        var store = new MemoryStore();
        if (withSigningSecret)
            await store.PutAsync(new Keyward.Core.Store.NewVersion("attic-jwt", "secret", Keyward.Core.Secrets.Secret.FromBytes(SigningSecret),
                Keyward.Core.Store.VersionState.Active, Now, null, "test", new Dictionary<string, string>()), Ct);
        await store.PutActive("ci-token", token);
        var clients = new ServiceClients(ServiceHttp.CreateClient(), M.FastHttp(), new FakeTimeProvider(Now));
        var reports = await new CheckRunner(manifest, new StoreCheckState(store, _dir.Path), clients, new CheckOptions()).RunAsync(Ct);
        return reports.Single(r => r.Name == "ci-token").Conditions.Single(c => c.Type == ConditionTypes.Verified);
    }

    private static AtticContractServer Server()
    {
        var s = new AtticContractServer();
        s.Caches["main"] = new AtticContractServer.Cache { PublicKey = "main:x", IsPublic = false };
        return s;
    }

    [Fact]
    public async Task ValidToken_PullAndPushProbesAccepted()
    {
        await using var attic = Server();
        var token = Jwt(SigningSecret, Now.AddDays(30), ("main", ["r", "w"]));
        attic.Tokens[token] = new() { ["main"] = ["r", "w"] };
        var v = await Verified(attic, token);
        Assert.Equal((ConditionStatus.True, "Accepted"), (v.Status, v.Reason));
        Assert.Contains("pull and push probes accepted", v.Message, StringComparison.Ordinal);
        Assert.Contains(attic.Server.Requests, r => r.Path == "/_api/v1/get-missing-paths");
        Assert.DoesNotContain(attic.Server.Requests, r => r.Method is "PUT" or "PATCH" or "DELETE"); // no side effects
    }

    [Fact]
    public async Task RevokedAtTheServer_401AsAnonymous_IsRejected()
    {
        await using var attic = Server();
        var token = Jwt(SigningSecret, Now.AddDays(30), ("main", ["r", "w"])); // verifies locally, unknown to the server
        var v = await Verified(attic, token);
        Assert.Equal((ConditionStatus.False, "Rejected"), (v.Status, v.Reason));
        Assert.Contains("treated it as anonymous", v.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SignedWithAnotherSecret_IsSignatureMismatch()
    {
        await using var attic = Server();
        var token = Jwt(RandomNumberGenerator.GetBytes(64), Now.AddDays(30), ("main", ["r"]));
        var v = await Verified(attic, token);
        Assert.Equal((ConditionStatus.False, "SignatureMismatch"), (v.Status, v.Reason));
    }

    [Fact]
    public async Task Tokens_of_one_signer_checked_at_once_share_its_key_and_each_is_judged_alone()
    {
        // One run verifies every token of a signer with one key (one keyed HMAC state per thread): a forged token among
        // valid ones must still fail, an expired one still be Expired, and the valid ones pass, whatever thread took which.
        var names = Enumerable.Range(0, 40).Select(i => $"t{i}").ToArray();
        var manifest = M.Manifest([M.Secret("attic-jwt"), .. names.Select(n => M.Token(n, "attic-jwt", ("main", [AtticPermission.Pull])))], []);
        var store = new MemoryStore();
        await store.PutAsync(new Keyward.Core.Store.NewVersion("attic-jwt", "secret", Keyward.Core.Secrets.Secret.FromBytes(SigningSecret),
            Keyward.Core.Store.VersionState.Active, Now, null, "test", new Dictionary<string, string>()), Ct);
        var forged = new HashSet<string>(["t7", "t23"], StringComparer.Ordinal);
        var expired = new HashSet<string>(["t11"], StringComparer.Ordinal);
        foreach (var n in names)
            await store.PutActive(n, Jwt(forged.Contains(n) ? RandomNumberGenerator.GetBytes(64) : SigningSecret,
                expired.Contains(n) ? Now.AddDays(-1) : Now.AddDays(30), ("main", ["r"])));
        var clients = new ServiceClients(ServiceHttp.CreateClient(), M.FastHttp(), new FakeTimeProvider(Now));
        var reports = await new CheckRunner(manifest, new StoreCheckState(store, _dir.Path), clients, new CheckOptions { MaxConcurrency = 8 }).RunAsync(Ct);
        foreach (var n in names)
        {
            var v = reports.Single(r => r.Name == n).Conditions.Single(c => c.Type == ConditionTypes.Verified);
            var want = forged.Contains(n) ? (ConditionStatus.False, "SignatureMismatch")
                : expired.Contains(n) ? (ConditionStatus.False, "Expired")
                : (ConditionStatus.True, "Accepted");
            Assert.Equal(want, (v.Status, v.Reason));
        }
    }

    [Fact]
    public async Task Expired_IsReportedAsExpired()
    {
        await using var attic = Server();
        var token = Jwt(SigningSecret, Now.AddDays(-1), ("main", ["r"]));
        attic.Tokens[token] = new() { ["main"] = ["r"] };
        var v = await Verified(attic, token);
        Assert.Equal((ConditionStatus.False, "Expired"), (v.Status, v.Reason));
    }
}
