using Keyward.Core.Attic;

namespace Keyward.Crypto.Attic;

/// <summary>An Attic JWT's header and claims. Produced by <see cref="AtticTokens.Decode"/> (structure only) or
/// <see cref="AtticTokens.Verify"/> (signature and time claims checked).</summary>
public sealed class DecodedAtticToken
{
    internal DecodedAtticToken(AtticJwtHeader header, AtticClaims claims, bool verified, string? headerJson, string? payloadJson)
    {
        Header = header;
        Subject = claims.Subject;
        ExpiresAtSeconds = claims.Exp;
        NotBeforeSeconds = claims.Nbf;
        IssuedAtSeconds = claims.Iat;
        Issuer = claims.Issuer;
        Audiences = claims.Audiences ?? [];
        JwtId = claims.JwtId;
        Grants = claims.Grants;
        SignatureVerified = verified;
        HeaderJson = headerJson;
        PayloadJson = payloadJson;
    }

    public AtticJwtHeader Header { get; }
    public string? Subject { get; }
    public long? ExpiresAtSeconds { get; }
    public long? NotBeforeSeconds { get; }
    public long? IssuedAtSeconds { get; }
    public DateTimeOffset? ExpiresAt => ToTime(ExpiresAtSeconds);
    public DateTimeOffset? NotBefore => ToTime(NotBeforeSeconds);
    public DateTimeOffset? IssuedAt => ToTime(IssuedAtSeconds);
    public string? Issuer { get; }
    public IReadOnlyList<string> Audiences { get; }
    public string? JwtId { get; }

    /// <summary>The <c>caches</c> entries in token order (the order Attic scans them).</summary>
    public IReadOnlyList<AtticGrant> Grants { get; }

    /// <summary>True only when produced by <see cref="AtticTokens.Verify"/>.</summary>
    public bool SignatureVerified { get; }

    /// <summary>The decoded header and payload JSON (set by <see cref="AtticTokens.Decode"/> for display; the payload
    /// carries no key material, but the token it came from is a bearer secret).</summary>
    public string? HeaderJson { get; }
    public string? PayloadJson { get; }

    /// <summary>Attic's <c>get_permission_for_cache</c>: an entry whose key equals the name exactly wins; otherwise the
    /// first pattern (in token order) that matches; permissions of several patterns are never merged.</summary>
    public AtticCacheAccess PermissionsFor(string cacheName)
    {
        ArgumentNullException.ThrowIfNull(cacheName);
        foreach (var g in Grants)
            if (string.Equals(g.Pattern.Text, cacheName, StringComparison.Ordinal))
                return new(cacheName, g.Pattern, true, g.Permissions);
        foreach (var g in Grants)
            if (g.Pattern.Matches(cacheName))
                return new(cacheName, g.Pattern, false, g.Permissions);
        return new(cacheName, null, false, []);
    }

    /// <summary>Attic's <c>can_discover</c>: the token grants anything at all on this cache.</summary>
    public bool CanDiscover(string cacheName) => PermissionsFor(cacheName).Any;

    private static DateTimeOffset? ToTime(long? s) => s is null ? null : DateTimeOffset.FromUnixTimeSeconds(s.Value);
}

/// <summary>The parsed payload (internal: <see cref="DecodedAtticToken"/> is the public face).</summary>
internal sealed class AtticClaims
{
    public long? Exp;
    public long? Nbf;
    public long? Iat;
    public string? Subject;
    public string? Issuer;
    public List<string>? Audiences;
    public string? JwtId;
    public IReadOnlyList<AtticGrant> Grants = [];
}
