using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Keyward.Store;

namespace Keyward.Server.Tests.Ci;

/// <summary>The CI exchange end to end: a real issuer (tests/fixtures/oidc-issuer.py; PyJWT signs the ID tokens),
/// a started <c>keyward serve</c>, and PyJWT again verifying the Attic token that comes back.</summary>
[Trait("Category", "Interop")]
public sealed class CiTokenExchangeTests : IAsyncLifetime
{
    private const string Audience = "https://keyward.test";
    private PythonIssuer _issuer = null!;
    private PythonIssuer _stalled = null!;
    private ServedState _served = null!;
    private HttpClient _http = null!;

    public async ValueTask InitializeAsync()
    {
        _issuer = await PythonIssuer.StartAsync();
        _stalled = await PythonIssuer.StartAsync();
        await _stalled.AskAsync(new JsonObject { ["cmd"] = "stall", ["on"] = true });
        _served = await ServedState.StartAsync($$"""
            apiVersion: keyward/v1
            credentials:
              attic-jwt-secret: { kind: secret, bytes: 64, owner: o, purpose: signs Attic tokens }
            trustedPublishers:
              gh-main:
                issuer: {{_issuer.Issuer}}
                audience: {{Audience}}
                signedBy: attic-jwt-secret
                claims: { repository: example-org/infra, ref: refs/heads/main, workflow: [build, release] }
                caches: { main: [pull, push], "ci-*": [pull] }
                validity: 15m
              stalled:
                issuer: {{_stalled.Issuer}}
                audience: {{Audience}}
                signedBy: attic-jwt-secret
                claims: { repository: example-org/infra }
                caches: { main: [pull] }
            """);
        _http = new HttpClient { BaseAddress = _served.Url, Timeout = TimeSpan.FromSeconds(60) };
    }

    public async ValueTask DisposeAsync()
    {
        _http.Dispose();
        await _served.DisposeAsync();
        await _issuer.DisposeAsync();
        await _stalled.DisposeAsync();
    }

    private static long Now => TimeProvider.System.GetUtcNow().ToUnixTimeSeconds();

    /// <summary>Claims shaped like GitHub Actions' (github/docs oidc reference): nbf = iat - 600, exp = iat + 300.</summary>
    private JsonObject GitHubClaims(string? iss = null, string aud = Audience, string repository = "example-org/infra", long? iat = null, long? nbf = null, long? exp = null)
    {
        var t = iat ?? Now;
        return new JsonObject
        {
            ["jti"] = Guid.NewGuid().ToString(),
            ["sub"] = $"repo:{repository}:ref:refs/heads/main",
            ["aud"] = aud,
            ["ref"] = "refs/heads/main",
            ["sha"] = "d2f5c9e0b1a4e6f7c8d9e0f1a2b3c4d5e6f7a8b9",
            ["repository"] = repository,
            ["repository_owner"] = "example-org",
            ["repository_owner_id"] = "1234567",
            ["run_id"] = "9876543210",
            ["run_number"] = "42",
            ["run_attempt"] = "1",
            ["actor"] = "octocat",
            ["workflow"] = "build",
            ["event_name"] = "push",
            ["ref_type"] = "branch",
            ["job_workflow_ref"] = $"{repository}/.github/workflows/build.yml@refs/heads/main",
            ["runner_environment"] = "github-hosted",
            ["iss"] = iss ?? _issuer.Issuer,
            ["nbf"] = nbf ?? t - 600,
            ["exp"] = exp ?? t + 300,
            ["iat"] = t,
        };
    }

