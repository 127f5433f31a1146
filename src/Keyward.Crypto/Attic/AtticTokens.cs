using System.Buffers;
using System.Buffers.Text;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Keyward.Core.Attic;
using Keyward.Core.Errors;
using Keyward.Core.Secrets;

namespace Keyward.Crypto.Attic;

/// <summary>
/// Mints, decodes and verifies Attic JWTs exactly as atticd (zhaofengli/attic <c>token/src/lib.rs</c> with
/// jwt-simple 0.11) produces and accepts them. See docs/tokens.md for every rule and its source.
/// </summary>
public static partial class AtticTokens
{
    /// <summary>The custom claim that makes a JWT an Attic token.</summary>
    public const string ClaimNamespace = "https://jwt.attic.rs/v1";

    /// <summary>jwt-simple's limit on the base64 header.</summary>
    public const int MaxHeaderLength = 8192;

    private static readonly SearchValues<char> Base64UrlChars =
        SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_");

    private static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private static readonly byte[] NamespaceUtf8 = Encoding.UTF8.GetBytes(ClaimNamespace);

    private static readonly AtticJwtHeader Hs256Header = new("HS256", "JWT");
    private static readonly AtticJwtHeader Rs256Header = new("RS256", "JWT");
    private static readonly string Hs256HeaderB64 = Base64Url.EncodeToString("{\"alg\":\"HS256\",\"typ\":\"JWT\"}"u8);
    private static readonly string Rs256HeaderB64 = Base64Url.EncodeToString("{\"alg\":\"RS256\",\"typ\":\"JWT\"}"u8);

    // ---------------------------------------------------------------- minting

    /// <summary>Mints a token: header <c>{"alg":…,"typ":"JWT"}</c>, payload <c>exp, nbf, [iss], sub, [aud], namespace</c>
    /// in atticadm's order, integer 1 flags (false omitted), no <c>iat</c>, base64url without padding. Grants keep their
    /// order (repeated patterns merge into the first entry, as atticadm does); shadowing produces warnings.</summary>
    public static MintedToken Mint(AtticTokenRequest request, AtticSigningKey key)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(key);
        if (!key.CanSign) throw ErrorCodes.AtticSigningKeyPublicOnly.Exception("cannot mint a token with an RS256 public key");
        if (string.IsNullOrEmpty(request.Subject)) throw ErrorCodes.AtticTokenRequestInvalid.Exception("the token subject (--sub) is empty");
        var exp = request.ExpiresAt.ToUnixTimeSeconds();
        var nbf = request.NotBefore.ToUnixTimeSeconds();
        if (exp <= nbf) throw ErrorCodes.AtticTokenRequestInvalid.Exception("the token would expire before it becomes valid (validity must be positive)");
        var grants = MergeGrants(request.Grants);
        var warnings = CheckGrantOrder(grants);

        var payload = new ArrayBufferWriter<byte>(256);
        using (var w = new Utf8JsonWriter(payload, WriterOptions))
        {
            w.WriteStartObject();
            w.WriteNumber("exp"u8, exp);
            w.WriteNumber("nbf"u8, nbf);
            if (request.Issuer is not null) w.WriteString("iss"u8, request.Issuer);
            w.WriteString("sub"u8, request.Subject);
            if (request.Audiences is { Count: > 0 } aud)
            {
                w.WriteStartArray("aud"u8);
                foreach (var a in aud.Distinct(StringComparer.Ordinal)) w.WriteStringValue(a);
                w.WriteEndArray();
            }
            // jwt-simple's order puts jti after aud; atticd reads it as an optional standard claim.
            if (request.JwtId is not null) w.WriteString("jti"u8, request.JwtId);
            w.WriteStartObject(NamespaceUtf8);
            w.WriteStartObject("caches"u8);
            foreach (var g in grants)
            {
                w.WriteStartObject(g.Pattern.Text);
                foreach (var p in AtticPermissions.All) // struct order of CachePermission: r, w, d, cc, cr, cq, cd
                    if (g.Permissions.Contains(p)) w.WriteNumber(p.JwtKey(), 1);
                w.WriteEndObject();
            }
            w.WriteEndObject();
            w.WriteEndObject();
            w.WriteEndObject();
        }

