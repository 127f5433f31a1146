using System.Text.Json;
using System.Text.Json.Nodes;
using Keyward.Core.Errors;
using Keyward.Core.Secrets;
using Keyward.Services.Http;

namespace Keyward.Services.Coder;

/// <summary>An API token as Coder lists it (the 10-character id prefix is not secret).</summary>
public sealed record CoderToken(string Id, string Name, DateTimeOffset? ExpiresAt, DateTimeOffset? CreatedAt);

/// <summary>Coder's REST API (coder/coder coderd): first-user detection, login, token creation and validation.
/// Authentication is always the <c>Coder-Session-Token</c> header (older servers know no Bearer fallback).</summary>
public sealed class CoderClient(ServiceHttp http)
{
    public ServiceHttp Http { get; } = http;

    private static IReadOnlyList<RequestHeader> Auth(Secret token) => [RequestHeader.Secret("Coder-Session-Token", "", token)];

    private static string User(string user) => Uri.EscapeDataString(user);

    /// <summary><c>GET /api/v2/buildinfo</c> (no auth): the version once Coder answers. 5xx and transport failures throw
    /// (KW0907, KW0901, KW0902): the deployment is not ready yet.</summary>
    public async Task<string?> GetBuildInfoAsync(CancellationToken cancellationToken)
    {
        var r = await Http.GetAsync("api/v2/buildinfo", [], cancellationToken).ConfigureAwait(false);
        r.EnsureSuccess("asking Coder whether it is ready");
        return r.ReadJson(e => e.TryGetProperty("version", out var v) ? v.GetString() : null);
    }

    /// <summary><c>GET /api/v2/users/first</c> (no auth): 404 = no user yet, 200 = the first user exists.</summary>
    public async Task<bool> FirstUserExistsAsync(CancellationToken cancellationToken)
    {
        var r = await Http.GetAsync("api/v2/users/first", [], cancellationToken).ConfigureAwait(false);
        return r.StatusCode switch
        {
            200 => true,
            404 => false,
            _ => throw r.ToException("checking whether Coder's first user exists"),
        };
    }

    /// <summary><c>POST /api/v2/users/login</c> → 201 <c>{"session_token"}</c>.</summary>
    public async Task<Secret> LoginAsync(string email, Secret password, CancellationToken cancellationToken)
    {
        var body = new JsonObject { ["email"] = email, ["password"] = password.RevealString() }.ToJsonString();
        var r = await Http.SendAsync(HttpMethod.Post, "api/v2/users/login", [new RequestHeader("X-Keyward-Scrub", password.RevealString(), true)], body, cancellationToken).ConfigureAwait(false);
        r.EnsureSuccess($"logging in to Coder as {email}");
        return r.ReadJson(e => Secret.FromUtf8(e.GetProperty("session_token").GetString() ?? throw new FormatException("session_token")));
    }

    /// <summary><c>GET /api/v2/users/me</c>: 200 valid (with the username), 401 invalid or expired. For a valid API token
    /// the expiry is learnt from <c>GET /api/v2/users/me/keys/tokens</c> (the entry whose id is the token's 10-character
    /// prefix); a session token (not listed) or a failed listing leaves it unknown.</summary>
    public async Task<TokenValidation> ValidateAsync(Secret token, CancellationToken cancellationToken)
    {
        var r = await Http.GetAsync("api/v2/users/me", Auth(token), cancellationToken).ConfigureAwait(false);
        return r.StatusCode switch
        {
            200 => new TokenValidation(TokenStatus.Valid, "Coder accepted the token", r.ReadJson(e => e.GetProperty("username").GetString()),
                await ExpiryAsync(token, cancellationToken).ConfigureAwait(false)),
            401 => new TokenValidation(TokenStatus.Invalid, "Coder refused the token: " + r.ErrorText),
            403 => new TokenValidation(TokenStatus.UnderScoped, "Coder accepted the token but denied users/me: " + r.ErrorText),
            _ => throw r.ToException("validating a Coder token"),
        };
    }

