using System.Net;
using Keyward.Core.Errors;
using Keyward.Core.Secrets;
using Keyward.Services.Http;
using Keyward.Services.Tests.ContractServers;

namespace Keyward.Services.Tests;

public sealed class HttpPolicyContractTests
{
    private static ServiceHttp Http(Uri url, ServiceHttpOptions? options = null, ListLoggerFactory? logs = null, ErrorShape shape = ErrorShape.Attic) =>
        new("svc", url, shape, ServiceHttp.CreateClient(), options ?? M.FastHttp(), TimeProvider.System, logs?.CreateLogger("t"));

    [Fact]
    public async Task Get_ServerErrorThenOk_RetriesAndSucceeds()
    {
        var n = 0;
        await using var server = new ContractServer(_ => Interlocked.Increment(ref n) < 3 ? ContractResponse.Json(503, "{}") : ContractResponse.Json(200, "{\"ok\":true}"));
        var r = await Http(server.Url).GetAsync("x", [], TestContext.Current.CancellationToken);
        Assert.Equal(200, r.StatusCode);
        Assert.Equal(3, server.Requests.Count);
    }

    [Theory]
    [InlineData(429)]
    [InlineData(408)]
    [InlineData(500)]
    public async Task Get_TransientStatus_IsRetriedUpToTheLimit(int status)
    {
        await using var server = new ContractServer(_ => ContractResponse.Json(status, "{}"));
        var r = await Http(server.Url).GetAsync("x", [], TestContext.Current.CancellationToken);
        Assert.Equal(status, r.StatusCode);
        Assert.Equal(3, server.Requests.Count); // 1 + MaxRetries(2)
        Assert.Equal(ErrorCodes.ServiceServerError, Assert.Throws<KeywardException>(() => r.EnsureSuccess()).First.Code);
    }

    [Theory]
    [InlineData(400)]
    [InlineData(401)]
    [InlineData(403)]
    [InlineData(404)]
    [InlineData(409)]
    public async Task Get_ClientError_IsNeverRetried(int status)
    {
        await using var server = new ContractServer(_ => ContractResponse.Json(status, "{\"code\":" + status + ",\"error\":\"X\",\"message\":\"m\"}"));
        var r = await Http(server.Url).GetAsync("x", [], TestContext.Current.CancellationToken);
        Assert.Equal(status, r.StatusCode);
        Assert.Single(server.Requests);
    }

    [Fact]
    public async Task Post_ServerError_IsNotRetried()
    {
        await using var server = new ContractServer(_ => ContractResponse.Json(500, "{}"));
        var r = await Http(server.Url).SendAsync(HttpMethod.Post, "x", [], "{}", TestContext.Current.CancellationToken);
        Assert.Equal(500, r.StatusCode);
        Assert.Single(server.Requests);
    }

