using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Keyward.Core.Errors;
using Keyward.Core.Secrets;
using Keyward.Services.Http;

namespace Keyward.Services.Attic;

/// <summary><c>retention_period</c>: <c>"Global"</c> or <c>{"Period": seconds}</c> (0 disables time-based GC).</summary>
public readonly record struct AtticRetention(bool IsGlobal, uint Seconds)
{
    public static AtticRetention Global => new(true, 0);
    public static AtticRetention Period(uint seconds) => new(false, seconds);

    public JsonNode ToJson() => IsGlobal ? JsonValue.Create("Global")! : new JsonObject { ["Period"] = Seconds };

    public override string ToString() => IsGlobal ? "Global" : $"Period({Seconds}s)";
}

/// <summary>Attic's <c>CacheConfig</c> as GET returns it (every field optional; <c>keypair</c> is never returned).</summary>
public sealed record AtticCacheConfig(
    string? SubstituterEndpoint,
    string? ApiEndpoint,
    string? PublicKey,
    bool? IsPublic,
    string? StoreDir,
    int? Priority,
    IReadOnlyList<string>? UpstreamCacheKeyNames,
    AtticRetention? RetentionPeriod)
{
    internal static AtticCacheConfig Parse(JsonElement e)
    {
        if (e.ValueKind != JsonValueKind.Object) throw new InvalidOperationException("not an object");
        string? S(string n) => e.TryGetProperty(n, out var v) && v.ValueKind != JsonValueKind.Null ? v.GetString() : null;
        AtticRetention? retention = null;
        if (e.TryGetProperty("retention_period", out var r))
        {
            if (r.ValueKind == JsonValueKind.String && r.GetString() == "Global") retention = AtticRetention.Global;
            else if (r.ValueKind == JsonValueKind.Object && r.TryGetProperty("Period", out var p)) retention = AtticRetention.Period(p.GetUInt32());
            else if (r.ValueKind != JsonValueKind.Null) throw new FormatException("retention_period");
        }
        return new AtticCacheConfig(
            S("substituter_endpoint"), S("api_endpoint"), S("public_key"),
            e.TryGetProperty("is_public", out var pub) && pub.ValueKind != JsonValueKind.Null ? pub.GetBoolean() : null,
            S("store_dir"),
            e.TryGetProperty("priority", out var pr) && pr.ValueKind != JsonValueKind.Null ? pr.GetInt32() : null,
            e.TryGetProperty("upstream_cache_key_names", out var u) && u.ValueKind == JsonValueKind.Array
                ? u.EnumerateArray().Select(x => x.GetString() ?? throw new FormatException("upstream_cache_key_names")).ToArray()
                : null,
            retention);
    }
}

public enum AtticLookupStatus
{
    Found,
    /// <summary>401: the cache does not exist, or it is private and the token grants nothing on its name
    /// (Attic rewrites both to Unauthorized so names cannot be discovered), or the token is bad (Attic then
    /// treats the request as anonymous).</summary>
    NotVisible,
    /// <summary>404 NoSuchCache: the token has some permission on the name and the cache does not exist.</summary>
    NotFound,
    /// <summary>403 AccessError: the token has some permission on the name, but not pull.</summary>
    Forbidden,
}

public sealed record AtticCacheLookup(AtticLookupStatus Status, AtticCacheConfig? Config, ServiceResponse Response);

/// <summary><c>CreateCacheRequest</c>: every field required. <see cref="Keypair"/> null means <c>"Generate"</c>.</summary>
public sealed record AtticCreateCache(Secret? Keypair, bool IsPublic, string StoreDir, int Priority, IReadOnlyList<string> UpstreamCacheKeyNames)
{
    internal string ToJson()
    {
        var o = new JsonObject
        {
            ["keypair"] = Keypair is null ? JsonValue.Create("Generate") : new JsonObject { [nameof(Keypair)] = Keypair.RevealString().Trim() },
            ["is_public"] = IsPublic,
            ["store_dir"] = StoreDir,
            ["priority"] = Priority,
            ["upstream_cache_key_names"] = new JsonArray(UpstreamCacheKeyNames.Select(n => (JsonNode?)JsonValue.Create(n)).ToArray()),
        };
        return o.ToJsonString();
    }
}