    private async Task<(HttpStatusCode Status, JsonNode Body)> ExchangeAsync(string idToken, bool asBody = false)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/ci/attic-token");
        if (asBody) request.Content = new StringContent(new JsonObject { ["token"] = idToken }.ToJsonString(), Encoding.UTF8, "application/json");
        else request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", idToken);
        using var response = await _http.SendAsync(request, TestContext.Current.CancellationToken);
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        return (response.StatusCode, JsonNode.Parse(text)!);
    }

    private async Task AssertRefusedAsync(string idToken, HttpStatusCode status, string category)
    {
        var (s, body) = await ExchangeAsync(idToken);
        Assert.Equal(status, s);
        Assert.Equal(category, (string?)body["error"]);
        Assert.Null(body["token"]);
    }

    [Fact]
    public async Task A_GitHub_shaped_RS256_token_matching_a_rule_gets_an_Attic_token_PyJWT_verifies_with_exactly_the_rules_grants()
    {
        var (status, body) = await ExchangeAsync(await _issuer.MintAsync("rsa-1", GitHubClaims()));
        Assert.Equal(HttpStatusCode.OK, status);
        var attic = (string)body["token"]!;
        Assert.Equal("gh-main", (string?)body["publisher"]);

        var verified = await _issuer.AskAsync(new JsonObject { ["cmd"] = "hs256", ["secret_b64"] = Convert.ToBase64String(_served.JwtSecret), ["token"] = attic });
        var claims = verified["claims"]!;
        Assert.Equal("repo:example-org/infra:ref:refs/heads/main", (string?)claims["sub"]);
        Assert.Equal("""{"caches":{"main":{"r":1,"w":1},"ci-*":{"r":1}}}""", claims["https://jwt.attic.rs/v1"]!.ToJsonString());
        var lifetime = (long)claims["exp"]! - (long)claims["nbf"]!;
        Assert.Equal(15 * 60, lifetime);

        // Ledgered under the publisher, audited with the job's claims and never the token.
        await using var state = await StateDirectory.OpenAsync(_served.StateDir, TimeProvider.System, TestContext.Current.CancellationToken);
        var entry = Assert.Single(await state.Store.ListLedgerAsync(TestContext.Current.CancellationToken));
        Assert.Equal((string?)body["tokenId"], entry.TokenId);
        Assert.Equal("ci/gh-main", entry.Credential);
        Assert.Equal(state.Store.Fingerprint(Encoding.ASCII.GetBytes(attic)), entry.Fingerprint);
        var audit = (await state.Store.ReadAuditAsync(null, TestContext.Current.CancellationToken)).Single(a => a.Event.Action == "ci-token").Event;
        Assert.Contains("repository=example-org/infra", audit.Detail, StringComparison.Ordinal);
        Assert.Contains("ref=refs/heads/main", audit.Detail, StringComparison.Ordinal);
        Assert.Contains("workflow=build", audit.Detail, StringComparison.Ordinal);
        Assert.Contains("run_id=9876543210", audit.Detail, StringComparison.Ordinal);
        Assert.DoesNotContain(attic, audit.Detail, StringComparison.Ordinal);
        Assert.DoesNotContain(attic.Split('.')[2], audit.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_ES256_token_in_the_JSON_body_is_accepted_too()
    {
        var (status, body) = await ExchangeAsync(await _issuer.MintAsync("ec-1", GitHubClaims()), asBody: true);
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.NotNull((string?)body["token"]);
    }

    [Fact]
    public async Task A_token_for_another_audience_is_refused() =>
        await AssertRefusedAsync(await _issuer.MintAsync("rsa-1", GitHubClaims(aud: "https://github.com/example-org")), HttpStatusCode.Unauthorized, "audience");

    [Fact]
    public async Task A_job_of_another_repository_is_refused_without_the_rules_in_the_answer()
    {
        var (status, body) = await ExchangeAsync(await _issuer.MintAsync("rsa-1", GitHubClaims(repository: "mallory/infra")));
        Assert.Equal(HttpStatusCode.Forbidden, status);
        Assert.Equal("claims", (string?)body["error"]);
        Assert.Equal("KW1416", (string?)body["code"]);
        var text = body.ToJsonString();
        Assert.DoesNotContain("example-org", text, StringComparison.Ordinal);
        Assert.DoesNotContain("gh-main", text, StringComparison.Ordinal);

        await using var state = await StateDirectory.OpenAsync(_served.StateDir, TimeProvider.System, TestContext.Current.CancellationToken);
        var refused = (await state.Store.ReadAuditAsync(null, TestContext.Current.CancellationToken)).Single(a => a.Event.Action == "ci-token-refused").Event;
        Assert.Contains("claim 'repository' is 'mallory/infra'", refused.Detail, StringComparison.Ordinal);
        Assert.Empty(await state.Store.ListLedgerAsync(TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task An_expired_token_is_refused() =>
        await AssertRefusedAsync(await _issuer.MintAsync("rsa-1", GitHubClaims(iat: Now - 900, exp: Now - 300)), HttpStatusCode.Unauthorized, "expired");

    [Fact]
    public async Task A_token_whose_nbf_is_in_the_future_is_refused() =>
        await AssertRefusedAsync(await _issuer.MintAsync("rsa-1", GitHubClaims(nbf: Now + 600)), HttpStatusCode.Unauthorized, "expired");

    [Fact]
    public async Task A_token_issued_in_the_future_is_refused_even_when_nbf_and_exp_would_admit_it() =>
        await AssertRefusedAsync(await _issuer.MintAsync("rsa-1", GitHubClaims(iat: Now + 3600, nbf: Now - 60, exp: Now + 3900)), HttpStatusCode.Unauthorized, "expired");

    [Fact]
    public async Task An_unsigned_alg_none_token_is_refused() =>
        await AssertRefusedAsync(await _issuer.MintAsync("rsa-1", GitHubClaims(), "none"), HttpStatusCode.Unauthorized, "algorithm");

    [Fact]
    public async Task An_HS256_token_keyed_with_the_issuers_public_key_is_refused() =>
        await AssertRefusedAsync(await _issuer.MintAsync("rsa-1", GitHubClaims(), "hs256-with-public-key"), HttpStatusCode.Unauthorized, "algorithm");

    [Fact]
    public async Task A_token_from_an_issuer_no_publisher_trusts_is_refused() =>
        await AssertRefusedAsync(await _issuer.MintAsync("rsa-1", GitHubClaims(iss: "https://token.actions.githubusercontent.com")), HttpStatusCode.Unauthorized, "issuer");

    [Fact]
    public async Task A_tampered_token_fails_its_signature()
    {
        var token = await _issuer.MintAsync("rsa-1", GitHubClaims());
        var parts = token.Split('.');
        var forged = GitHubClaims(repository: "example-org/infra");
        forged["workflow"] = "release";
        parts[1] = Convert.ToBase64String(Encoding.UTF8.GetBytes(forged.ToJsonString())).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        await AssertRefusedAsync(string.Join('.', parts), HttpStatusCode.Unauthorized, "signature");
    }

    [Fact]
    public async Task Key_rotation_mid_test_refetches_once_and_an_unknown_kid_is_then_refused_without_another_fetch()
    {
        Assert.Equal(HttpStatusCode.OK, (await ExchangeAsync(await _issuer.MintAsync("rsa-1", GitHubClaims()))).Status);
        var before = (long)(await _issuer.AskAsync(new JsonObject { ["cmd"] = "stats" }))["jwks"]!;

        var kid = (string)(await _issuer.AskAsync(new JsonObject { ["cmd"] = "rotate" }))["kid"]!;
        Assert.Equal(HttpStatusCode.OK, (await ExchangeAsync(await _issuer.MintAsync(kid, GitHubClaims()))).Status);
        var afterRotation = (long)(await _issuer.AskAsync(new JsonObject { ["cmd"] = "stats" }))["jwks"]!;
        Assert.Equal(before + 1, afterRotation);

        // rsa-1 is withdrawn: its kid is now unknown; the refetch it would need is within the rate limit, so no fetch.
        await AssertRefusedAsync(await _issuer.MintAsync("rsa-1", GitHubClaims()), HttpStatusCode.Unauthorized, "unknown-key");
        Assert.Equal(afterRotation, (long)(await _issuer.AskAsync(new JsonObject { ["cmd"] = "stats" }))["jwks"]!);
    }

    [Fact]
    public async Task The_same_ID_token_exchanged_twice_is_refused_the_second_time_and_audited_as_a_replay()
    {
        var idToken = await _issuer.MintAsync("rsa-1", GitHubClaims());
        var (first, issued) = await ExchangeAsync(idToken);
        Assert.Equal(HttpStatusCode.OK, first);
        var firstId = (string)issued["tokenId"]!;

        // Again, in the other form: one ID token buys one Attic token.
        var (second, refusal) = await ExchangeAsync(idToken, asBody: true);
        Assert.Equal(HttpStatusCode.Unauthorized, second);
        Assert.Equal("replayed", (string?)refusal["error"]);
        Assert.Equal("KW1420", (string?)refusal["code"]);
        Assert.Null(refusal["token"]);
        Assert.DoesNotContain(firstId, refusal.ToJsonString(), StringComparison.Ordinal);

        // The same job's next ID token is welcome.
        Assert.Equal(HttpStatusCode.OK, (await ExchangeAsync(await _issuer.MintAsync("rsa-1", GitHubClaims()))).Status);

        await using var state = await _served.OpenAsync();
        var ledger = await state.Store.ListLedgerAsync(TestContext.Current.CancellationToken);
        Assert.Equal(2, ledger.Count);
        Assert.Contains(ledger, e => e.TokenId == firstId);
        var audit = await state.Store.ReadAuditAsync(null, TestContext.Current.CancellationToken);
        Assert.Equal(2, audit.Count(a => a.Event.Action == "ci-token"));
        var replay = Assert.Single(audit, a => a.Event.Action == "ci-token-replayed").Event;
        Assert.Contains($"already exchanged for token {firstId}", replay.Detail, StringComparison.Ordinal);
        Assert.Contains("run_id=9876543210", replay.Detail, StringComparison.Ordinal);
        Assert.DoesNotContain(idToken.Split('.')[2], replay.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_replay_is_refused_after_a_restart_too()
    {
        var idToken = await _issuer.MintAsync("ec-1", GitHubClaims());
        Assert.Equal(HttpStatusCode.OK, (await ExchangeAsync(idToken)).Status);
        await _served.RestartAsync();
        _http.Dispose();
        _http = new HttpClient { BaseAddress = _served.Url, Timeout = TimeSpan.FromSeconds(60) };
        await AssertRefusedAsync(idToken, HttpStatusCode.Unauthorized, "replayed");
    }

    [Fact]
    public async Task An_ES256_token_without_jti_is_one_token_whichever_of_its_two_valid_signatures_it_carries()
    {
        var claims = GitHubClaims();
        claims.Remove("jti");
        var idToken = await _issuer.MintAsync("ec-1", claims);
        Assert.Equal(HttpStatusCode.OK, (await ExchangeAsync(idToken)).Status);

        // ECDSA: (r, s) verifies, and so does (r, n - s). A replay check on the token's text would let this through.
        var twin = TwinSignature(idToken);
        Assert.NotEqual(idToken, twin);
        await AssertRefusedAsync(twin, HttpStatusCode.Unauthorized, "replayed");
    }

    /// <summary>The same ES256 token with the other valid signature (r, n − s), n the order of P-256.</summary>
    private static string TwinSignature(string jwt)
    {
        var parts = jwt.Split('.');
        var signature = System.Buffers.Text.Base64Url.DecodeFromChars(parts[2]);
        Assert.Equal(64, signature.Length);
        var n = new System.Numerics.BigInteger(Convert.FromHexString("FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551"), isUnsigned: true, isBigEndian: true);
        var s = new System.Numerics.BigInteger(signature.AsSpan(32), isUnsigned: true, isBigEndian: true);
        var twin = (n - s).ToByteArray(isUnsigned: true, isBigEndian: true);
        var encoded = new byte[64];
        signature.AsSpan(0, 32).CopyTo(encoded);
        twin.CopyTo(encoded.AsSpan(64 - twin.Length));
        parts[2] = System.Buffers.Text.Base64Url.EncodeToString(encoded);
        return string.Join('.', parts);
    }

    [Fact]
    public async Task An_issuer_whose_JWKS_does_not_answer_is_refused_503_within_the_fetch_timeout()
    {
        var claims = GitHubClaims(iss: _stalled.Issuer);
        await AssertRefusedAsync(await _stalled.MintAsync("rsa-1", claims), HttpStatusCode.ServiceUnavailable, "issuer-unreachable");
    }
}
