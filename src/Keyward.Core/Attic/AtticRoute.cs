namespace Keyward.Core.Attic;

/// <summary>The cache and permission an atticd request needs, read from its method and path (attic's routes, see
/// docs/gate.md): <c>GET /_api/v1/cache-config/{cache}</c> and <c>/{cache}/…</c> pull; cache-config POST create-cache,
/// PATCH configure-cache, DELETE destroy-cache. Requests whose cache is only in the body (upload-path,
/// get-missing-paths) and unknown paths yield null: atticd decides those on its own.</summary>
public sealed record AtticRoute(string Cache, AtticPermission Permission)
{
    private const string ConfigPrefix = "/_api/v1/cache-config/";

    public static AtticRoute? Classify(string? method, string? uri)
    {
        if (string.IsNullOrEmpty(uri) || uri[0] != '/') return null;
        var path = uri.AsSpan();
        var q = path.IndexOfAny('?', '#');
        if (q >= 0) path = path[..q];
        var m = string.IsNullOrEmpty(method) ? "GET" : method;

        if (path.StartsWith(ConfigPrefix, StringComparison.Ordinal))
        {
            var cache = path[ConfigPrefix.Length..].TrimEnd('/');
            if (!IsCacheName(cache)) return null;
            AtticPermission? p = m switch
            {
                "GET" or "HEAD" => AtticPermission.Pull,
                "POST" => AtticPermission.CreateCache,
                "PATCH" => AtticPermission.ConfigureCache,
                "DELETE" => AtticPermission.DestroyCache,
                _ => null,
            };
            return p is { } perm ? new AtticRoute(cache.ToString(), perm) : null;
        }
        if (path.StartsWith("/_api/", StringComparison.Ordinal)) return null;
        if (m is not ("GET" or "HEAD")) return null;
        var rest = path[1..];
        var slash = rest.IndexOf('/');
        if (slash <= 0) return null;
        var name = rest[..slash];
        return IsCacheName(name) && rest.Length > slash + 1 ? new AtticRoute(name.ToString(), AtticPermission.Pull) : null;
    }

    /// <summary>Attic's cache name rule: <c>^[A-Za-z0-9][A-Za-z0-9_+-]{0,49}$</c>.</summary>
    public static bool IsCacheName(ReadOnlySpan<char> s)
    {
        if (s.Length is 0 or > 50 || !char.IsAsciiLetterOrDigit(s[0])) return false;
        foreach (var c in s)
            if (!char.IsAsciiLetterOrDigit(c) && c is not ('_' or '+' or '-')) return false;
        return true;
    }
}
