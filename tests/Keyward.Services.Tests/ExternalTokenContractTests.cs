using Keyward.Core.Manifest;
using Keyward.Core.Secrets;
using Keyward.Engine.Checks;
using Keyward.Services;
using Keyward.Services.GitHub;
using Keyward.Services.Http;
using Keyward.Services.Tests.ContractServers;
using Microsoft.Extensions.Time.Testing;

namespace Keyward.Services.Tests;

public sealed class ExternalTokenContractTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    private static readonly DateTimeOffset Now = new(2026, 11, 23, 12, 0, 0, TimeSpan.Zero);

    private static async Task<(IReadOnlyList<CheckReport> Reports, MemoryStore Store)> Check(KeywardManifest manifest, MemoryStore store, TempDir dir, CheckOptions? options = null)
    {
        var time = new FakeTimeProvider(Now);
        var clients = new ServiceClients(ServiceHttp.CreateClient(), M.FastHttp(), time);
        var runner = new CheckRunner(manifest, new StoreCheckState(store, dir.Path), clients, options ?? new CheckOptions());
        return (await runner.RunAsync(Ct), store);
    }

    private static Condition Cond(IReadOnlyList<CheckReport> reports, string name, string type) =>
        reports.Single(r => r.Kind == SubjectKind.Credential && r.Name == name).Conditions.Single(c => c.Type == type);

    [Fact]
    public async Task Gitea_ValidToken_401And403_AreToldApart()
    {
        await using var gitea = new GiteaContractServer();
        gitea.Tokens["a".PadLeft(40, 'a')] = ["read:user", "write:repository"];
        gitea.Tokens["b".PadLeft(40, 'b')] = ["write:repository"];
        var manifest = M.Manifest(
            [M.External("good", ExternalProvider.Gitea), M.External("scopeless", ExternalProvider.Gitea), M.External("bad", ExternalProvider.Gitea)],
            [M.Service("gitea", ServiceKind.Gitea, gitea.Url)]);
        var store = new MemoryStore();
        await store.PutActive("good", "a".PadLeft(40, 'a'));
        await store.PutActive("scopeless", "b".PadLeft(40, 'b'));
        await store.PutActive("bad", "c".PadLeft(40, 'c'));
        using var dir = new TempDir();
        var (reports, _) = await Check(manifest, store, dir);
        Assert.Equal(("Accepted", ConditionStatus.True), (Cond(reports, "good", "Verified").Reason, Cond(reports, "good", "Verified").Status));
        Assert.Equal("MissingScope", Cond(reports, "scopeless", "Verified").Reason);
        Assert.Equal("Rejected", Cond(reports, "bad", "Verified").Reason);
        Assert.Contains("token is required", Cond(reports, "bad", "Verified").Message, StringComparison.Ordinal);
        Assert.All(gitea.Server.Requests, r => Assert.StartsWith("token ", r.Header("Authorization"), StringComparison.Ordinal));
    }

    [Fact]
    public async Task Coder_InvalidToken_IsRejectedWithCodersDetail()
    {
        await using var coder = new CoderContractServer { HasFirstUser = true };
        var good = coder.NewToken();
        var manifest = M.Manifest([M.External("coder-good", ExternalProvider.Coder), M.External("coder-bad", ExternalProvider.Coder)],
            [M.Service("coder", ServiceKind.Coder, coder.Url)]);
        var store = new MemoryStore();
        await store.PutActive("coder-good", good);
        await store.PutActive("coder-bad", "AAAAAAAAAA-bbbbbbbbbbbbbbbbbbbbbb");
        using var dir = new TempDir();
        var (reports, _) = await Check(manifest, store, dir);
        Assert.Equal(ConditionStatus.True, Cond(reports, "coder-good", "Verified").Status);
        Assert.Contains("user admin", Cond(reports, "coder-good", "Verified").Message, StringComparison.Ordinal);
        var bad = Cond(reports, "coder-bad", "Verified");
        Assert.Equal("Rejected", bad.Reason);
        Assert.Contains("API key is invalid.", bad.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("bbbbbbbbbbbbbbbbbbbbbb", bad.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GitLab_ExpiryIsLearnedAndStored_AndExpiresSoonWarns()
    {
        await using var gitlab = new ContractServer(r => r.Header("PRIVATE-TOKEN") == "glpat-good"
            ? ContractResponse.Json(200, "{\"id\":42,\"name\":\"deploy\",\"revoked\":false,\"created_at\":\"2026-01-01T00:00:00.000Z\",\"scopes\":[\"read_api\",\"read_repository\"],\"user_id\":7,\"last_used_at\":null,\"active\":true,\"expires_at\":\"2026-11-27\"}")
            : ContractResponse.Json(401, "{\"message\":\"401 Unauthorized\"}"));
        var manifest = M.Manifest([M.External("gitlab-token", ExternalProvider.GitLab)], [M.Service("gitlab", ServiceKind.GitLab, gitlab.Url)]);
        var store = new MemoryStore();
        var v = await store.PutActive("gitlab-token", "glpat-good");
        using var dir = new TempDir();
        var (reports, _) = await Check(manifest, store, dir);
        Assert.Equal(new DateTimeOffset(2026, 11, 27, 0, 0, 0, TimeSpan.Zero), (await store.GetActiveAsync("gitlab-token", Ct))!.ExpiresAt);
        Assert.Equal("gitlab", (await store.GetActiveAsync("gitlab-token", Ct))!.Metadata["expires.source"]);
        var soon = Cond(reports, "gitlab-token", "ExpiresSoon");
        Assert.Equal(ConditionStatus.True, soon.Status);
        Assert.Contains("scopes read_api,read_repository", Cond(reports, "gitlab-token", "Verified").Message, StringComparison.Ordinal);
        Assert.Equal("/api/v4/personal_access_tokens/self", gitlab.Requests.First().Path);
        Assert.False(reports.Single().Failed); // expiring soon is a warning, not a failure
    }

    [Fact]
    public async Task GitHub_ScopesAndExpirationHeaders_AreRead()
    {
        await using var github = new ContractServer(r => r.Header("Authorization") == "Bearer ghp_good"
            ? new ContractResponse(200, "{\"login\":\"octocat\"}", Headers: new Dictionary<string, string>
            {
                ["X-OAuth-Scopes"] = "repo, read:org",
                ["GitHub-Authentication-Token-Expiration"] = "2027-01-07 19:07:53 UTC",
            })
            : ContractResponse.Json(401, "{\"message\":\"Bad credentials\",\"documentation_url\":\"https://docs.github.com/rest\"}"));
        var manifest = M.Manifest([M.External("gh", ExternalProvider.GitHub), M.External("gh-bad", ExternalProvider.GitHub)],
            [M.Service("github", ServiceKind.GitHub, github.Url)]);
        var store = new MemoryStore();
        await store.PutActive("gh", "ghp_good");
        await store.PutActive("gh-bad", "ghp_bad");
        using var dir = new TempDir();
        var (reports, _) = await Check(manifest, store, dir);
        Assert.Equal(new DateTimeOffset(2027, 1, 7, 19, 7, 53, TimeSpan.Zero), (await store.GetActiveAsync("gh", Ct))!.ExpiresAt);
        Assert.Contains("scopes repo,read:org", Cond(reports, "gh", "Verified").Message, StringComparison.Ordinal);
        Assert.Equal(ConditionStatus.False, Cond(reports, "gh", "ExpiresSoon").Status);
        Assert.Contains("Bad credentials", Cond(reports, "gh-bad", "Verified").Message, StringComparison.Ordinal);
        Assert.True(reports.Single(r => r.Name == "gh-bad").Failed);
    }

    [Theory]
    [InlineData("2021-10-07 19:07:53 UTC", "2021-10-07T19:07:53+00:00")]
    [InlineData("2021-10-07 19:07:53 +0000", "2021-10-07T19:07:53+00:00")]
    [InlineData("2021-10-07 19:07:53 -07:00", "2021-10-07T19:07:53-07:00")]
    public void GitHub_ExpirationHeader_BothForms(string header, string expected) =>
        Assert.Equal(DateTimeOffset.Parse(expected, System.Globalization.CultureInfo.InvariantCulture), GitHubClient.ParseExpiration(header));

    [Fact]
    public async Task ServiceDown_IsUnknownUnreachable_NotAHang()
    {
        var port = ContractServer.FreePort();
        var manifest = M.Manifest([M.External("gh", ExternalProvider.GitHub)], [M.Service("github", ServiceKind.GitHub, new Uri($"http://127.0.0.1:{port}/"))]);
        var store = new MemoryStore();
        await store.PutActive("gh", "ghp_x");
        using var dir = new TempDir();
        var (reports, _) = await Check(manifest, store, dir);
        var v = Cond(reports, "gh", "Verified");
        Assert.Equal((ConditionStatus.Unknown, "Unreachable"), (v.Status, v.Reason));
        Assert.True(reports.Single().Failed);
    }

    [Fact]
    public async Task HangingService_IsUnknownTimeout_WithinTheCheckTimeout()
    {
        await using var slow = new ContractServer(_ => new ContractResponse(200, "{}", Delay: TimeSpan.FromSeconds(30)));
        var manifest = M.Manifest([M.External("gh", ExternalProvider.GitHub)], [M.Service("github", ServiceKind.GitHub, slow.Url)]);
        var store = new MemoryStore();
        await store.PutActive("gh", "ghp_x");
        using var dir = new TempDir();
        var time = TimeProvider.System;
        var clients = new ServiceClients(ServiceHttp.CreateClient(), M.FastHttp(TimeSpan.FromSeconds(20)), time);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var reports = await new CheckRunner(manifest, new StoreCheckState(store, dir.Path), clients, new CheckOptions { CheckTimeout = TimeSpan.FromMilliseconds(300) }).RunAsync(Ct);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(10));
        var v = Cond(reports, "gh", "Verified");
        Assert.Equal((ConditionStatus.Unknown, "Timeout"), (v.Status, v.Reason));
    }

    [Fact]
    public async Task MalformedJson_IsUnknownMalformedResponse()
    {
        await using var broken = new ContractServer(_ => ContractResponse.Json(200, "<html>login</html>"));
        var manifest = M.Manifest([M.External("c", ExternalProvider.Coder)], [M.Service("coder", ServiceKind.Coder, broken.Url)]);
        var store = new MemoryStore();
        await store.PutActive("c", "AAAAAAAAAA-bbbbbbbbbbbbbbbbbbbbbb");
        using var dir = new TempDir();
        var (reports, _) = await Check(manifest, store, dir);
        Assert.Equal("MalformedResponse", Cond(reports, "c", "Verified").Reason);
    }

    [Fact]
    public async Task History_LastTrueIsKeptWhenATokenGoesBad()
    {
        var valid = true;
        await using var gitea = new ContractServer(_ => valid ? ContractResponse.Json(200, "{\"login\":\"a\"}") : ContractResponse.Json(401, "{\"message\":\"token is required\"}"));
        var manifest = M.Manifest([M.External("g", ExternalProvider.Gitea)], [M.Service("gitea", ServiceKind.Gitea, gitea.Url)]);
        var store = new MemoryStore();
        await store.PutActive("g", "t0ken-value");
        using var dir = new TempDir();
        var time = new FakeTimeProvider(Now);
        var clients = new ServiceClients(ServiceHttp.CreateClient(), M.FastHttp(), time);
        var state = new StoreCheckState(store, dir.Path);
        var first = await new CheckRunner(manifest, state, clients, new CheckOptions()).RunAsync(Ct);
        Assert.Equal(Now, first[0].Conditions.Single(c => c.Type == "Verified").LastTrueTime);
        time.Advance(TimeSpan.FromHours(1));
        var second = await new CheckRunner(manifest, state, clients, new CheckOptions()).RunAsync(Ct);
        Assert.Equal(Now, second[0].Conditions.Single(c => c.Type == "Verified").LastTransitionTime); // still True: no transition
        valid = false;
        time.Advance(TimeSpan.FromHours(1));
        var third = await new CheckRunner(manifest, state, clients, new CheckOptions()).RunAsync(Ct);
        var v = third[0].Conditions.Single(c => c.Type == "Verified");
        Assert.Equal(ConditionStatus.False, v.Status);
        Assert.Equal(Now + TimeSpan.FromHours(2), v.LastTransitionTime);
        Assert.Equal(Now + TimeSpan.FromHours(1), v.LastTrueTime); // when it was last true
        Assert.Equal("False", (await store.GetActiveAsync("g", Ct))!.Metadata["condition.Verified.status"]);
    }

    [Fact]
    public async Task A_condition_that_stays_true_is_written_at_most_once_an_hour_and_last_true_is_kept_to_the_hour()
    {
        var valid = true;
        await using var gitea = new ContractServer(_ => valid ? ContractResponse.Json(200, "{\"login\":\"a\"}") : ContractResponse.Json(401, "{\"message\":\"token is required\"}"));
        var manifest = M.Manifest([M.External("g", ExternalProvider.Gitea)], [M.Service("gitea", ServiceKind.Gitea, gitea.Url)]);
        var store = new MemoryStore();
        await store.PutActive("g", "t0ken-value");
        using var dir = new TempDir();
        var time = new FakeTimeProvider(Now);
        var clients = new ServiceClients(ServiceHttp.CreateClient(), M.FastHttp(), time);
        var state = new StoreCheckState(store, dir.Path);
        async Task<string> StoredLastTrue() => (await store.GetActiveAsync("g", Ct))!.Metadata["condition.Verified.lastTrue"];

        await new CheckRunner(manifest, state, clients, new CheckOptions()).RunAsync(Ct);
        var first = await StoredLastTrue();
        for (var i = 0; i < 6; i++) // a serve loop checking every 5 minutes: nothing changes, nothing is written
        {
            time.Advance(TimeSpan.FromMinutes(5));
            var r = await new CheckRunner(manifest, state, clients, new CheckOptions()).RunAsync(Ct);
            Assert.Equal(time.GetUtcNow(), r[0].Conditions.Single(c => c.Type == "Verified").LastTrueTime); // the report itself is exact
            Assert.Equal(first, await StoredLastTrue());
        }
        time.Advance(TimeSpan.FromMinutes(40)); // 70 minutes on: written again
        await new CheckRunner(manifest, state, clients, new CheckOptions()).RunAsync(Ct);
        Assert.NotEqual(first, await StoredLastTrue());

        valid = false;
        time.Advance(TimeSpan.FromMinutes(10));
        var failed = (await new CheckRunner(manifest, state, clients, new CheckOptions()).RunAsync(Ct))[0].Conditions.Single(c => c.Type == "Verified");
        Assert.Equal(ConditionStatus.False, failed.Status);
        Assert.Equal(Now + TimeSpan.FromMinutes(70), failed.LastTrueTime); // last true, to the hour
    }
}
