using System.Collections.Concurrent;
using System.Text;
using System.Text.Json.Nodes;

namespace Keyward.Services.Tests.ContractServers;

/// <summary>Coder's users/tokens API per /work/shared/reference/service-apis.md §1 (coder/coder coderd), with state kept
/// across requests: the first user, API tokens with ids (the 10-character prefix), names, expiry and login type, token
/// creation (lifetime in nanoseconds, capped by tokenconfig), listing and deletion. Construct it with a reserved port and
/// <see cref="Start"/> later to imitate a deployment that refuses connections for a while, then comes up.</summary>
public sealed class CoderContractServer : IAsyncDisposable
{
    private const string SignedOut = "You are signed out or your session has expired. Please sign in again to continue.";
    public bool HasFirstUser { get; set; }
    public string Email { get; set; } = "admin@example.org";
    public string Password { get; set; } = "correct horse battery staple";
    public long MaxLifetimeNs { get; set; } = 168L * 3600 * 1_000_000_000;
    /// <summary>While set, every request answers 503 (a pod starting behind its service).</summary>
    public bool Unavailable { get; set; }
    /// <summary>The server's clock: token expiry is computed and enforced with it.</summary>
    public TimeProvider Time { get; set; } = TimeProvider.System;
    public ConcurrentDictionary<string, string> ValidTokens { get; } = new(StringComparer.Ordinal);
    /// <summary>API tokens by id: name, expiry, login type ("token" for API tokens, "password" for sessions).</summary>
    public ConcurrentDictionary<string, CoderKey> Keys { get; } = new(StringComparer.Ordinal);
    public ConcurrentQueue<long> CreatedLifetimes { get; } = new();
    public ConcurrentQueue<string> Deleted { get; } = new();
    private ContractServer? _server;
    public ContractServer Server => _server ?? throw new InvalidOperationException("not started");
    public Uri Url { get; }
    private readonly int _port;
    private int _n;

    public CoderContractServer()
    {
        _server = new ContractServer(Handle);
        Url = _server.Url;
    }

    /// <summary>A server that is not listening yet on <paramref name="port"/>: connections are refused until <see cref="Start"/>.</summary>
    public CoderContractServer(int port)
    {
        _port = port;
        Url = new Uri($"http://127.0.0.1:{port}/");
    }

    public void Start() => _server ??= new ContractServer(Handle, _port);

    private static ContractResponse Msg(int status, string message, string? detail = null) =>
        ContractResponse.Json(status, new JsonObject { ["message"] = message, ["detail"] = detail }.ToJsonString());

    /// <summary>A valid API token (as a human would create with `coder tokens create`), by default for the owner's 168h.</summary>
    public string NewToken(TimeSpan? lifetime = null, string loginType = "token", string? name = null)
    {
        var n = Interlocked.Increment(ref _n);
        var id = $"{n:D10}";
        var token = $"{id}-{new string('s', 21)}{n % 10}";
        ValidTokens[token] = "admin";
        Keys[id] = new CoderKey(name ?? $"token-{n}", Time.GetUtcNow(), Time.GetUtcNow() + (lifetime ?? TimeSpan.FromHours(168)), loginType);
        return token;
    }