/// <summary>The Attic server API (zhaofengli/attic server/src/api): cache-config, nix-cache-info and narinfo.
/// Authentication is <c>Authorization: bearer JWT</c>, as the attic client sends it. Remember that atticd ignores a bad
/// token silently and answers as for an anonymous request.</summary>
public sealed partial class AtticClient(ServiceHttp http)
{
    public ServiceHttp Http { get; } = http;

    private static IReadOnlyList<RequestHeader> Auth(Secret? token) =>
        token is null ? [] : [RequestHeader.Secret("Authorization", "bearer ", token)];

    private static string CachePath(string cache) =>
        Keyward.Core.Attic.CacheName.IsValid(cache) ? cache
        : throw ErrorCodes.ServiceRejected.Exception($"'{cache}' is not a valid Attic cache name");

    public async Task<AtticCacheLookup> GetCacheConfigAsync(string cache, Secret? token, CancellationToken cancellationToken)
    {
        var r = await Http.GetAsync("_api/v1/cache-config/" + CachePath(cache), Auth(token), cancellationToken).ConfigureAwait(false);
        return r.StatusCode switch
        {
            200 => new AtticCacheLookup(AtticLookupStatus.Found, r.ReadJson(AtticCacheConfig.Parse), r),
            401 => new AtticCacheLookup(AtticLookupStatus.NotVisible, null, r),
            403 => new AtticCacheLookup(AtticLookupStatus.Forbidden, null, r),
            404 => new AtticCacheLookup(AtticLookupStatus.NotFound, null, r),
            _ => throw r.ToException($"reading the configuration of cache '{cache}'"),
        };
    }

    /// <summary>POST a full create request. Not retried (POST); 200 with an empty body on success.</summary>
    public async Task CreateCacheAsync(string cache, AtticCreateCache request, Secret token, CancellationToken cancellationToken)
    {
        var r = await Http.SendAsync(HttpMethod.Post, "_api/v1/cache-config/" + CachePath(cache), Auth(token), request.ToJson(), cancellationToken).ConfigureAwait(false);
        r.EnsureSuccess($"creating cache '{cache}'");
    }

    /// <summary>PATCH only the given fields (an empty patch is a 400 at Attic, so callers never send one).</summary>
    public async Task ConfigureCacheAsync(string cache, JsonObject patch, Secret token, CancellationToken cancellationToken)
    {
        if (patch.Count == 0) throw new ArgumentException("empty patch", nameof(patch));
        var r = await Http.SendAsync(HttpMethod.Patch, "_api/v1/cache-config/" + CachePath(cache), Auth(token), patch.ToJsonString(), cancellationToken).ConfigureAwait(false);
        r.EnsureSuccess($"configuring cache '{cache}'");
    }

    public Task<ServiceResponse> GetNixCacheInfoAsync(string cache, Secret? token, CancellationToken cancellationToken) =>
        Http.GetAsync(CachePath(cache) + "/nix-cache-info", Auth(token), cancellationToken);

    public Task<ServiceResponse> GetNarInfoAsync(string cache, string hashPart, Secret? token, CancellationToken cancellationToken) =>
        Http.GetAsync(CachePath(cache) + "/" + hashPart + ".narinfo", Auth(token), cancellationToken);

    /// <summary>Side-effect-free push probe: ask which of zero paths are missing. Needs push on the cache.</summary>
    public Task<ServiceResponse> ProbePushAsync(string cache, Secret token, CancellationToken cancellationToken) =>
        Http.SendAsync(HttpMethod.Post, "_api/v1/get-missing-paths", Auth(token),
            new JsonObject { ["cache"] = CachePath(cache), ["store_path_hashes"] = new JsonArray() }.ToJsonString(), cancellationToken);

    [GeneratedRegex("href=\"([0-9a-df-np-sv-z]{32})\\.narinfo\"")]
    private static partial Regex NarInfoLink();

    /// <summary>Narinfo hashes a directory listing of the cache shows (a file cache behind nginx autoindex).
    /// Attic has no listing: empty then.</summary>
    public async Task<IReadOnlyList<string>> ListNarInfoHashesAsync(string cache, Secret? token, int max, CancellationToken cancellationToken)
    {
        var r = await Http.GetAsync(CachePath(cache) + "/", Auth(token), cancellationToken).ConfigureAwait(false);
        if (r.Status != HttpStatusCode.OK) return [];
        return NarInfoLink().Matches(r.Body).Select(m => m.Groups[1].Value).Distinct(StringComparer.Ordinal).Take(max).ToArray();
    }
}