        var header = key.Algorithm == "HS256" ? """{"alg":"HS256","typ":"JWT"}"""u8 : """{"alg":"RS256","typ":"JWT"}"""u8;
        var headerLen = Base64Url.GetEncodedLength(header.Length);
        var payloadLen = Base64Url.GetEncodedLength(payload.WrittenCount);
        var sigLen = key.SignatureLength;
        var total = headerLen + 1 + payloadLen + 1 + Base64Url.GetEncodedLength(sigLen);
        var jwt = new byte[total];
        Base64Url.EncodeToUtf8(header, jwt.AsSpan(0, headerLen));
        jwt[headerLen] = (byte)'.';
        Base64Url.EncodeToUtf8(payload.WrittenSpan, jwt.AsSpan(headerLen + 1, payloadLen));
        var signingInputLen = headerLen + 1 + payloadLen;
        jwt[signingInputLen] = (byte)'.';
        Span<byte> sig = stackalloc byte[sigLen];
        key.Sign(jwt.AsSpan(0, signingInputLen), sig);
        Base64Url.EncodeToUtf8(sig, jwt.AsSpan(signingInputLen + 1));
        return new MintedToken(Secret.Adopt(jwt), warnings.Select(e => e.Message).ToArray());
    }

    /// <summary>Merges repeated patterns into their first entry (atticadm's <c>get_or_insert_permission_mut</c>).</summary>
    internal static List<AtticGrant> MergeGrants(IReadOnlyList<AtticGrant> grants)
    {
        var merged = new List<AtticGrant>(grants.Count);
        foreach (var g in grants)
        {
            var i = merged.FindIndex(m => m.Pattern.Text == g.Pattern.Text);
            if (i < 0) merged.Add(g with { Permissions = AtticPermissions.All.Where(g.Permissions.Contains).ToArray() });
            else merged[i] = merged[i] with { Permissions = AtticPermissions.All.Where(p => merged[i].Permissions.Contains(p) || g.Permissions.Contains(p)).ToArray() };
        }
        return merged;
    }

    /// <summary>
    /// Warnings for grant lists whose order changes their meaning under Attic's rules (exact name first, else first
    /// matching pattern, never merged): a wildcard listed before a pattern it covers makes the later one dead; a
    /// wildcard listed before an exact name it matches does not give that cache its permissions too.
    /// </summary>
    public static IReadOnlyList<KeywardError> CheckGrantOrder(IReadOnlyList<AtticGrant> grants)
    {
        ArgumentNullException.ThrowIfNull(grants);
        var list = MergeGrants(grants);
        var warnings = new List<KeywardError>();
        for (var j = 0; j < list.Count; j++)
        {
            var later = list[j];
            for (var i = 0; i < j; i++)
            {
                var earlier = list[i];
                if (!earlier.Pattern.HasWildcard || !earlier.Pattern.Shadows(later.Pattern)) continue;
                if (later.Pattern.HasWildcard)
                {
                    warnings.Add(ErrorCodes.AtticGrantShadowed.With(
                        $"pattern '{later.Pattern}' ({Names(later.Permissions)}) never applies: the earlier '{earlier.Pattern}' ({Names(earlier.Permissions)}) matches every cache it matches, and Attic uses the first match",
                        $"list '{later.Pattern}' before '{earlier.Pattern}'"));
                }
                else
                {
                    var missing = earlier.Permissions.Where(p => !later.Permissions.Contains(p)).ToArray();
                    if (missing.Length > 0)
                        warnings.Add(ErrorCodes.AtticGrantShadowed.With(
                            $"cache '{later.Pattern}' is named exactly, so Attic gives it only {Names(later.Permissions)} and not the {Names(missing)} of the earlier '{earlier.Pattern}' (permissions are never merged)",
                            $"add {Names(missing)} to '{later.Pattern}' if it should have them"));
                }
                break;
            }
        }
        return warnings;
    }

    private static string Names(IEnumerable<AtticPermission> ps)
    {
        var s = string.Join(", ", ps.Select(p => p.Name()));
        return s.Length == 0 ? "no permissions" : s;
    }

    // ---------------------------------------------------------------- decoding and verification

    /// <summary>Decodes the structure (header, claims, grants) without checking the signature or time claims.
    /// Throws KW06xx for anything atticd would fail to deserialize.</summary>
    public static DecodedAtticToken Decode(string jwt)
    {
        try
        {
            return DecodeCore(jwt);
        }
        catch (Exception e) when (e is FormatException or InvalidOperationException or DecoderFallbackException)
        {
            throw Undecodable();
        }
    }

    // .NET's base64url decoder throws on some malformed input instead of returning false, and the JSON reader throws
    // InvalidOperationException on invalid UTF-8 in a string: both are bad input, not bugs.
    private static KeywardException Undecodable() =>
        ErrorCodes.AtticTokenMalformed.Exception("the JWT is not base64url-encoded UTF-8 JSON");

    private static DecodedAtticToken DecodeCore(string jwt)
    {
        ArgumentNullException.ThrowIfNull(jwt);
        var parts = Split(jwt.AsSpan().Trim());
        var header = DecodeHeader(parts.Header, keepJson: true, out var headerJson);
        var claims = DecodePayload(parts.Payload, keepJson: true, out var payloadJson);
        return new DecodedAtticToken(header, claims, false, headerJson, payloadJson);
    }

    /// <summary>Verifies as atticd does: the header's <c>alg</c> must be the key's (<c>none</c> and HS256↔RS256 are refused),
    /// <c>typ</c> if present is <c>JWT</c> or ends in <c>+JWT</c>, the signature verifies, then with zero clock skew
    /// <c>iat</c> ≤ now, <c>exp</c> ≥ now, <c>nbf</c> ≤ now, and the bound issuer and audiences match.</summary>
    public static DecodedAtticToken Verify(string jwt, AtticSigningKey key, TimeProvider time, string? boundIssuer = null, IReadOnlyList<string>? boundAudiences = null)
    {
        try
        {
            return VerifyCore(jwt, key, time, boundIssuer, boundAudiences);
        }
        catch (Exception e) when (e is FormatException or InvalidOperationException or DecoderFallbackException)
        {
            throw Undecodable();
        }
    }

    private static DecodedAtticToken VerifyCore(string jwt, AtticSigningKey key, TimeProvider time, string? boundIssuer, IReadOnlyList<string>? boundAudiences)
    {
        ArgumentNullException.ThrowIfNull(jwt);
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(time);
        var parts = TrySplitWellFormed(jwt, out var wellFormed) ? wellFormed : Split(jwt.AsSpan());
        // Keyward and atticadm always write one of two exact headers; those need no base64 or JSON work.
        var header = parts.Header.SequenceEqual(Hs256HeaderB64) ? Hs256Header
            : parts.Header.SequenceEqual(Rs256HeaderB64) ? Rs256Header
            : DecodeHeader(parts.Header, keepJson: false, out _);
        CheckAlgorithm(header, key);

        // Signature over the ASCII bytes of "header.payload" (Split checked every character is base64url).
        var inputLen = parts.Header.Length + 1 + parts.Payload.Length;
        AtticClaims claims;
        byte[]? rented = null;
        var input = inputLen <= 2048 ? stackalloc byte[inputLen] : (rented = ArrayPool<byte>.Shared.Rent(inputLen)).AsSpan(0, inputLen);
        try
        {
            Encoding.ASCII.GetBytes(jwt.AsSpan(0, inputLen), input);
            var sigChars = parts.Signature;
            var sigMax = Base64Url.GetMaxDecodedLength(sigChars.Length);
            Span<byte> sig = sigMax <= 1024 ? stackalloc byte[sigMax] : new byte[sigMax];
            if (!Base64Url.TryDecodeFromChars(sigChars, sig, out var sigWritten))
                throw ErrorCodes.AtticTokenMalformed.Exception("the JWT signature is not valid base64url");
            if (sigWritten == 0 || !key.VerifySignature(input, sig[..sigWritten]))
                throw ErrorCodes.AtticTokenSignature.Exception($"the {header.Algorithm} signature does not verify with the given key");
            claims = DecodePayload(input.Slice(parts.Header.Length + 1, parts.Payload.Length));
        }
        finally
        {
            if (rented is not null) ArrayPool<byte>.Shared.Return(rented);
        }

        CheckClaims(claims, time.GetUtcNow().ToUnixTimeSeconds(), boundIssuer, boundAudiences);
        return new DecodedAtticToken(header, claims, true, null, null);
    }

    private static void CheckAlgorithm(AtticJwtHeader header, AtticSigningKey key)
    {
        if (string.Equals(header.Algorithm, "none", StringComparison.OrdinalIgnoreCase))
            throw ErrorCodes.AtticTokenAlgorithm.Exception("the token is unsigned (alg \"none\"); unsigned tokens are never accepted");
        if (!string.Equals(header.Algorithm, key.Algorithm, StringComparison.Ordinal))
            throw ErrorCodes.AtticTokenAlgorithm.Exception(
                $"the token says alg \"{header.Algorithm}\" but the key is {key.Algorithm}; a token must use the key's own algorithm (algorithm confusion refused)");
        if (header.Type is { } typ && !typ.Equals("JWT", StringComparison.OrdinalIgnoreCase) && !typ.EndsWith("+JWT", StringComparison.OrdinalIgnoreCase))
            throw ErrorCodes.AtticTokenAlgorithm.Exception($"the token's typ \"{typ}\" is not JWT (jwt-simple accepts JWT or *+JWT)", "mint the token again with Keyward or atticadm");
    }

    /// <summary>jwt-simple's <c>JWTClaims::validate</c> with atticd's options (no tolerance, no future tokens).</summary>
    internal static void CheckClaims(AtticClaims c, long now, string? boundIssuer, IReadOnlyList<string>? boundAudiences)
    {
        if (c.Iat is { } iat && iat > now)
            throw ErrorCodes.AtticTokenNotYetValid.Exception($"the token was issued in the future (iat {FormatTime(iat)}, now {FormatTime(now)})");
        if (c.Exp is { } exp && exp < now)
            throw ErrorCodes.AtticTokenExpired.Exception($"the token expired at {FormatTime(exp)} (now {FormatTime(now)})");
        if (c.Nbf is { } nbf && nbf > now)
            throw ErrorCodes.AtticTokenNotYetValid.Exception($"the token is not valid before {FormatTime(nbf)} (now {FormatTime(now)})");
        if (boundIssuer is not null)
        {
            if (c.Issuer is null) throw ErrorCodes.AtticTokenIssuer.Exception($"the server requires issuer '{boundIssuer}' but the token has no iss claim");
            if (!string.Equals(c.Issuer, boundIssuer, StringComparison.Ordinal))
                throw ErrorCodes.AtticTokenIssuer.Exception($"the token's issuer '{c.Issuer}' is not the server's bound issuer '{boundIssuer}'");
        }
        if (boundAudiences is { Count: > 0 })
        {
            if (c.Audiences is null || c.Audiences.Count == 0)
                throw ErrorCodes.AtticTokenAudience.Exception($"the server requires an audience ({string.Join(", ", boundAudiences)}) but the token has no aud claim");
            if (!c.Audiences.Any(a => boundAudiences.Contains(a, StringComparer.Ordinal)))
                throw ErrorCodes.AtticTokenAudience.Exception($"none of the token's audiences ({string.Join(", ", c.Audiences)}) is one of the server's ({string.Join(", ", boundAudiences)})");
        }
    }

    internal static string FormatTime(long unixSeconds) =>
        unixSeconds is >= -62135596800 and <= 253402300799
            ? DateTimeOffset.FromUnixTimeSeconds(unixSeconds).ToString("yyyy-MM-dd HH:mm:ss 'UTC'", System.Globalization.CultureInfo.InvariantCulture)
            : unixSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private readonly ref struct Parts(ReadOnlySpan<char> header, ReadOnlySpan<char> payload, ReadOnlySpan<char> signature)
    {
        public readonly ReadOnlySpan<char> Header = header;
        public readonly ReadOnlySpan<char> Payload = payload;
        public readonly ReadOnlySpan<char> Signature = signature;
    }

    private static Parts Split(ReadOnlySpan<char> jwt)
    {
        var d1 = jwt.IndexOf('.');
        if (d1 < 0) throw ErrorCodes.AtticTokenMalformed.Exception("not a JWT: no '.' separators (a JWT is header.payload.signature)");
        var rest = jwt[(d1 + 1)..];
        var d2 = rest.IndexOf('.');
        if (d2 < 0) throw ErrorCodes.AtticTokenMalformed.Exception("not a JWT: it has two parts, a JWT has three (header.payload.signature)");
        var header = jwt[..d1];
        var payload = rest[..d2];
        var signature = rest[(d2 + 1)..];
        if (signature.Contains('.')) throw ErrorCodes.AtticTokenMalformed.Exception("not a JWT: it has more than three parts (JWE and nested tokens are not Attic tokens)");
        if (header.Length > MaxHeaderLength)
            throw ErrorCodes.AtticTokenHeaderTooLarge.Exception($"the JWT header is {header.Length} base64 characters; at most {MaxHeaderLength} are accepted");
        CheckBase64Url(header, "header");
        CheckBase64Url(payload, "payload");
        if (signature.Length > 0) CheckBase64Url(signature, "signature");
        return new Parts(header, payload, signature);
    }

    /// <summary>One pass per part for a well-formed JWT (three non-empty base64url parts of possible lengths, the header
    /// within the limit); false for anything else, which <see cref="Split"/> then refuses with its exact message.</summary>
    private static bool TrySplitWellFormed(ReadOnlySpan<char> jwt, out Parts parts)
    {
        parts = default;
        var d1 = jwt.IndexOfAnyExcept(Base64UrlChars);
        if (d1 <= 0 || jwt[d1] != '.' || d1 > MaxHeaderLength || d1 % 4 == 1) return false;
        var rest = jwt[(d1 + 1)..];
        var d2 = rest.IndexOfAnyExcept(Base64UrlChars);
        if (d2 <= 0 || rest[d2] != '.' || d2 % 4 == 1) return false;
        var signature = rest[(d2 + 1)..];
        if (signature.Length == 0 || signature.Length % 4 == 1 || signature.ContainsAnyExcept(Base64UrlChars)) return false;
        parts = new Parts(jwt[..d1], rest[..d2], signature);
        return true;
    }

    private static void CheckBase64Url(ReadOnlySpan<char> part, string what)
    {
        if (part.Length == 0) throw ErrorCodes.AtticTokenMalformed.Exception($"the JWT {what} is empty");
        var bad = part.IndexOfAnyExcept(Base64UrlChars);
        if (bad >= 0)
            throw ErrorCodes.AtticTokenMalformed.Exception(part[bad] == '='
                ? $"the JWT {what} has base64 padding ('='); JWTs use base64url without padding"
                : $"the JWT {what} is not base64url (character {bad + 1} of that part is not A-Z, a-z, 0-9, '-' or '_')");
        if (part.Length % 4 == 1) throw ErrorCodes.AtticTokenMalformed.Exception($"the JWT {what} has an impossible base64url length ({part.Length})");
    }

    private static AtticJwtHeader DecodeHeader(ReadOnlySpan<char> b64, bool keepJson, out string? json)
    {
        Span<byte> buffer = stackalloc byte[Base64Url.GetMaxDecodedLength(b64.Length)];
        if (!Base64Url.TryDecodeFromChars(b64, buffer, out var n))
            throw ErrorCodes.AtticTokenMalformed.Exception("the JWT header is not valid base64url");
        var bytes = buffer[..n];
        json = null;
        string? alg = null, typ = null;
        try
        {
            var r = new Utf8JsonReader(bytes);
            if (!r.Read() || r.TokenType != JsonTokenType.StartObject) throw ErrorCodes.AtticTokenMalformed.Exception("the JWT header is not a JSON object");
            while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
            {
                if (r.ValueTextEquals("alg"u8))
                {
                    r.Read();
                    if (alg is not null) throw ErrorCodes.AtticTokenMalformed.Exception("the JWT header has two alg fields");
                    if (r.TokenType != JsonTokenType.String) throw ErrorCodes.AtticTokenMalformed.Exception("the JWT header's alg is not a string");
                    alg = r.ValueTextEquals("HS256"u8) ? "HS256" : r.ValueTextEquals("RS256"u8) ? "RS256" : r.GetString();
                }
                else if (r.ValueTextEquals("typ"u8))
                {
                    r.Read();
                    typ = r.TokenType switch
                    {
                        JsonTokenType.String when r.ValueTextEquals("JWT"u8) => "JWT",
                        JsonTokenType.String => r.GetString(),
                        JsonTokenType.Null => null,
                        _ => throw ErrorCodes.AtticTokenMalformed.Exception("the JWT header's typ is not a string"),
                    };
                }
                else
                {
                    r.Read();
                    r.Skip();
                }
            }
            if (r.TokenType != JsonTokenType.EndObject || r.Read()) throw ErrorCodes.AtticTokenMalformed.Exception("the JWT header is not a single JSON object");
        }
        catch (JsonException)
        {
            throw ErrorCodes.AtticTokenMalformed.Exception("the JWT header is not valid JSON");
        }
        if (alg is null) throw ErrorCodes.AtticTokenMalformed.Exception("the JWT header has no alg");
        if (keepJson) json = Encoding.UTF8.GetString(bytes);
        return (alg, typ) switch
        {
            ("HS256", "JWT") => Hs256Header,
            ("RS256", "JWT") => Rs256Header,
            _ => new AtticJwtHeader(alg, typ),
        };
    }

    private static AtticClaims DecodePayload(ReadOnlySpan<char> b64, bool keepJson, out string? json)
    {
        var max = Base64Url.GetMaxDecodedLength(b64.Length);
        byte[]? rented = null;
        var buffer = max <= 4096 ? stackalloc byte[max] : (rented = ArrayPool<byte>.Shared.Rent(max));
        try
        {
            if (!Base64Url.TryDecodeFromChars(b64, buffer, out var n))
                throw ErrorCodes.AtticTokenMalformed.Exception("the JWT payload is not valid base64url");
            var bytes = buffer[..n];
            json = keepJson ? Encoding.UTF8.GetString(bytes) : null;
            return ParsePayloadJson(bytes);
        }
        finally
        {
            if (rented is not null) ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>As <see cref="DecodePayload(ReadOnlySpan{char}, bool, out string?)"/>, from the ASCII bytes of the
    /// (already validated) base64url payload that Verify has at hand for the signature anyway.</summary>
    private static AtticClaims DecodePayload(ReadOnlySpan<byte> b64)
    {
        var max = Base64Url.GetMaxDecodedLength(b64.Length);
        byte[]? rented = null;
        var buffer = max <= 4096 ? stackalloc byte[max] : (rented = ArrayPool<byte>.Shared.Rent(max));
        try
        {
            if (!Base64Url.TryDecodeFromUtf8(b64, buffer, out var n))
                throw ErrorCodes.AtticTokenMalformed.Exception("the JWT payload is not valid base64url");
            return ParsePayloadJson(buffer[..n]);
        }
        finally
        {
            if (rented is not null) ArrayPool<byte>.Shared.Return(rented);
        }
    }

    private static AtticClaims ParsePayloadJson(ReadOnlySpan<byte> bytes)
    {
        try { return TryParseCanonical(bytes, out var canonical) ? canonical : ParseClaims(bytes); }
        catch (JsonException) { throw ErrorCodes.AtticTokenMalformed.Exception("the JWT payload is not valid JSON"); }
        catch (InvalidOperationException) { throw ErrorCodes.AtticTokenMalformed.Exception("the JWT payload is not valid JSON"); }
    }

    private static AtticClaims ParseClaims(ReadOnlySpan<byte> json)
    {
        var c = new AtticClaims();
        var r = new Utf8JsonReader(json);
        if (!r.Read() || r.TokenType != JsonTokenType.StartObject) throw Claims("the payload is not a JSON object");
        var seen = 0;
        var sawNamespace = false;
        while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
        {
            if (r.ValueTextEquals("exp"u8)) { Once(ref seen, 1, "exp"); r.Read(); c.Exp = ReadTime(ref r, "exp"); }
            else if (r.ValueTextEquals("nbf"u8)) { Once(ref seen, 2, "nbf"); r.Read(); c.Nbf = ReadTime(ref r, "nbf"); }
            else if (r.ValueTextEquals("iat"u8)) { Once(ref seen, 4, "iat"); r.Read(); c.Iat = ReadTime(ref r, "iat"); }
            else if (r.ValueTextEquals("sub"u8)) { Once(ref seen, 8, "sub"); r.Read(); c.Subject = ReadString(ref r, "sub"); }
            else if (r.ValueTextEquals("iss"u8)) { Once(ref seen, 16, "iss"); r.Read(); c.Issuer = ReadString(ref r, "iss"); }
            else if (r.ValueTextEquals("jti"u8)) { Once(ref seen, 32, "jti"); r.Read(); c.JwtId = ReadString(ref r, "jti"); }
            else if (r.ValueTextEquals("nonce"u8)) { Once(ref seen, 64, "nonce"); r.Read(); ReadString(ref r, "nonce"); }
            else if (r.ValueTextEquals("aud"u8)) { Once(ref seen, 128, "aud"); r.Read(); c.Audiences = ReadAudiences(ref r); }
            else if (r.ValueTextEquals(NamespaceUtf8))
            {
                Once(ref seen, 256, ClaimNamespace);
                r.Read();
                c.Grants = ReadNamespace(ref r);
                sawNamespace = true;
            }
            else { r.Read(); r.Skip(); }
        }
        if (r.TokenType != JsonTokenType.EndObject || r.Read()) throw Claims("the payload is not a single JSON object");
        if (!sawNamespace) throw Claims($"the payload has no \"{ClaimNamespace}\" claim, so it is not an Attic token");
        return c;
    }

    private static void Once(ref int seen, int bit, string name)
    {
        if ((seen & bit) != 0) throw Claims($"the claim \"{name}\" appears twice");
        seen |= bit;
    }

    private static KeywardException Claims(string why) => ErrorCodes.AtticTokenClaims.Exception(why);

    private static long? ReadTime(ref Utf8JsonReader r, string name)
    {
        if (r.TokenType == JsonTokenType.Null) return null;
        if (r.TokenType != JsonTokenType.Number) throw Claims($"the claim \"{name}\" is not a number of seconds");
        if (r.TryGetInt64(out var v)) return CheckRange(v, name);
        var d = r.GetDouble(); // jwt-simple accepts fractional seconds
        if (double.IsNaN(d) || d < -62135596800d || d > 253402300799d) throw Claims($"the claim \"{name}\" is out of range");
        return (long)Math.Floor(d);
    }

    private static long CheckRange(long v, string name) =>
        v is >= -62135596800 and <= 253402300799 ? v : throw Claims($"the claim \"{name}\" ({v}) is out of range");

    private static string? ReadString(ref Utf8JsonReader r, string name) => r.TokenType switch
    {
        JsonTokenType.String => r.GetString(),
        JsonTokenType.Null => null,
        _ => throw Claims($"the claim \"{name}\" is not a string"),
    };

    private static List<string>? ReadAudiences(ref Utf8JsonReader r)
    {
        switch (r.TokenType)
        {
            case JsonTokenType.Null: return null;
            case JsonTokenType.String: return [r.GetString()!];
            case JsonTokenType.StartArray:
                var list = new List<string>();
                while (r.Read() && r.TokenType != JsonTokenType.EndArray)
                {
                    if (r.TokenType != JsonTokenType.String) throw Claims("the claim \"aud\" holds a non-string");
                    var a = r.GetString()!;
                    if (!list.Contains(a, StringComparer.Ordinal)) list.Add(a);
                }
                return list;
            default: throw Claims("the claim \"aud\" is neither a string nor an array of strings");
        }
    }

    private static IReadOnlyList<AtticGrant> ReadNamespace(ref Utf8JsonReader r)
    {
        if (r.TokenType != JsonTokenType.StartObject) throw Claims($"the \"{ClaimNamespace}\" claim is not an object");
        IReadOnlyList<AtticGrant>? grants = null;
        while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
        {
            if (r.ValueTextEquals("caches"u8))
            {
                if (grants is not null) throw Claims("\"caches\" appears twice");
                r.Read();
                grants = ReadCaches(ref r);
            }
            else { r.Read(); r.Skip(); }
        }
        return grants ?? throw Claims($"the \"{ClaimNamespace}\" claim has no \"caches\" object (it may be empty, but must be present)");
    }

    // Every subset of the seven permissions as an ordered list, indexed by bit mask (bit i = AtticPermissions.All[i]),
    // so decoding a grant allocates nothing but the pattern.
    private static readonly AtticPermission[][] PermissionSets = Enumerable.Range(0, 128)
        .Select(mask => AtticPermissions.All.Where((_, i) => (mask & (1 << i)) != 0).ToArray())
        .ToArray();

    private static int FlagBit(ReadOnlySpan<byte> key) => key switch
    {
        [(byte)'r'] => 0,
        [(byte)'w'] => 1,
        [(byte)'d'] => 2,
        [(byte)'c', (byte)'c'] => 3,
        [(byte)'c', (byte)'r'] => 4,
        [(byte)'c', (byte)'q'] => 5,
        [(byte)'c', (byte)'d'] => 6,
        _ => -1,
    };

    // Verified tokens repeat the same few patterns (one per cache a server holds), so each valid pattern text is parsed
    // (regex) once and its grants (pattern + permission mask, both immutable) are shared by every token that carries them.
    private sealed class PatternEntry(CacheNamePattern pattern)
    {
        public readonly CacheNamePattern Pattern = pattern;
        public readonly byte[] Ascii = Encoding.ASCII.GetBytes(pattern.Text); // patterns are ASCII by their grammar
        private readonly AtticGrant?[] _byMask = new AtticGrant?[128];

        public AtticGrant Grant(int mask) => _byMask[mask] ??= new AtticGrant(Pattern, PermissionSets[mask]);
    }

    private const int PatternCacheLimit = 1024; // bounds memory: beyond it patterns are parsed per token, as before
    private const int MaxPatternLength = 50;
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, PatternEntry> PatternCache = new(StringComparer.Ordinal);
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, PatternEntry>.AlternateLookup<ReadOnlySpan<char>> PatternLookup =
        PatternCache.GetAlternateLookup<ReadOnlySpan<char>>();

    [ThreadStatic] private static List<AtticGrant>? t_grants;

    private static PatternEntry Pattern(ReadOnlySpan<char> key, string? keyString)
    {
        if (TryPattern(key, keyString, out var entry)) return entry;
        throw Claims($"'{Printable(keyString ?? new string(key))}' is not a valid cache name pattern (letters, digits, '-', '_', '+' and '*', at most 50 characters), so atticd rejects the whole token");
    }

    private static bool TryPattern(ReadOnlySpan<char> key, string? keyString, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out PatternEntry? entry)
    {
        if (PatternLookup.TryGetValue(key, out entry)) return true;
        keyString ??= new string(key);
        if (!CacheNamePattern.TryParse(keyString, out var pattern)) return false;
        entry = new PatternEntry(pattern);
        if (PatternCache.Count < PatternCacheLimit) PatternCache.TryAdd(keyString, entry);
        return true;
    }

    private static IReadOnlyList<AtticGrant> ReadCaches(ref Utf8JsonReader r)
    {
        if (r.TokenType != JsonTokenType.StartObject) throw Claims("\"caches\" is not an object");
        var grants = t_grants ??= new List<AtticGrant>(8);
        grants.Clear();
        Span<char> keyBuffer = stackalloc char[MaxPatternLength];
        while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
        {
            // Unescaped ASCII keys short enough to be patterns are looked up without allocating; anything else as a string.
            string? keyString = null;
            scoped ReadOnlySpan<char> key;
            if (!r.ValueIsEscaped && r.ValueSpan.Length <= MaxPatternLength
                && System.Text.Ascii.ToUtf16(r.ValueSpan, keyBuffer, out var keyLength) == OperationStatus.Done)
                key = keyBuffer[..keyLength];
            else
                key = keyString = r.GetString()!;
            var entry = Pattern(key, keyString);
            var text = entry.Pattern.Text;
            r.Read();
            if (r.TokenType != JsonTokenType.StartObject) throw Claims($"the permissions of '{text}' are not an object");
            int mask = 0, seen = 0;
            while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
            {
                var bit = r.ValueIsEscaped ? FlagBit(Encoding.UTF8.GetBytes(r.GetString()!)) : FlagBit(r.ValueSpan);
                if (bit < 0) { r.Read(); r.Skip(); continue; } // unknown keys are ignored (no deny_unknown_fields)
                var flag = AtticPermissions.All[bit].JwtKey();
                r.Read();
                if ((seen & (1 << bit)) != 0) throw Claims($"the flag \"{flag}\" of '{text}' appears twice");
                seen |= 1 << bit;
                if (r.TokenType == JsonTokenType.Number && r.TryGetInt64(out var v) && v is 0 or 1)
                {
                    if (v == 1) mask |= 1 << bit;
                }
                else if (r.TokenType is JsonTokenType.True or JsonTokenType.False)
                    throw Claims($"the flag \"{flag}\" of '{text}' is a boolean; Attic requires the integer 0 or 1 (serde_with BoolFromInt, strict), so atticd rejects the whole token");
                else
                    throw Claims($"the flag \"{flag}\" of '{text}' is not the integer 0 or 1");
            }
            var grant = entry.Grant(mask);
            var existing = -1;
            for (var i = 0; i < grants.Count; i++)
                if (string.Equals(grants[i].Pattern.Text, text, StringComparison.Ordinal)) { existing = i; break; }
            if (existing >= 0) grants[existing] = grant; // map insert: the value is replaced in place
            else grants.Add(grant);
        }
        return grants.Count == 0 ? [] : grants.ToArray();
    }

    private static string Printable(string s) =>
        s.Length > 60 ? string.Concat(s.AsSpan(0, 57), "...") : s;
}
