using System.Buffers.Text;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Keyward.Core.Errors;

namespace Keyward.Crypto.Oidc;

/// <summary>
/// A CI job's OIDC ID token (a JWS in compact form), parsed but not yet trusted. The exchange checks it step by step —
/// <see cref="CheckAlgorithm"/>, <see cref="VerifySignature"/> with the issuer's key for <see cref="KeyId"/>,
/// <see cref="CheckTimes"/>, <see cref="CheckAudience"/> — and reads claims only after all of them passed.
/// Hand-written over .NET's RSA and ECDsa (docs/design.md says why): only RS256 and ES256, the algorithm pinned by the
/// key's type, never by the token's header alone (RFC 8725 §3.1).
/// </summary>
public sealed class OidcJwt
{
    /// <summary>ID tokens are a few kilobytes; anything much larger is refused before any parsing.</summary>
    public const int MaxLength = 16 * 1024;

    /// <summary>The algorithms an ID token may use; each verifies only with a key of its own type.</summary>
    public static readonly IReadOnlyList<string> Algorithms = ["RS256", "ES256"];

    private readonly byte[] _signingInput;
    private readonly byte[] _signature;
    private readonly Dictionary<string, string> _claims;

    private OidcJwt(string alg, string? kid, byte[] signingInput, byte[] signature, Dictionary<string, string> claims, IReadOnlyList<string> audiences,
        long? exp, long? nbf, long? iat)
    {
        Algorithm = alg;
        KeyId = kid;
        _signingInput = signingInput;
        _signature = signature;
        _claims = claims;
        Audiences = audiences;
        Expires = exp;
        NotBefore = nbf;
        IssuedAt = iat;
    }

    public string Algorithm { get; }
    public string? KeyId { get; }

    /// <summary>The <c>iss</c> claim (used to pick the issuer's keys; trusted only once the signature verified).</summary>
    public string? Issuer => Claim("iss");
    public IReadOnlyList<string> Audiences { get; }
    public long? Expires { get; }
    public long? NotBefore { get; }
    public long? IssuedAt { get; }

    /// <summary>A claim as text: strings as they are, numbers and booleans as their JSON text; null when absent, null, or
    /// an object or array (which no claim matcher compares).</summary>
    public string? Claim(string name) => _claims.GetValueOrDefault(name);

    /// <summary>The signed part of the token (<c>header.payload</c> as sent): what identifies one token. The whole text
    /// does not: an ES256 signature (r, s) has a twin (r, n−s) that verifies as well, so one token has several valid
    /// encodings, and base64url's padding bits give a signature more than one spelling.</summary>
    public ReadOnlySpan<byte> SignedPart => _signingInput;

    /// <summary>The scalar claims (for the audit log; the caller picks which).</summary>
    public IReadOnlyDictionary<string, string> Claims => _claims;

    public static OidcJwt Parse(string jwt)
    {
        ArgumentNullException.ThrowIfNull(jwt);
        if (jwt.Length > MaxLength) throw Malformed($"the token is {jwt.Length} characters; ID tokens are at most {MaxLength}");
        var parts = jwt.Split('.');
        if (parts.Length != 3 || parts.Any(p => p.Length == 0 && p != parts[2]))
            throw Malformed("not a compact JWS (header.payload.signature)");
        try
        {
            var header = Decode(parts[0], "header");
            var payload = Decode(parts[1], "payload");
            var signature = parts[2].Length == 0 ? [] : Decode(parts[2], "signature");
            var (alg, kid) = ReadHeader(header);
            var claims = new Dictionary<string, string>(StringComparer.Ordinal);
            var audiences = new List<string>();
            long? exp = null, nbf = null, iat = null;
            using (var doc = JsonDocument.Parse(payload, new JsonDocumentOptions { MaxDepth = 16 }))
            {
                if (doc.RootElement.ValueKind != JsonValueKind.Object) throw Malformed("the payload is not a JSON object");
                foreach (var p in doc.RootElement.EnumerateObject())
                {
                    switch (p.Name)
                    {
                        case "aud" when p.Value.ValueKind == JsonValueKind.String:
                            audiences.Add(p.Value.GetString()!);
                            break;
                        case "aud" when p.Value.ValueKind == JsonValueKind.Array:
                            foreach (var a in p.Value.EnumerateArray())
                                if (a.ValueKind == JsonValueKind.String) audiences.Add(a.GetString()!);
                                else throw Malformed("aud holds a value that is not a string");
                            break;
                        case "aud":
                            throw Malformed("aud is neither a string nor an array of strings");
                        case "exp": exp = Time(p.Value, "exp"); break;
                        case "nbf": nbf = Time(p.Value, "nbf"); break;
                        case "iat": iat = Time(p.Value, "iat"); break;
                    }
                    var text = p.Value.ValueKind switch
                    {
                        JsonValueKind.String => p.Value.GetString(),
                        JsonValueKind.Number => p.Value.GetRawText(),
                        JsonValueKind.True => "true",
                        JsonValueKind.False => "false",
                        _ => null,
                    };
                    if (text is not null && !claims.TryAdd(p.Name, text)) throw Malformed($"the payload has two '{p.Name}' claims");
                }
            }
            var input = Encoding.ASCII.GetBytes(jwt, 0, parts[0].Length + 1 + parts[1].Length);
            return new OidcJwt(alg, kid, input, signature, claims, audiences, exp, nbf, iat);
        }
        catch (Exception e) when (e is JsonException or FormatException or DecoderFallbackException or InvalidOperationException)
        {
            throw Malformed("the header or payload is not base64url-encoded JSON");
        }
    }