    [Fact]
    public async Task Get_HangingServer_TimesOutWithKW0902()
    {
        await using var server = new ContractServer(_ => new ContractResponse(200, "{}", Delay: TimeSpan.FromSeconds(30)));
        var options = M.FastHttp(TimeSpan.FromMilliseconds(200)) with { TotalTimeout = TimeSpan.FromSeconds(2) };
        var started = System.Diagnostics.Stopwatch.StartNew();
        var ex = await Assert.ThrowsAsync<KeywardException>(() => Http(server.Url, options).GetAsync("x", [], TestContext.Current.CancellationToken));
        Assert.Equal(ErrorCodes.ServiceTimeout, ex.First.Code);
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(10));
        Assert.Equal(3, server.Requests.Count); // per-attempt timeouts are retried for GET
    }

    [Fact]
    public async Task Get_ConnectionRefused_IsUnreachableKW0901()
    {
        var port = ContractServer.FreePort();
        var ex = await Assert.ThrowsAsync<KeywardException>(() =>
            Http(new Uri($"http://127.0.0.1:{port}/")).GetAsync("x", [], TestContext.Current.CancellationToken));
        Assert.Equal(ErrorCodes.ServiceUnreachable, ex.First.Code);
        Assert.Contains("3 attempt", ex.First.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ReadJson_MalformedBody_IsKW0908()
    {
        await using var server = new ContractServer(_ => ContractResponse.Json(200, "{not json"));
        var r = await Http(server.Url).GetAsync("x", [], TestContext.Current.CancellationToken);
        var ex = Assert.Throws<KeywardException>(() => r.ReadJson(e => e.GetProperty("a").GetString()));
        Assert.Equal(ErrorCodes.ServiceMalformedResponse, ex.First.Code);
    }

    [Theory]
    [InlineData(ErrorShape.Attic, "{\"code\":401,\"error\":\"Unauthorized\",\"message\":\"Unauthorized.\"}", "Unauthorized: Unauthorized.")]
    [InlineData(ErrorShape.Coder, "{\"message\":\"You are signed out or your session has expired.\",\"detail\":\"API key expired at \\\"2026-01-01\\\".\"}", "You are signed out or your session has expired.: API key expired at \"2026-01-01\".")]
    [InlineData(ErrorShape.Gitea, "{\"message\":\"token is required\",\"url\":\"https://x/api/swagger\"}", "token is required")]
    [InlineData(ErrorShape.GitHub, "{\"message\":\"Bad credentials\",\"documentation_url\":\"https://docs.github.com/rest\"}", "Bad credentials")]
    [InlineData(ErrorShape.GitLab, "{\"message\":\"401 Unauthorized\"}", "401 Unauthorized")]
    [InlineData(ErrorShape.GitLab, "{\"error\":\"invalid_token\",\"error_description\":\"Token was revoked.\"}", "invalid_token: Token was revoked.")]
    [InlineData(ErrorShape.Plain, "<html>Bad Gateway</html>\nmore", "<html>Bad Gateway</html>")]
    public async Task ErrorBody_EachServiceShape_IsReadIntoTheMessage(ErrorShape shape, string body, string expected)
    {
        await using var server = new ContractServer(_ => ContractResponse.Json(401, body));
        var r = await Http(server.Url, shape: shape).GetAsync("x", [], TestContext.Current.CancellationToken);
        Assert.Equal(expected, r.ErrorText);
        var ex = r.ToException();
        Assert.Equal(ErrorCodes.ServiceUnauthorized, ex.First.Code);
        Assert.Contains(expected, ex.First.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Logs_AndErrors_NeverContainTheToken()
    {
        const string token = "ghp_SECRETSECRETSECRETSECRET0123456789";
        // A misbehaving server that echoes the token in its error body.
        await using var server = new ContractServer(r => ContractResponse.Json(500, "{\"message\":\"bad token " + token + "\"}"));
        var logs = new ListLoggerFactory();
        var http = Http(server.Url, logs: logs, shape: ErrorShape.GitHub);
        var r = await http.GetAsync("user?access_token=" + token, [RequestHeader.Secret("Authorization", "Bearer ", Secret.FromUtf8(token))], TestContext.Current.CancellationToken);
        var ex = r.ToException("validating");
        Assert.Equal("Bearer " + token, server.Requests.First().Header("Authorization")); // it was sent
        Assert.NotEmpty(logs.Lines);
        Assert.Contains(logs.Lines, l => l.Contains("Authorization: Bearer ***", StringComparison.Ordinal));
        foreach (var line in logs.Lines.Append(ex.Message).Append(ex.First.Message).Append(r.ErrorText))
            Assert.DoesNotContain(token, line, StringComparison.Ordinal);
    }

    [Fact]
    public void TokenMask_Url_HidesUserInfoAndTokenQueries()
    {
        var masked = TokenMask.Url(new Uri("https://user:pa55@host/p?private_token=abc&x=1&token=def"));
        Assert.DoesNotContain("pa55", masked, StringComparison.Ordinal);
        Assert.DoesNotContain("abc", masked, StringComparison.Ordinal);
        Assert.DoesNotContain("def", masked, StringComparison.Ordinal);
        Assert.Contains("x=1", masked, StringComparison.Ordinal);
    }

    [Fact]
    public void Idempotency_OnlySafeMethodsRetry()
    {
        Assert.True(ServiceHttp.IsIdempotent(HttpMethod.Get));
        Assert.True(ServiceHttp.IsIdempotent(HttpMethod.Put));
        Assert.True(ServiceHttp.IsIdempotent(HttpMethod.Delete));
        Assert.False(ServiceHttp.IsIdempotent(HttpMethod.Post));
        Assert.False(ServiceHttp.IsIdempotent(HttpMethod.Patch));
        Assert.True(ServiceHttp.IsTransient(HttpStatusCode.TooManyRequests));
        Assert.False(ServiceHttp.IsTransient(HttpStatusCode.NotFound));
    }
}