    /// <summary>The 10-character id of a Coder API token (<c>ID-SECRET</c>); not secret: it names the key in the API.</summary>
    public static string? KeyId(Secret token)
    {
        var text = token.RevealString();
        var dash = text.IndexOf('-', StringComparison.Ordinal);
        return dash == 10 ? text[..dash] : null;
    }

    private async Task<DateTimeOffset?> ExpiryAsync(Secret token, CancellationToken cancellationToken)
    {
        if (KeyId(token) is not { } id) return null;
        var r = await Http.GetAsync("api/v2/users/me/keys/tokens", Auth(token), cancellationToken).ConfigureAwait(false);
        if (!r.IsSuccess) return null;
        return r.ReadJson(e => e.ValueKind == JsonValueKind.Array
            ? e.EnumerateArray().Where(t => t.TryGetProperty("id", out var i) && i.GetString() == id).Select(t => Date(t, "expires_at")).FirstOrDefault()
            : null);
    }

    /// <summary><c>GET /api/v2/users/{user}/keys/tokens/tokenconfig</c> → <c>max_token_lifetime</c> in nanoseconds.</summary>
    public async Task<TimeSpan> GetMaxTokenLifetimeAsync(string user, Secret token, CancellationToken cancellationToken)
    {
        var r = await Http.GetAsync($"api/v2/users/{User(user)}/keys/tokens/tokenconfig", Auth(token), cancellationToken).ConfigureAwait(false);
        r.EnsureSuccess("reading Coder's token configuration");
        return r.ReadJson(e => FromNanoseconds(e.GetProperty("max_token_lifetime").GetInt64()));
    }

    public static long ToNanoseconds(TimeSpan t) => checked(t.Ticks * 100);

    public static TimeSpan FromNanoseconds(long ns) => TimeSpan.FromTicks(ns / 100);

    /// <summary><c>POST /api/v2/users/{user}/keys/tokens</c> with <c>lifetime</c> in nanoseconds → 201 <c>{"key"}</c>.</summary>
    public async Task<Secret> CreateTokenAsync(string user, string tokenName, TimeSpan lifetime, Secret token, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(lifetime, TimeSpan.Zero);
        var body = new JsonObject { ["token_name"] = tokenName, ["lifetime"] = ToNanoseconds(lifetime) }.ToJsonString();
        var r = await Http.SendAsync(HttpMethod.Post, $"api/v2/users/{User(user)}/keys/tokens", Auth(token), body, cancellationToken).ConfigureAwait(false);
        r.EnsureSuccess($"creating Coder token '{tokenName}' for {user}");
        return r.ReadJson(e => Secret.FromUtf8(e.GetProperty("key").GetString() ?? throw new FormatException("key")));
    }

    /// <summary><c>GET /api/v2/users/{user}/keys/tokens</c>.</summary>
    public async Task<IReadOnlyList<CoderToken>> ListTokensAsync(string user, Secret token, CancellationToken cancellationToken)
    {
        var r = await Http.GetAsync($"api/v2/users/{User(user)}/keys/tokens", Auth(token), cancellationToken).ConfigureAwait(false);
        r.EnsureSuccess("listing Coder tokens");
        return r.ReadJson(e => e.EnumerateArray().Select(t => new CoderToken(
            t.GetProperty("id").GetString()!, t.GetProperty("token_name").GetString() ?? "",
            Date(t, "expires_at"), Date(t, "created_at"))).ToArray());
    }

    /// <summary><c>DELETE /api/v2/users/{user}/keys/{keyid}</c> → 204.</summary>
    public async Task DeleteTokenAsync(string user, string keyId, Secret token, CancellationToken cancellationToken)
    {
        var r = await Http.SendAsync(HttpMethod.Delete, $"api/v2/users/{User(user)}/keys/{Uri.EscapeDataString(keyId)}", Auth(token), null, cancellationToken).ConfigureAwait(false);
        r.EnsureSuccess($"deleting Coder token {keyId}");
    }

    private static DateTimeOffset? Date(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetDateTimeOffset() : null;
}