    private ContractResponse Handle(RecordedRequest r)
    {
        if (Unavailable) return Msg(503, "upstream connect error");
        switch (r.Method, r.Path)
        {
            case ("GET", "/api/v2/buildinfo"):
                return ContractResponse.Json(200, "{\"version\":\"v2.18.0\",\"external_url\":\"https://github.com/coder/coder\"}");
            case ("GET", "/api/v2/users/first"):
                return HasFirstUser ? Msg(200, "The initial user has already been created!") : Msg(404, "The initial user has not been created!");
            case ("POST", "/api/v2/users/login"):
                var login = JsonNode.Parse(r.Body)!;
                return HasFirstUser && (string)login["email"]! == Email && (string)login["password"]! == Password
                    ? ContractResponse.Json(201, new JsonObject { ["session_token"] = NewToken(TimeSpan.FromHours(24), "password") }.ToJsonString())
                    : Msg(401, "Incorrect email or password.");
        }
        var token = r.Header("Coder-Session-Token");
        if (token is null) return Msg(401, SignedOut, "Cookie \"coder_session_token\" or query parameter must be provided.");
        if (!ValidTokens.ContainsKey(token)) return Msg(401, SignedOut, "API key is invalid.");
        var id = token[..10];
        if (Keys.TryGetValue(id, out var key) && key.ExpiresAt <= Time.GetUtcNow())
            return Msg(401, SignedOut, $"API key expired at \"{key.ExpiresAt:O}\".");
        switch (r.Method, r.Path)
        {
            case ("GET", "/api/v2/users/me"):
                return ContractResponse.Json(200, "{\"id\":\"8c0c3f4e-0000-0000-0000-000000000000\",\"username\":\"admin\",\"email\":\"admin@example.org\",\"status\":\"active\",\"roles\":[{\"name\":\"owner\"}],\"login_type\":\"password\"}");
            case ("GET", "/api/v2/users/me/keys/tokens/tokenconfig"):
                return ContractResponse.Json(200, $"{{\"max_token_lifetime\":{MaxLifetimeNs}}}");
            case ("GET", "/api/v2/users/me/keys/tokens"):
                var list = new JsonArray(Keys.Where(k => k.Value.LoginType == "token").OrderBy(k => k.Key, StringComparer.Ordinal).Select(k => (JsonNode?)new JsonObject
                {
                    ["id"] = k.Key, ["user_id"] = "8c0c3f4e-0000-0000-0000-000000000000", ["token_name"] = k.Value.Name,
                    ["created_at"] = k.Value.CreatedAt.ToString("O"), ["expires_at"] = k.Value.ExpiresAt.ToString("O"),
                    ["lifetime_seconds"] = (long)(k.Value.ExpiresAt - k.Value.CreatedAt).TotalSeconds, ["login_type"] = "token", ["scope"] = "all",
                }).ToArray());
                return ContractResponse.Json(200, list.ToJsonString());
            case ("POST", "/api/v2/users/me/keys/tokens"):
                var body = JsonNode.Parse(r.Body)!;
                var lifetime = (long)body["lifetime"]!;
                CreatedLifetimes.Enqueue(lifetime);
                if (lifetime <= 0 || lifetime > MaxLifetimeNs) return Msg(400, $"lifetime must be less than {TimeSpan.FromTicks(MaxLifetimeNs / 100)}");
                var name = (string?)body["token_name"];
                if (name is not null && Keys.Values.Any(k => k.Name == name)) return Msg(409, $"A token with name \"{name}\" already exists.");
                return ContractResponse.Json(201, new JsonObject { ["key"] = NewToken(TimeSpan.FromTicks(lifetime / 100), name: name) }.ToJsonString());
        }
        if (r.Method == "DELETE" && r.Path.StartsWith("/api/v2/users/me/keys/", StringComparison.Ordinal))
        {
            var keyId = r.Path["/api/v2/users/me/keys/".Length..];
            if (!Keys.TryRemove(keyId, out _)) return Msg(404, "Resource not found or you do not have access to this resource");
            foreach (var t in ValidTokens.Keys.Where(t => t.StartsWith(keyId + "-", StringComparison.Ordinal))) ValidTokens.TryRemove(t, out _);
            Deleted.Enqueue(keyId);
            return new ContractResponse(204);
        }
        return Msg(404, "Route not found.");
    }

    public ValueTask DisposeAsync() => _server?.DisposeAsync() ?? ValueTask.CompletedTask;
}

public sealed record CoderKey(string Name, DateTimeOffset CreatedAt, DateTimeOffset ExpiresAt, string LoginType);

/// <summary>Gitea's API per service-apis.md §2 (go-gitea/gitea routers/api/v1/api.go and user/app.go): 404 HTML while
/// installing; the token routes (<c>GET|POST /api/v1/users/{username}/tokens</c>, <c>DELETE …/tokens/{id-or-name}</c>)
/// need Basic auth with the user's password (<c>reqBasicOrRevProxyAuth</c>: anything else is 401 "auth required"), a wrong
/// password is 401; a duplicate name or an unknown scope is 400; the new token's secret is in <c>sha1</c> (shown once,
/// empty in the listing, which carries <c>X-Total-Count</c>); /user needs read:user (403 otherwise); error bodies are
/// <c>{"message","url"}</c> (404 adds <c>"errors":[]</c>). Tokens never expire.</summary>
public sealed class GiteaContractServer : IAsyncDisposable
{
    private static readonly string[] KnownScopes = ["all", "public-only",
        .. new[] { "activitypub", "admin", "misc", "notification", "organization", "package", "issue", "repository", "user" }.SelectMany(c => new[] { "read:" + c, "write:" + c })];

    public bool Installed { get; set; } = true;
    public string User { get; set; } = "admin";
    public string Password { get; set; } = "gitea-password";
    /// <summary>Valid tokens (the secret) and their scopes.</summary>
    public ConcurrentDictionary<string, string[]> Tokens { get; } = new(StringComparer.Ordinal);
    /// <summary>Id and name of the tokens created through the API or <see cref="NewToken"/> (the listable ones).</summary>
    public ConcurrentDictionary<string, (long Id, string Name)> Listed { get; } = new(StringComparer.Ordinal);
    public ConcurrentQueue<string[]> CreatedScopes { get; } = new();
    public ConcurrentQueue<long> Deleted { get; } = new();
    public ContractServer Server { get; }
    public Uri Url => Server.Url;
    private long _id;

    public GiteaContractServer() => Server = new ContractServer(Handle);

    private ContractResponse Msg(int status, string message) =>
        ContractResponse.Json(status, new JsonObject { ["message"] = message, ["url"] = Url.AbsoluteUri + "api/swagger" }.ToJsonString());

    private ContractResponse NotFound() =>
        ContractResponse.Json(404, new JsonObject { ["message"] = "The target couldn't be found.", ["url"] = Url.AbsoluteUri + "api/swagger", ["errors"] = new JsonArray() }.ToJsonString());