    /// <summary>Refuses every algorithm but RS256 and ES256: <c>none</c>, HS256 (a public key must never become an HMAC
    /// secret), PS*, and anything unknown.</summary>
    public void CheckAlgorithm()
    {
        if (!Algorithms.Contains(Algorithm, StringComparer.Ordinal))
            throw ErrorCodes.OidcAlgorithmRefused.Exception(string.Equals(Algorithm, "none", StringComparison.OrdinalIgnoreCase)
                ? "the token is unsigned (alg none)"
                : $"the token's alg '{Clip(Algorithm)}' is not one of {string.Join(", ", Algorithms)}");
        if (KeyId is null) throw ErrorCodes.OidcKeyUnknown.Exception("the token's header names no key (kid)");
    }

    /// <summary>Verifies the signature with <paramref name="key"/>: the header's algorithm must be the one the key's type
    /// verifies (and the JWK's own alg, when it has one), so an ES256 header never meets an RSA key or the reverse.</summary>
    public void VerifySignature(JsonWebKey key)
    {
        ArgumentNullException.ThrowIfNull(key);
        CheckAlgorithm();
        if (key.VerifiesAlgorithm != Algorithm || (key.Algorithm is not null && key.Algorithm != Algorithm))
            throw ErrorCodes.OidcAlgorithmRefused.Exception($"the token says alg {Algorithm} but key '{Clip(key.KeyId)}' is a {key.VerifiesAlgorithm} key (key confusion refused)");
        if (!key.Verify(_signingInput, _signature))
            throw ErrorCodes.OidcSignatureInvalid.Exception($"the {Algorithm} signature does not verify with key '{Clip(key.KeyId)}'");
    }

    /// <summary><c>exp</c> and <c>iat</c> are required; with <paramref name="skew"/> either way: exp after now, nbf and iat
    /// not after now.</summary>
    public void CheckTimes(DateTimeOffset now, TimeSpan skew)
    {
        if (Expires is not { } exp) throw ErrorCodes.OidcClaimMissing.Exception("the token has no exp");
        if (IssuedAt is not { } iat) throw ErrorCodes.OidcClaimMissing.Exception("the token has no iat");
        var t = now.ToUnixTimeSeconds();
        var s = (long)skew.TotalSeconds;
        if (exp + s <= t) throw ErrorCodes.OidcTokenExpired.Exception($"the token expired at {Format(exp)} (now {Format(t)})");
        if (NotBefore is { } nbf && nbf - s > t) throw ErrorCodes.OidcTokenExpired.Exception($"the token is not valid before {Format(nbf)} (now {Format(t)})");
        if (iat - s > t) throw ErrorCodes.OidcTokenExpired.Exception($"the token was issued in the future ({Format(iat)}, now {Format(t)})");
    }

    /// <summary>Exactly one audience, and it is <paramref name="expected"/> (a token minted for several relying parties,
    /// or for GitHub's default owner URL, is not for Keyward).</summary>
    public void CheckAudience(string expected)
    {
        if (Audiences.Count == 0) throw ErrorCodes.OidcClaimMissing.Exception("the token has no aud");
        if (Audiences.Count != 1) throw ErrorCodes.OidcAudienceMismatch.Exception($"the token has {Audiences.Count} audiences; exactly one is accepted");
        if (!string.Equals(Audiences[0], expected, StringComparison.Ordinal))
            throw ErrorCodes.OidcAudienceMismatch.Exception($"the token is for audience '{Clip(Audiences[0])}', not '{Clip(expected)}'");
    }

    private static (string Alg, string? Kid) ReadHeader(byte[] header)
    {
        using var doc = JsonDocument.Parse(header, new JsonDocumentOptions { MaxDepth = 8 });
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object) throw Malformed("the header is not a JSON object");
        if (!root.TryGetProperty("alg", out var alg) || alg.ValueKind != JsonValueKind.String) throw Malformed("the header has no alg");
        if (root.TryGetProperty("crit", out _)) throw ErrorCodes.OidcAlgorithmRefused.Exception("the header has crit extensions, which Keyward does not implement");
        // jku, x5u and jwk are never followed: keys come from the trusted issuer's jwks_uri only.
        var kid = root.TryGetProperty("kid", out var k) && k.ValueKind == JsonValueKind.String ? k.GetString() : null;
        return (alg.GetString()!, kid);
    }

    private static long Time(JsonElement v, string name)
    {
        if (v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out var l)) return l;
        if (v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out var d) && d is > -1e12 and < 1e12) return (long)Math.Floor(d);
        throw Malformed($"{name} is not a number of seconds");
    }

    private static byte[] Decode(string part, string what)
    {
        var buffer = new byte[Base64Url.GetMaxDecodedLength(part.Length)];
        if (!Base64Url.TryDecodeFromChars(part, buffer, out var n)) throw Malformed($"the {what} is not base64url");
        return buffer[..n];
    }

    private static KeywardException Malformed(string message) => ErrorCodes.OidcTokenMalformed.Exception(message);

    private static string Format(long unix) =>
        unix is > 0 and < 253402300799 ? DateTimeOffset.FromUnixTimeSeconds(unix).ToString("yyyy-MM-dd HH:mm:ss 'UTC'", CultureInfo.InvariantCulture) : unix.ToString(CultureInfo.InvariantCulture);

    private static string Clip(string s) => s.Length > 64 ? s[..64] + "…" : s;
}
