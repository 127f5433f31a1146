using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Keyward.Services.Tests.ContractServers;

/// <summary>
/// atticd's cache-config and binary-cache API as /work/shared/reference/attic.md documents it (zhaofengli/attic
/// server/src/api/v1, server/src/error.rs, server/src/access/http.rs):
/// - a bad/unknown token is silently treated as anonymous;
/// - anonymous gets pull on public caches;
/// - no permission at all on the name → 401 for a missing cache, a private cache and a denied action alike
///   (the discovery rule); some permission → 404 NoSuchCache / 403 AccessError;
/// - POST needs cc (400 CacheAlreadyExists if present, all fields required), PATCH needs cr (+cq for retention_period),
///   an empty PATCH is 400 "No modifiable fields were set."; writes answer 200 with an empty body.
/// Tokens are opaque strings here mapped to {cache: permission keys}; the JWT itself is Crypto's concern.
/// </summary>
public sealed class AtticContractServer : IAsyncDisposable
{
    public sealed class Cache
    {
        public required string PublicKey { get; set; }
        public bool IsPublic { get; set; }
        public string StoreDir { get; set; } = "/nix/store";
        public int Priority { get; set; } = 41;
        public List<string> Upstream { get; set; } = ["cache.nixos.org-1"];
        public uint? RetentionSeconds { get; set; }
    }

    public ConcurrentDictionary<string, Cache> Caches { get; } = new(StringComparer.Ordinal);
    public ConcurrentDictionary<string, Dictionary<string, string[]>> Tokens { get; } = new(StringComparer.Ordinal);
    public ContractServer Server { get; }
    public Uri Url => Server.Url;

    public AtticContractServer() => Server = new ContractServer(Handle);

    private static ContractResponse Error(int status, string error, string message) =>
        ContractResponse.Json(status, new JsonObject { ["code"] = status, ["error"] = error, ["message"] = message }.ToJsonString());

    private static readonly ContractResponse Unauthorized = Error(401, "Unauthorized", "Unauthorized.");
    private static readonly ContractResponse NoSuchCache = Error(404, "NoSuchCache", "The requested cache does not exist.");
    private static readonly ContractResponse AccessError = Error(403, "AccessError", "Access error: User does not have permission to complete this action.");

    private HashSet<string> Permissions(RecordedRequest r, string cache)
    {
        var perms = new HashSet<string>(StringComparer.Ordinal);
        var auth = r.Header("Authorization");
        string? token = null;
        if (auth is not null && auth.StartsWith("bearer ", StringComparison.OrdinalIgnoreCase)) token = auth[7..];
        else if (auth is not null && auth.StartsWith("basic ", StringComparison.OrdinalIgnoreCase))
        {
            var pair = Encoding.UTF8.GetString(Convert.FromBase64String(auth[6..]));
            token = pair[(pair.IndexOf(':', StringComparison.Ordinal) + 1)..];
        }
        // Unknown token: "Ignoring bad JWT token", the request continues as anonymous.
        if (token is not null && Tokens.TryGetValue(token, out var grants) && grants.TryGetValue(cache, out var p)) perms.UnionWith(p);
        if (Caches.TryGetValue(cache, out var c) && c.IsPublic) perms.Add("r");
        return perms;
    }

