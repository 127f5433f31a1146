using System.Collections.Concurrent;
using System.Text;
using System.Text.Json.Nodes;

namespace Keyward.Services.Tests.ContractServers;

/// <summary>Coder's users/tokens API per /work/shared/reference/service-apis.md §1 (coder/coder coderd).</summary>
public sealed class CoderContractServer : IAsyncDisposable
{
    private const string SignedOut = "You are signed out or your session has expired. Please sign in again to continue.";
    public bool HasFirstUser { get; set; }
    public string Email { get; set; } = "admin@example.org";
    public string Password { get; set; } = "correct horse battery staple";
    public long MaxLifetimeNs { get; set; } = 168L * 3600 * 1_000_000_000;
    public ConcurrentDictionary<string, string> ValidTokens { get; } = new(StringComparer.Ordinal);
    public ConcurrentQueue<long> CreatedLifetimes { get; } = new();
    public ContractServer Server { get; }
    public Uri Url => Server.Url;
    private int _n;

    public CoderContractServer() => Server = new ContractServer(Handle);

    private static ContractResponse Msg(int status, string message, string? detail = null) =>
        ContractResponse.Json(status, new JsonObject { ["message"] = message, ["detail"] = detail }.ToJsonString());

    public string NewToken()
    {
        var n = Interlocked.Increment(ref _n);
        var token = $"{n:D10}-{new string('s', 21)}{n % 10}";
        ValidTokens[token] = "admin";
        return token;
    }

    private ContractResponse Handle(RecordedRequest r)
    {
        switch (r.Method, r.Path)
        {
            case ("GET", "/api/v2/users/first"):
                return HasFirstUser ? Msg(200, "The initial user has already been created!") : Msg(404, "The initial user has not been created!");
            case ("POST", "/api/v2/users/login"):
                var login = JsonNode.Parse(r.Body)!;
                return HasFirstUser && (string)login["email"]! == Email && (string)login["password"]! == Password
                    ? ContractResponse.Json(201, new JsonObject { ["session_token"] = NewToken() }.ToJsonString())
                    : Msg(401, "Incorrect email or password.");
        }
        var token = r.Header("Coder-Session-Token");
        if (token is null) return Msg(401, SignedOut, "Cookie \"coder_session_token\" or query parameter must be provided.");
        if (!ValidTokens.ContainsKey(token)) return Msg(401, SignedOut, "API key is invalid.");
        switch (r.Method, r.Path)
        {
            case ("GET", "/api/v2/users/me"):
                return ContractResponse.Json(200, "{\"id\":\"8c0c3f4e-0000-0000-0000-000000000000\",\"username\":\"admin\",\"email\":\"admin@example.org\",\"status\":\"active\",\"roles\":[{\"name\":\"owner\"}],\"login_type\":\"password\"}");
            case ("GET", "/api/v2/users/me/keys/tokens/tokenconfig"):
                return ContractResponse.Json(200, $"{{\"max_token_lifetime\":{MaxLifetimeNs}}}");
            case ("POST", "/api/v2/users/me/keys/tokens"):
                var body = JsonNode.Parse(r.Body)!;
                var lifetime = (long)body["lifetime"]!;
                CreatedLifetimes.Enqueue(lifetime);
                if (lifetime <= 0 || lifetime > MaxLifetimeNs) return Msg(400, $"lifetime must be less than {TimeSpan.FromTicks(MaxLifetimeNs / 100)}");
                return ContractResponse.Json(201, new JsonObject { ["key"] = NewToken() }.ToJsonString());
        }
        return Msg(404, "Route not found.");
    }

    public ValueTask DisposeAsync() => Server.DisposeAsync();
}

/// <summary>Gitea's API per service-apis.md §2: 404 HTML while installing; token endpoints need Basic auth with a
/// password; /user needs read:user (403 otherwise); the new token's secret is in <c>sha1</c>.</summary>
public sealed class GiteaContractServer : IAsyncDisposable
{
    public bool Installed { get; set; } = true;
    public string User { get; set; } = "admin";
    public string Password { get; set; } = "gitea-password";
    public ConcurrentDictionary<string, string[]> Tokens { get; } = new(StringComparer.Ordinal);
    public ConcurrentQueue<string[]> CreatedScopes { get; } = new();
    public ContractServer Server { get; }
    public Uri Url => Server.Url;
    private int _id;

    public GiteaContractServer() => Server = new ContractServer(Handle);

    private static ContractResponse Msg(int status, string message) =>
        ContractResponse.Json(status, new JsonObject { ["message"] = message, ["url"] = "http://gitea/api/swagger" }.ToJsonString());

    private ContractResponse Handle(RecordedRequest r)
    {
        if (!Installed) return new ContractResponse(404, "<html><body>Not Found</body></html>", "text/html", new Dictionary<string, string> { ["Refresh"] = "1; url=/" });
        if (r.Method == "GET" && r.Path == "/api/v1/version") return ContractResponse.Json(200, "{\"version\":\"1.22.3\"}");
        var auth = r.Header("Authorization") ?? "";
        if (r.Path == $"/api/v1/users/{User}/tokens" && r.Method == "POST")
        {
            if (!auth.StartsWith("Basic ", StringComparison.Ordinal)) return Msg(401, "auth required");
            var pair = Encoding.UTF8.GetString(Convert.FromBase64String(auth[6..]));
            if (pair != $"{User}:{Password}") return Msg(401, "user's password is invalid [uid: 1, name: admin]");
            var body = JsonNode.Parse(r.Body)!;
            var scopes = body["scopes"]!.AsArray().Select(s => (string)s!).ToArray();
            CreatedScopes.Enqueue(scopes);
            var sha1 = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(20));
            Tokens[sha1] = scopes;
            var id = Interlocked.Increment(ref _id);
            return ContractResponse.Json(201, new JsonObject { ["id"] = id, ["name"] = (string)body["name"]!, ["sha1"] = sha1, ["token_last_eight"] = sha1[^8..], ["scopes"] = new JsonArray(scopes.Select(s => (JsonNode?)s).ToArray()) }.ToJsonString());
        }
        if (r.Method == "GET" && r.Path == "/api/v1/user")
        {
            if (!auth.StartsWith("token ", StringComparison.Ordinal) || !Tokens.TryGetValue(auth[6..], out var scopes)) return Msg(401, "token is required");
            if (!scopes.Contains("read:user") && !scopes.Contains("write:user") && !scopes.Contains("all"))
                return Msg(403, "token does not have at least one of required scope(s): [read:user]");
            return ContractResponse.Json(200, $"{{\"id\":1,\"login\":\"{User}\",\"is_admin\":true}}");
        }
        return Msg(404, "Not Found");
    }

    public ValueTask DisposeAsync() => Server.DisposeAsync();
}
