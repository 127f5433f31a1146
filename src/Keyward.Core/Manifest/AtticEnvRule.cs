using Keyward.Core.Errors;

namespace Keyward.Core.Manifest;

/// <summary>
/// The runner template rule (seed 001): an env sink that points an Attic client at a cache the manifest declares —
/// literal <c>ATTIC_SERVER</c> and <c>ATTIC_CACHE</c> entries — must also carry <c>ATTIC_PUBLIC_KEY</c>, the public half
/// of that cache's signing key (a <c>public: true</c> entry), so the runner trusts what the cache signs and follows
/// the key's rollovers. Pure: the loader warns with it (KW0231) and <c>keyward check</c> fails the sink with it.
/// </summary>
public static class AtticEnvRule
{
    public const string ServerVariable = "ATTIC_SERVER";
    public const string CacheVariable = "ATTIC_CACHE";
    public const string PublicKeyVariable = "ATTIC_PUBLIC_KEY";

    /// <summary>What the rule says about <paramref name="sink"/>, or null when the sink is not concerned (not env, no
    /// literal ATTIC_SERVER and ATTIC_CACHE, or a cache no Attic service of the manifest declares). When several services
    /// declare a cache of that name, the one whose URL is ATTIC_SERVER is meant.</summary>
    public static AtticEnvFinding? Evaluate(Sink sink, IEnumerable<Service> services)
    {
        ArgumentNullException.ThrowIfNull(sink);
        ArgumentNullException.ThrowIfNull(services);
        if (sink.Format != SinkFormat.Env) return null;
        if (Literal(sink, ServerVariable) is not { } server || Literal(sink, CacheVariable) is not { } cacheName) return null;
        var candidates = services.Where(s => s.Kind == ServiceKind.Attic)
            .SelectMany(s => s.Caches.Where(c => c.Name == cacheName).Select(c => (Service: s, Cache: c))).ToList();
        if (candidates.Count == 0) return null;
        if (candidates.Count > 1 && candidates.Where(c => SameServer(c.Service.Url, server)).ToList() is { Count: > 0 } matching)
            candidates = matching;
        var (service, cache) = candidates[0];

        var what = $"sink '{sink.Name}' points an Attic client at cache '{cache.Name}' of service '{service.Name}' ({ServerVariable}, {CacheVariable})";
        var entryText = cache.SigningKey is { } key
            ? $"{PublicKeyVariable}: {{ credential: {key}, public: true }}"
            : $"{PublicKeyVariable}: {{ credential: <the cache's nix-signing-key>, public: true }} (and declare that key as the cache's signingKey)";
        var publicKey = sink.Entries.FirstOrDefault(e => e.Key == PublicKeyVariable);
        if (publicKey is null)
            return new AtticEnvFinding(sink, service, cache, false, "MissingAtticPublicKey",
                $"{what} but does not carry {PublicKeyVariable}", $"add {entryText} to its entries", sink.Location);
        if (cache.SigningKey is { } signingKey && !(publicKey.Take == EntryValue.PublicKey && publicKey.Credential == signingKey))
        {
            var carried = publicKey.Take switch
            {
                EntryValue.Literal => "a literal value, which goes stale when the key rotates",
                EntryValue.PublicKey => $"the public half of '{publicKey.Credential}'",
                _ when publicKey.Credential == signingKey => $"the private value of '{signingKey}' (the secret key itself, not its public half)",
                _ => $"the value of '{publicKey.Credential}'",
            };
            return new AtticEnvFinding(sink, service, cache, false, "WrongAtticPublicKey",
                $"{what} but its {PublicKeyVariable} is {carried}, not the public half of '{signingKey}', the key the cache signs with",
                $"write it as {entryText}", publicKey.Location);
        }
        return new AtticEnvFinding(sink, service, cache, true, "CarriesCachePublicKey",
            $"{what} and carries its public key ({PublicKeyVariable})", "", publicKey.Location);
    }

    private static string? Literal(Sink sink, string variable) =>
        sink.Entries.FirstOrDefault(e => e.Key == variable && e.IsLiteral)?.Literal;

    private static bool SameServer(Uri declared, string text) =>
        Uri.TryCreate(text.Trim(), UriKind.Absolute, out var url)
        && string.Equals(url.Scheme, declared.Scheme, StringComparison.OrdinalIgnoreCase)
        && string.Equals(url.Host, declared.Host, StringComparison.OrdinalIgnoreCase)
        && url.Port == declared.Port
        && string.Equals(url.AbsolutePath.TrimEnd('/'), declared.AbsolutePath.TrimEnd('/'), StringComparison.Ordinal);
}

/// <summary>The rule's answer for one env sink: whether it holds, a CamelCase reason (check's condition reason), a
/// sentence, the entry to add or fix, and where in the manifest.</summary>
public sealed record AtticEnvFinding(Sink Sink, Service Service, AtticCacheSpec Cache, bool Satisfied, string Reason, string Message, string Hint,
    SourceLocation Location);
