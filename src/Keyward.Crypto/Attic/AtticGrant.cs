using Keyward.Core.Attic;
using Keyward.Core.Secrets;

namespace Keyward.Crypto.Attic;

/// <summary>One entry of a token's <c>caches</c> object: a pattern and the permissions it grants.</summary>
public sealed record AtticGrant(CacheNamePattern Pattern, IReadOnlyList<AtticPermission> Permissions)
{
    public bool Grants(AtticPermission p) => Permissions.Contains(p);

    public override string ToString() => $"{Pattern}: {string.Join(", ", Permissions.Select(p => p.Name()))}";
}

/// <summary>What to mint. <see cref="Grants"/> keep their order: Attic resolves a cache by its exact name, then by
/// the first matching pattern in token order, so order is meaning.</summary>
/// <param name="JwtId">The <c>jti</c> claim: Keyward's ledger id, so two tokens minted in the same second with the same
/// claims are still two different tokens (a rotation always changes the value, and revoking one never revokes the other).</param>
public sealed record AtticTokenRequest(string Subject, DateTimeOffset ExpiresAt, DateTimeOffset NotBefore, IReadOnlyList<AtticGrant> Grants,
    string? Issuer = null, IReadOnlyList<string>? Audiences = null, string? JwtId = null);

/// <summary>A freshly minted JWT and the warnings about its grants (shadowed patterns).</summary>
public sealed record MintedToken(Secret Jwt, IReadOnlyList<string> Warnings);

/// <summary>The decoded JOSE header.</summary>
public sealed record AtticJwtHeader(string Algorithm, string? Type);

/// <summary>What a token allows on one cache, and which entry decided it (null: no entry matched, nothing allowed).</summary>
public sealed record AtticCacheAccess(string CacheName, CacheNamePattern? MatchedBy, bool ExactMatch, IReadOnlyList<AtticPermission> Permissions)
{
    public bool Can(AtticPermission p) => Permissions.Contains(p);

    /// <summary>Attic's <c>can_discover</c>: any of the seven permissions.</summary>
    public bool Any => Permissions.Count > 0;
}
