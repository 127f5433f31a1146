using Keyward.Core.Errors;
using Keyward.Core.Manifest;
using Keyward.Core.Secrets;
using Keyward.Services.Gitea;
using Keyward.Services.Http;
using Keyward.Services.Tests.ContractServers;
using Microsoft.Extensions.Time.Testing;

namespace Keyward.Services.Tests;

/// <summary>GiteaClient's token calls against the Gitea contract server, which answers as go-gitea/gitea's
/// routers/api/v1 does: token routes take only Basic auth with the password, the secret is shown once in <c>sha1</c>,
/// the listing has no secret and carries <c>X-Total-Count</c>, deletion is by id.</summary>
public sealed class GiteaTokenApiContractTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static GiteaClient Client(GiteaContractServer gitea) =>
        new ServiceClients(ServiceHttp.CreateClient(), M.FastHttp(), new FakeTimeProvider(DateTimeOffset.UnixEpoch)).Gitea(M.Service("gitea", ServiceKind.Gitea, gitea.Url));

    [Fact]
    public async Task CreateListDelete_WithBasicAuth_FollowsGiteasShapes()
    {
        await using var gitea = new GiteaContractServer();
        var client = Client(gitea);
        using var password = Secret.FromUtf8(gitea.Password);
        var created = await client.CreateTokenAsync("admin", password, "keyward-1", ["write:repository", "read:user"], Ct);
        Assert.Matches("^[0-9a-f]{40}$", created.Value.RevealString());
        Assert.Equal(created.Value.RevealString()[^8..], created.LastEight);
        Assert.Equal(TokenStatus.Valid, (await client.ValidateAsync(created.Value, Ct)).Status);

        var listed = Assert.Single(await client.ListTokensAsync("admin", password, Ct));
        Assert.Equal((created.Id, "keyward-1", created.LastEight), (listed.Id, listed.Name, listed.LastEight));
        Assert.Equal(["write:repository", "read:user"], listed.Scopes);
        var list = gitea.Server.Requests.Single(r => r.Method == "GET" && r.Path == "/api/v1/users/admin/tokens");
        Assert.Equal("?page=1&limit=50", list.Query);

        await client.DeleteTokenAsync("admin", password, created.Id, Ct);
        Assert.Equal([created.Id], gitea.Deleted);
        Assert.Equal(TokenStatus.Invalid, (await client.ValidateAsync(created.Value, Ct)).Status);
        var again = await Assert.ThrowsAsync<KeywardException>(() => client.DeleteTokenAsync("admin", password, created.Id, Ct));
        Assert.Equal(ErrorCodes.ServiceNotFound, again.First.Code);
    }

    [Fact]
    public async Task Create_UsedNameOrUnknownScopeOrWrongPassword_AreRefusedAsGiteaRefusesThem()
    {
        await using var gitea = new GiteaContractServer();
        var client = Client(gitea);
        using var password = Secret.FromUtf8(gitea.Password);
        await client.CreateTokenAsync("admin", password, "same", ["read:user"], Ct);
        var used = await Assert.ThrowsAsync<KeywardException>(() => client.CreateTokenAsync("admin", password, "same", ["read:user"], Ct));
        Assert.Contains("access token name has been used already", used.First.Message, StringComparison.Ordinal);
        var scope = await Assert.ThrowsAsync<KeywardException>(() => client.CreateTokenAsync("admin", password, "other", ["write:everything"], Ct));
        Assert.Contains("invalid access token scope provided", scope.First.Message, StringComparison.Ordinal);
        using var wrong = Secret.FromUtf8("not-the-password");
        var refused = await Assert.ThrowsAsync<KeywardException>(() => client.CreateTokenAsync("admin", wrong, "third", ["read:user"], Ct));
        Assert.Equal(ErrorCodes.ServiceUnauthorized, refused.First.Code);
        Assert.DoesNotContain("not-the-password", refused.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task TokenRoutes_RefuseATokenInsteadOfBasicAuth_AuthRequired()
    {
        // reqBasicOrRevProxyAuth: `Authorization: token …` is not Basic auth, so a token cannot create a token.
        await using var gitea = new GiteaContractServer();
        var token = gitea.NewToken("admin-token", "all");
        var http = Client(gitea).Http;
        var r = await http.SendAsync(HttpMethod.Post, "api/v1/users/admin/tokens", [RequestHeader.Secret("Authorization", "token ", Secret.FromUtf8(token))],
            "{\"name\":\"x\",\"scopes\":[\"read:user\"]}", Ct);
        Assert.Equal(401, r.StatusCode);
        Assert.Contains("auth required", r.Body, StringComparison.Ordinal);
        Assert.Single(gitea.Listed);
    }
}