    /// <summary>A token as `gitea admin user generate-access-token` would make it (40 lowercase hex), listed under its id.</summary>
    public string NewToken(string name, params string[] scopes)
    {
        var sha1 = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(20));
        Tokens[sha1] = scopes;
        Listed[sha1] = (Interlocked.Increment(ref _id), name);
        return sha1;
    }

    private ContractResponse Handle(RecordedRequest r)
    {
        if (!Installed) return new ContractResponse(404, "<html><body>Not Found</body></html>", "text/html", new Dictionary<string, string> { ["Refresh"] = "1; url=/" });
        if (r.Method == "GET" && r.Path == "/api/v1/version") return ContractResponse.Json(200, "{\"version\":\"1.22.3\"}");
        var auth = r.Header("Authorization") ?? "";
        var tokensPath = $"/api/v1/users/{User}/tokens";
        if (r.Path == tokensPath || r.Path.StartsWith(tokensPath + "/", StringComparison.Ordinal))
        {
            // reqBasicOrRevProxyAuth: a token (Authorization: token …) cannot manage tokens.
            if (!auth.StartsWith("Basic ", StringComparison.Ordinal)) return Msg(401, "auth required");
            var pair = Encoding.UTF8.GetString(Convert.FromBase64String(auth[6..]));
            if (pair != $"{User}:{Password}") return Msg(401, $"user's password is invalid [uid: 1, name: {User}]");
            return (r.Method, r.Path == tokensPath) switch
            {
                ("POST", true) => Create(r),
                ("GET", true) => List(),
                ("DELETE", false) => Delete(r.Path[(tokensPath.Length + 1)..]),
                _ => Msg(405, "Method Not Allowed"),
            };
        }
        if (r.Method == "GET" && r.Path == "/api/v1/user")
        {
            if (!auth.StartsWith("token ", StringComparison.Ordinal) || !Tokens.TryGetValue(auth[6..], out var scopes)) return Msg(401, "token is required");
            if (!scopes.Contains("read:user") && !scopes.Contains("write:user") && !scopes.Contains("all"))
                return Msg(403, "token does not have at least one of required scope(s): [read:user]");
            return ContractResponse.Json(200, $"{{\"id\":1,\"login\":\"{User}\",\"is_admin\":true}}");
        }
        return NotFound();
    }

    private ContractResponse Create(RecordedRequest r)
    {
        var body = JsonNode.Parse(r.Body)!;
        var name = (string?)body["name"];
        if (string.IsNullOrEmpty(name)) return ContractResponse.Json(422, "[{\"fieldNames\":[\"Name\"],\"classification\":\"RequiredError\",\"message\":\"Required\"}]");
        if (Listed.Values.Any(t => t.Name == name)) return Msg(400, "access token name has been used already");
        var scopes = body["scopes"]?.AsArray().Select(s => (string)s!).ToArray() ?? [];
        if (scopes.FirstOrDefault(s => !KnownScopes.Contains(s)) is { } bad)
            return Msg(400, $"invalid access token scope provided: access token scope `{bad}` is not valid");
        CreatedScopes.Enqueue(scopes);
        var sha1 = NewToken(name, scopes);
        var (id, _) = Listed[sha1];
        return ContractResponse.Json(201, new JsonObject
        {
            ["id"] = id, ["name"] = name, ["sha1"] = sha1, ["token_last_eight"] = sha1[^8..],
            ["scopes"] = new JsonArray(scopes.Select(s => (JsonNode?)s).ToArray()),
        }.ToJsonString());
    }

    private ContractResponse List()
    {
        var list = Listed.OrderBy(t => t.Value.Id).Select(t => (JsonNode?)new JsonObject
        {
            ["id"] = t.Value.Id, ["name"] = t.Value.Name, ["sha1"] = "", ["token_last_eight"] = t.Key[^8..],
            ["scopes"] = new JsonArray(Tokens.GetValueOrDefault(t.Key, []).Select(s => (JsonNode?)s).ToArray()),
        }).ToArray();
        return new ContractResponse(200, new JsonArray(list).ToJsonString(), "application/json",
            new Dictionary<string, string> { ["X-Total-Count"] = list.Length.ToString(System.Globalization.CultureInfo.InvariantCulture) });
    }

    /// <summary><c>DELETE …/tokens/{token}</c>: by id when it parses as a number, else by name (422 when the name is ambiguous).</summary>
    private ContractResponse Delete(string idOrName)
    {
        var matches = long.TryParse(idOrName, out var id) && id != 0
            ? Listed.Where(t => t.Value.Id == id).ToArray()
            : Listed.Where(t => t.Value.Name == idOrName).ToArray();
        if (matches.Length > 1) return Msg(422, $"multiple matches for token name '{idOrName}'");
        if (matches.Length == 0) return NotFound();
        Listed.TryRemove(matches[0].Key, out _);
        Tokens.TryRemove(matches[0].Key, out _);
        Deleted.Enqueue(matches[0].Value.Id);
        return new ContractResponse(204);
    }

    public ValueTask DisposeAsync() => Server.DisposeAsync();
}
