using System.Text;
using System.Text.Json.Nodes;
using Keyward.Core.Secrets;
using Keyward.Services.Http;

namespace Keyward.Services.Gitea;

/// <summary>A freshly created Gitea token: the secret (<c>sha1</c>, shown once) and its public handles.</summary>
public sealed record GiteaCreatedToken(long Id, string Name, Secret Value, string LastEight);

/// <summary>A token as Gitea lists it: id, name, the last eight characters and scopes (never the secret).</summary>
public sealed record GiteaToken(long Id, string Name, string LastEight, IReadOnlyList<string> Scopes);

/// <summary>Gitea/Forgejo REST API v1: install detection, token validation (401 invalid vs 403 missing scope)
/// and token creation, which needs Basic auth with the user's password (a token cannot mint a token).</summary>
public sealed class GiteaClient(ServiceHttp http)
{
    public ServiceHttp Http { get; } = http;

    private static IReadOnlyList<RequestHeader> Auth(Secret token) => [RequestHeader.Secret("Authorization", "token ", token)];

    private static IReadOnlyList<RequestHeader> Basic(string user, Secret password, string? otp)
    {
        var pair = Secret.FromUtf8(user + ":" + password.RevealString());
        var headers = new List<RequestHeader>
        {
            new("Authorization", "Basic " + Convert.ToBase64String(pair.Reveal()), true),
            new("X-Keyward-Scrub", password.RevealString(), true),
        };
        if (otp is not null) headers.Add(new RequestHeader("X-Gitea-OTP", otp, true));
        return headers;
    }

    /// <summary><c>GET /api/v1/version</c>: the version, or null while the installer runs (404 HTML).</summary>
    public async Task<string?> GetVersionAsync(CancellationToken cancellationToken)
    {
        var r = await Http.GetAsync("api/v1/version", [], cancellationToken).ConfigureAwait(false);
        if (r.StatusCode == 404) return null;
        r.EnsureSuccess("reading Gitea's version");
        return r.ReadJson(e => e.GetProperty("version").GetString());
    }

    /// <summary><c>GET /api/v1/user</c>: 200 valid, 403 valid but without <c>read:user</c>, 401 invalid.</summary>
    public async Task<TokenValidation> ValidateAsync(Secret token, CancellationToken cancellationToken)
    {
        var r = await Http.GetAsync("api/v1/user", Auth(token), cancellationToken).ConfigureAwait(false);
        return r.StatusCode switch
        {
            200 => new TokenValidation(TokenStatus.Valid, "Gitea accepted the token", r.ReadJson(e => e.GetProperty("login").GetString())),
            403 => new TokenValidation(TokenStatus.UnderScoped, "Gitea accepted the token but it lacks read:user: " + r.ErrorText),
            401 => new TokenValidation(TokenStatus.Invalid, "Gitea refused the token: " + r.ErrorText),
            _ => throw r.ToException("validating a Gitea token"),
        };
    }

    /// <summary><c>POST /api/v1/users/{user}/tokens</c> with Basic auth → 201 <c>{id,name,sha1,token_last_eight,scopes}</c>.</summary>
    public async Task<GiteaCreatedToken> CreateTokenAsync(string user, Secret password, string name, IReadOnlyList<string> scopes,
        CancellationToken cancellationToken, string? otp = null)
    {
        var body = new JsonObject
        {
            ["name"] = name,
            ["scopes"] = new JsonArray(scopes.Select(s => (JsonNode?)JsonValue.Create(s)).ToArray()),
        }.ToJsonString();
        var r = await Http.SendAsync(HttpMethod.Post, $"api/v1/users/{Uri.EscapeDataString(user)}/tokens", Basic(user, password, otp), body, cancellationToken).ConfigureAwait(false);
        r.EnsureSuccess($"creating Gitea token '{name}' for {user}");
        return r.ReadJson(e => new GiteaCreatedToken(
            e.GetProperty("id").GetInt64(), e.GetProperty("name").GetString() ?? name,
            Secret.FromUtf8(e.GetProperty("sha1").GetString() is { Length: > 0 } s ? s : throw new FormatException("sha1")),
            e.TryGetProperty("token_last_eight", out var l) ? l.GetString() ?? "" : ""));
    }

    /// <summary><c>GET /api/v1/users/{user}/tokens</c> with Basic auth, page by page (50 a page) → every token of the user.</summary>
    public async Task<IReadOnlyList<GiteaToken>> ListTokensAsync(string user, Secret password, CancellationToken cancellationToken)
    {
        const int limit = 50;
        var all = new List<GiteaToken>();
        for (var page = 1; page <= 100; page++)
        {
            var r = await Http.GetAsync($"api/v1/users/{Uri.EscapeDataString(user)}/tokens?page={page}&limit={limit}", Basic(user, password, null), cancellationToken).ConfigureAwait(false);
            r.EnsureSuccess($"listing the Gitea tokens of {user}");
            var batch = r.ReadJson(e => e.EnumerateArray().Select(t => new GiteaToken(
                t.GetProperty("id").GetInt64(),
                t.TryGetProperty("name", out var n) ? n.GetString() ?? "" : "",
                t.TryGetProperty("token_last_eight", out var l) ? l.GetString() ?? "" : "",
                t.TryGetProperty("scopes", out var sc) && sc.ValueKind == System.Text.Json.JsonValueKind.Array
                    ? sc.EnumerateArray().Select(x => x.GetString() ?? "").ToArray() : [])).ToArray());
            all.AddRange(batch);
            if (batch.Length < limit) break;
        }
        return all;
    }

    /// <summary><c>DELETE /api/v1/users/{user}/tokens/{id}</c> → 204.</summary>
    public async Task DeleteTokenAsync(string user, Secret password, long id, CancellationToken cancellationToken)
    {
        var r = await Http.SendAsync(HttpMethod.Delete, $"api/v1/users/{Uri.EscapeDataString(user)}/tokens/{id}", Basic(user, password, null), null, cancellationToken).ConfigureAwait(false);
        r.EnsureSuccess($"deleting Gitea token {id}");
    }

    internal static string BasicValue(string user, string password) => Convert.ToBase64String(Encoding.UTF8.GetBytes(user + ":" + password));
}
