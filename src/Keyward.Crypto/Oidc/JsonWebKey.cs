using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text.Json;

namespace Keyward.Crypto.Oidc;

/// <summary>
/// One signing key of an issuer's JWKS: RSA (RS256) or EC P-256 (ES256). Other key types, curves and encryption keys
/// (<c>use: enc</c>) are skipped by <see cref="JsonWebKeySet.Parse"/>. The .NET key object is built once and kept.
/// </summary>
public sealed class JsonWebKey : IDisposable
{
    private readonly RSA? _rsa;
    private readonly ECDsa? _ec;

    private JsonWebKey(string keyId, string? algorithm, RSA? rsa, ECDsa? ec)
    {
        KeyId = keyId;
        Algorithm = algorithm;
        _rsa = rsa;
        _ec = ec;
    }

    public string KeyId { get; }

    /// <summary>The JWK's own <c>alg</c>, when it names one; a token's algorithm must then be the same.</summary>
    public string? Algorithm { get; }

    /// <summary>The one JWS algorithm this key verifies: RS256 for an RSA key, ES256 for a P-256 key.</summary>
    public string VerifiesAlgorithm => _rsa is not null ? "RS256" : "ES256";

    /// <summary>Verifies a JWS signature over <paramref name="signingInput"/>; false for any mismatch.</summary>
    internal bool Verify(ReadOnlySpan<byte> signingInput, ReadOnlySpan<byte> signature)
    {
        if (_rsa is not null)
            return signature.Length == _rsa.KeySize / 8 && _rsa.VerifyData(signingInput, signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        // JWS ES256 signatures are r||s, 32 bytes each: .NET's IEEE P1363 format (the default), never DER.
        return signature.Length == 64 && _ec!.VerifyData(signingInput, signature, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
    }

    /// <summary>One key from its JWK object, or null when it is not an RS256/ES256 signing key Keyward accepts.</summary>
    internal static JsonWebKey? FromJson(JsonElement k)
    {
        if (k.ValueKind != JsonValueKind.Object) return null;
        string? S(string name) => k.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
        var kid = S("kid");
        if (string.IsNullOrEmpty(kid) || kid.Length > 256) return null;
        if (S("use") is { } use && use != "sig") return null;
        var alg = S("alg");
        switch (S("kty"))
        {
            case "RSA" when alg is null or "RS256":
            {
                var n = Bytes(S("n"));
                var e = Bytes(S("e"));
                if (n is null || e is null || n.Length < 256 || n.Length > 1024 || e.Length > 8) return null; // 2048 to 8192 bits
                var rsa = RSA.Create();
                try
                {
                    rsa.ImportParameters(new RSAParameters { Modulus = n, Exponent = e });
                    return new JsonWebKey(kid, alg, rsa, null);
                }
                catch (CryptographicException)
                {
                    rsa.Dispose();
                    return null;
                }
            }
            case "EC" when (alg is null or "ES256") && S("crv") == "P-256":
            {
                // RFC 7518 wants both coordinates at full length, but some issuers' libraries (PyJWT before 2.8, for one)
                // drop leading zero bytes: a 31-byte coordinate is the same number, so it is padded back.
                var x = Coordinate(Bytes(S("x")));
                var y = Coordinate(Bytes(S("y")));
                if (x is null || y is null) return null;
                try
                {
                    // ImportParameters validates that the point is on the curve.
                    var ec = ECDsa.Create(new ECParameters { Curve = ECCurve.NamedCurves.nistP256, Q = new ECPoint { X = x, Y = y } });
                    return new JsonWebKey(kid, alg, null, ec);
                }
                catch (CryptographicException)
                {
                    return null;
                }
            }
            default:
                return null;
        }
    }

    private static byte[]? Coordinate(byte[]? b) => b switch
    {
        null or { Length: 0 or > 32 } => null,
        { Length: 32 } => b,
        _ => [.. new byte[32 - b.Length], .. b],
    };

    private static byte[]? Bytes(string? b64url)
    {
        if (string.IsNullOrEmpty(b64url) || b64url.Length > 2048) return null;
        var buffer = new byte[Base64Url.GetMaxDecodedLength(b64url.Length)];
        try
        {
            return Base64Url.TryDecodeFromChars(b64url, buffer, out var n) ? buffer[..n] : null;
        }
        catch (FormatException)
        {
            return null;
        }
    }

    public void Dispose()
    {
        _rsa?.Dispose();
        _ec?.Dispose();
    }
}

/// <summary>An issuer's JWKS (<c>{"keys":[…]}</c>): its usable signing keys by <c>kid</c>.</summary>
public sealed class JsonWebKeySet : IDisposable
{
    /// <summary>More keys than this in one set is not an issuer's key list.</summary>
    public const int MaxKeys = 64;

    private readonly Dictionary<string, JsonWebKey> _byId;

    private JsonWebKeySet(Dictionary<string, JsonWebKey> byId) => _byId = byId;

    public int Count => _byId.Count;

    public JsonWebKey? Find(string kid) => _byId.GetValueOrDefault(kid);

    /// <summary>Parses a JWKS document. Returns null when it is not one (not JSON, no <c>keys</c> array, too many keys);
    /// keys Keyward cannot use are skipped, so the set may be empty.</summary>
    public static JsonWebKeySet? Parse(ReadOnlySpan<byte> json)
    {
        try
        {
            var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = 16 });
            using var doc = JsonDocument.ParseValue(ref reader);
            if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("keys", out var keys) || keys.ValueKind != JsonValueKind.Array)
                return null;
            if (keys.GetArrayLength() > MaxKeys) return null;
            var byId = new Dictionary<string, JsonWebKey>(StringComparer.Ordinal);
            foreach (var k in keys.EnumerateArray())
            {
                if (JsonWebKey.FromJson(k) is not { } key) continue;
                if (!byId.TryAdd(key.KeyId, key)) key.Dispose(); // a repeated kid: the first one counts
            }
            return new JsonWebKeySet(byId);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    public void Dispose()
    {
        foreach (var k in _byId.Values) k.Dispose();
    }
}