    private ContractResponse Handle(RecordedRequest r)
    {
        const string api = "/_api/v1/cache-config/";
        if (r.Path.StartsWith(api, StringComparison.Ordinal))
        {
            var name = r.Path[api.Length..];
            var perms = Permissions(r, name);
            var exists = Caches.TryGetValue(name, out var cache);
            switch (r.Method)
            {
                case "GET":
                    if (perms.Count == 0) return Unauthorized;
                    if (!exists) return NoSuchCache;
                    if (!perms.Contains("r")) return AccessError;
                    return ContractResponse.Json(200, Config(name, cache!));
                case "POST":
                    if (!perms.Contains("cc")) return perms.Count == 0 ? Unauthorized : AccessError;
                    if (exists) return Error(400, "CacheAlreadyExists", "The cache already exists.");
                    var create = JsonNode.Parse(r.Body)!.AsObject();
                    foreach (var field in new[] { "keypair", "is_public", "store_dir", "priority", "upstream_cache_key_names" })
                        if (!create.ContainsKey(field)) return new ContractResponse(422, $"Failed to deserialize the JSON body into the target type: missing field `{field}`", "text/plain");
                    var keypair = create["keypair"]!;
                    var pk = keypair.GetValueKind() == JsonValueKind.String ? $"{name}:GENERATED" : PublicOf((string)keypair["Keypair"]!);
                    Caches[name] = new Cache
                    {
                        PublicKey = pk,
                        IsPublic = (bool)create["is_public"]!,
                        StoreDir = (string)create["store_dir"]!,
                        Priority = (int)create["priority"]!,
                        Upstream = create["upstream_cache_key_names"]!.AsArray().Select(n => (string)n!).ToList(),
                    };
                    return new ContractResponse(200, "", "text/plain");
                case "PATCH":
                    if (perms.Count == 0) return Unauthorized;
                    if (!exists) return NoSuchCache;
                    if (!perms.Contains("cr")) return AccessError;
                    var patch = JsonNode.Parse(r.Body)!.AsObject();
                    if (patch.ContainsKey("retention_period") && !perms.Contains("cq")) return AccessError;
                    var known = new[] { "is_public", "store_dir", "priority", "upstream_cache_key_names", "retention_period", "keypair" };
                    if (!patch.Any(p => known.Contains(p.Key))) return Error(400, "RequestError", "General request error: No modifiable fields were set.");
                    if (patch["is_public"] is { } ip) cache!.IsPublic = (bool)ip;
                    if (patch["store_dir"] is { } sd) cache!.StoreDir = (string)sd!;
                    if (patch["priority"] is { } pr) cache!.Priority = (int)pr;
                    if (patch["upstream_cache_key_names"] is { } up) cache!.Upstream = up.AsArray().Select(n => (string)n!).ToList();
                    if (patch["retention_period"] is { } rp) cache!.RetentionSeconds = rp.GetValueKind() == JsonValueKind.String ? null : (uint)rp["Period"]!;
                    return new ContractResponse(200, "", "text/plain");
            }
        }
        if (r.Method == "POST" && r.Path == "/_api/v1/get-missing-paths")
        {
            var cacheName = (string)JsonNode.Parse(r.Body)!["cache"]!;
            var perms = Permissions(r, cacheName);
            if (perms.Count == 0) return Unauthorized;
            if (!Caches.ContainsKey(cacheName)) return NoSuchCache;
            return perms.Contains("w") ? ContractResponse.Json(200, "{\"missing_paths\":[]}") : AccessError;
        }
        var parts = r.Path.Trim('/').Split('/');
        if (r.Method == "GET" && parts.Length == 2 && parts[1] == "nix-cache-info")
        {
            var perms = Permissions(r, parts[0]);
            if (perms.Count == 0) return Unauthorized;
            if (!Caches.TryGetValue(parts[0], out var c)) return NoSuchCache;
            var headers = c.IsPublic ? new Dictionary<string, string> { ["X-Attic-Cache-Visibility"] = "public" } : null;
            return new ContractResponse(200, $"WantMassQuery: 1\nStoreDir: {c.StoreDir}\nPriority: {c.Priority}\n", "text/x-nix-cache-info", headers);
        }
        return Error(404, "NotFound", "The URL you requested was not found.");
    }

    private static string PublicOf(string keypair)
    {
        var colon = keypair.IndexOf(':', StringComparison.Ordinal);
        var bytes = Convert.FromBase64String(keypair[(colon + 1)..]);
        return keypair[..colon] + ":" + Convert.ToBase64String(bytes[32..]);
    }

    private string Config(string name, Cache c)
    {
        var o = new JsonObject
        {
            ["substituter_endpoint"] = new Uri(Url, name).AbsoluteUri,
            ["api_endpoint"] = Url.AbsoluteUri,
            ["public_key"] = c.PublicKey,
            ["is_public"] = c.IsPublic,
            ["store_dir"] = c.StoreDir,
            ["priority"] = c.Priority,
            ["upstream_cache_key_names"] = new JsonArray(c.Upstream.Select(u => (JsonNode?)JsonValue.Create(u)).ToArray()),
            ["retention_period"] = c.RetentionSeconds is { } s ? new JsonObject { ["Period"] = s } : JsonValue.Create("Global"),
        };
        return o.ToJsonString();
    }

    public ValueTask DisposeAsync() => Server.DisposeAsync();
}
