using System.Security.Cryptography;
using System.Text;
using Keyward.Core.Errors;
using Keyward.Core.Secrets;

namespace Keyward.Crypto.Attic;

/// <summary>
/// The key atticd signs and verifies tokens with (zhaofengli/attic <c>token/src/lib.rs</c>, <c>SignatureType</c>):
/// HS256 over any bytes, RS256 from a PKCS#1 or PKCS#8 PEM private key (verifying with its public half), or an
/// RS256 public key that only verifies.
/// </summary>
public sealed class AtticSigningKey : IDisposable
{
    public const string Hs256SecretVariable = "ATTIC_SERVER_TOKEN_HS256_SECRET_BASE64";
    public const string Rs256SecretVariable = "ATTIC_SERVER_TOKEN_RS256_SECRET_BASE64";
    public const string Rs256PubkeyVariable = "ATTIC_SERVER_TOKEN_RS256_PUBKEY_BASE64";

    private readonly byte[]? _hmacKey;
    private readonly RSA? _rsa;

    // One keyed HMAC state per thread, reused across verifications: the ipad/opad key setup is done once per thread,
    // not per token, and taking it costs no lock (a ConcurrentBag pool locked on every take and return).
    private readonly ThreadLocal<IncrementalHash>? _hmacPerThread;
    private bool _disposed;

    private AtticSigningKey(byte[]? hmacKey, RSA? rsa, bool canSign)
    {
        _hmacKey = hmacKey;
        _rsa = rsa;
        CanSign = canSign;
        if (hmacKey is not null)
            _hmacPerThread = new ThreadLocal<IncrementalHash>(() => IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, hmacKey), trackAllValues: true);
    }

    /// <summary><c>HS256</c> or <c>RS256</c>.</summary>
    public string Algorithm => _hmacKey is not null ? "HS256" : "RS256";

    /// <summary>False for a public-key-only RS256 key.</summary>
    public bool CanSign { get; }

    /// <summary>The one rule for which algorithm a signer credential signs Attic tokens with: a <c>secret</c> signs HS256, an
    /// <c>rsa-key</c> RS256; any other kind cannot sign (KW0457). Minting, verification, rotation, imports and
    /// <c>token mint --signed-by</c> all ask here.</summary>
    public static AtticSigningKey ForSigner(Core.Manifest.CredentialKind kind, Secret value, string signerName) => kind switch
    {
        Core.Manifest.CredentialKind.Secret => Hs256(value),
        Core.Manifest.CredentialKind.RsaKey => Rs256(value),
        _ => throw ErrorCodes.TokenSignerUnusable.Exception(
            $"'{signerName}' is a {Core.Manifest.CredentialKinds.Name(kind)}; Attic tokens are signed by a secret (HS256) or an rsa-key (RS256)"),
    };

    /// <summary><see cref="ForSigner(Core.Manifest.CredentialKind, Secret, string)"/> for a kind as the store records it
    /// (<c>secret</c>, <c>rsa-key</c>).</summary>
    public static AtticSigningKey ForSigner(string storedKind, Secret value, string signerName) =>
        Core.Manifest.CredentialKinds.TryParse(storedKind, out var kind)
            ? ForSigner(kind, value, signerName)
            : throw ErrorCodes.TokenSignerUnusable.Exception($"'{signerName}' is a {storedKind}; Attic tokens are signed by a secret (HS256) or an rsa-key (RS256)");

    /// <summary>HMAC-SHA256 with these bytes (any bytes, not necessarily UTF-8, as atticd since PR #181).</summary>
    public static AtticSigningKey Hs256(Secret secretBytes)
    {
        ArgumentNullException.ThrowIfNull(secretBytes);
        if (secretBytes.Length == 0) throw ErrorCodes.AtticSigningKeyInvalid.Exception("the HS256 secret is empty");
        return new AtticSigningKey(secretBytes.Reveal().ToArray(), null, true);
    }

    /// <summary>RS256 from a private key PEM: <c>BEGIN RSA PRIVATE KEY</c> (PKCS#1) or <c>BEGIN PRIVATE KEY</c> (PKCS#8).</summary>
    public static AtticSigningKey Rs256(Secret pem)
    {
        ArgumentNullException.ThrowIfNull(pem);
        return FromPem(pem.Reveal(), allowPublic: false);
    }

    /// <summary>RS256 verification only, from <c>BEGIN PUBLIC KEY</c> (SPKI) or <c>BEGIN RSA PUBLIC KEY</c> (PKCS#1).</summary>
    public static AtticSigningKey Rs256PublicOnly(string pem)
    {
        ArgumentNullException.ThrowIfNull(pem);
        var key = FromPem(Encoding.UTF8.GetBytes(pem), allowPublic: true);
        if (key.CanSign)
        {
            key.Dispose();
            throw ErrorCodes.AtticSigningKeyInvalid.Exception("expected an RSA public key PEM but got a private key", "derive the public key with `openssl rsa -pubout`");
        }
        return key;
    }

    /// <summary>As atticd reads its environment when <c>[jwt.signing]</c> is absent: RS256 public key, then RS256
    /// secret, then HS256 secret; empty variables count as unset.</summary>
    public static AtticSigningKey FromEnvironment(Func<string, string?> getEnv)
    {
        ArgumentNullException.ThrowIfNull(getEnv);
        var pub = getEnv(Rs256PubkeyVariable);
        if (!string.IsNullOrEmpty(pub))
        {
            var pem = DecodeBase64(Encoding.UTF8.GetBytes(pub), Rs256PubkeyVariable);
            try { return Rs256PublicOnly(Encoding.UTF8.GetString(pem)); }
            finally { CryptographicOperations.ZeroMemory(pem); }
        }
        var rs = getEnv(Rs256SecretVariable);
        if (!string.IsNullOrEmpty(rs))
        {
            using var s = Secret.FromUtf8(rs);
            return FromBase64Value(s, rsa: true, Rs256SecretVariable);
        }
        var hs = getEnv(Hs256SecretVariable);
        if (!string.IsNullOrEmpty(hs))
        {
            using var s = Secret.FromUtf8(hs);
            return FromBase64Value(s, rsa: false, Hs256SecretVariable);
        }
        throw ErrorCodes.AtticSigningKeyMissing.Exception($"none of {Hs256SecretVariable}, {Rs256SecretVariable} or {Rs256PubkeyVariable} is set");
    }

    /// <summary>A <c>token-*-base64</c> value (standard base64; surrounding whitespace, such as a file's final newline,
    /// is ignored). With <paramref name="rsa"/> it must decode to a UTF-8 PEM; a public key PEM gives a verify-only key.</summary>
    public static AtticSigningKey FromBase64Value(Secret base64Value, bool rsa) => FromBase64Value(base64Value, rsa, "the key value");

    /// <summary>Like <see cref="FromBase64Value(Secret, bool)"/>, deciding the algorithm by content: a value that decodes
    /// to a PEM (<c>-----BEGIN</c>) is RS256, anything else HS256 bytes.</summary>
    public static AtticSigningKey FromBase64ValueDetect(Secret base64Value)
    {
        ArgumentNullException.ThrowIfNull(base64Value);
        var bytes = DecodeBase64(base64Value.Reveal(), "the key value");
        try
        {
            return LooksLikePem(bytes) ? FromPem(bytes, allowPublic: true) : new AtticSigningKey(bytes.ToArray(), null, true);
        }
        finally { CryptographicOperations.ZeroMemory(bytes); }
    }

    private static AtticSigningKey FromBase64Value(Secret base64Value, bool rsa, string what)
    {
        ArgumentNullException.ThrowIfNull(base64Value);
        var bytes = DecodeBase64(base64Value.Reveal(), what);
        try
        {
            if (!rsa)
            {
                if (bytes.Length == 0) throw ErrorCodes.AtticSigningKeyInvalid.Exception($"{what} decodes to an empty HS256 secret");
                return new AtticSigningKey(bytes.ToArray(), null, true);
            }
            return FromPem(bytes, allowPublic: true);
        }
        finally { CryptographicOperations.ZeroMemory(bytes); }
    }

    private static bool LooksLikePem(ReadOnlySpan<byte> bytes) => bytes.TrimStart(" \t\r\n"u8).StartsWith("-----BEGIN "u8);

    private static byte[] DecodeBase64(ReadOnlySpan<byte> value, string what)
    {
        var trimmed = value.Trim(" \t\r\n"u8);
        var buffer = new byte[trimmed.Length * 3 / 4 + 3];
        var status = System.Buffers.Text.Base64.DecodeFromUtf8(trimmed, buffer, out _, out var written);
        if (status != System.Buffers.OperationStatus.Done || trimmed.Length == 0)
        {
            CryptographicOperations.ZeroMemory(buffer);
            throw ErrorCodes.AtticSigningKeyInvalid.Exception($"{what} is not valid standard base64");
        }
        var result = buffer.AsSpan(0, written).ToArray();
        CryptographicOperations.ZeroMemory(buffer);
        return result;
    }

    private static AtticSigningKey FromPem(ReadOnlySpan<byte> pemBytes, bool allowPublic)
    {
        char[] chars;
        try
        {
            var strict = new UTF8Encoding(false, true);
            chars = new char[strict.GetCharCount(pemBytes)];
            strict.GetChars(pemBytes, chars);
        }
        catch (DecoderFallbackException) { throw ErrorCodes.AtticSigningKeyInvalid.Exception("the RS256 key is not UTF-8 PEM text"); }
        try
        {
            if (!PemEncoding.TryFind(chars, out var fields))
                throw ErrorCodes.AtticSigningKeyInvalid.Exception("the RS256 key is not a PEM (no -----BEGIN ...----- block)");
            var label = new string(chars.AsSpan(fields.Label));
            var isPublic = label is "PUBLIC KEY" or "RSA PUBLIC KEY";
            if (label is not ("RSA PRIVATE KEY" or "PRIVATE KEY") && !isPublic)
                throw ErrorCodes.AtticSigningKeyInvalid.Exception($"unsupported PEM block '{label}'",
                    label.Contains("ENCRYPTED", StringComparison.Ordinal) ? "atticd cannot use an encrypted key; export it unencrypted (openssl rsa -traditional)" : null);
            if (isPublic && !allowPublic)
                throw ErrorCodes.AtticSigningKeyInvalid.Exception("the RS256 secret is a public key; signing needs the private key");
            var rsa = RSA.Create();
            try { rsa.ImportFromPem(chars); }
            catch (Exception e) when (e is CryptographicException or ArgumentException)
            {
                rsa.Dispose();
                throw ErrorCodes.AtticSigningKeyInvalid.Exception($"the '{label}' PEM is not a valid RSA key");
            }
            return new AtticSigningKey(null, rsa, !isPublic);
        }
        finally { Array.Clear(chars); }
    }

    /// <summary>The RSA public key as SPKI PEM (what <c>token-rs256-pubkey-base64</c> holds, before base64).</summary>
    public string? PublicKeyPem() => _rsa?.ExportSubjectPublicKeyInfoPem();

    internal int SignatureLength => _hmacKey is not null ? 32 : _rsa!.KeySize / 8;

    internal void Sign(ReadOnlySpan<byte> signingInput, Span<byte> signature)
    {
        if (!CanSign) throw ErrorCodes.AtticSigningKeyPublicOnly.Exception("this RS256 key is a public key only");
        if (_hmacKey is not null) HMACSHA256.HashData(_hmacKey, signingInput, signature);
        else if (!_rsa!.TrySignData(signingInput, signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1, out _))
            throw new CryptographicException("RSA signing failed");
    }

    internal bool VerifySignature(ReadOnlySpan<byte> signingInput, ReadOnlySpan<byte> signature)
    {
        if (_hmacKey is not null)
        {
            if (signature.Length != 32) return false;
            Span<byte> mac = stackalloc byte[32];
            var hmac = _hmacPerThread!.Value!;
            hmac.AppendData(signingInput);
            hmac.GetHashAndReset(mac);
            return CryptographicOperations.FixedTimeEquals(mac, signature);
        }
        return _rsa!.VerifyData(signingInput, signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
    }

    public void Dispose()
    {
        if (_hmacKey is not null) CryptographicOperations.ZeroMemory(_hmacKey);
        if (_hmacPerThread is not null && !_disposed)
        {
            _disposed = true;
            foreach (var h in _hmacPerThread.Values) h.Dispose();
            _hmacPerThread.Dispose();
        }
        _rsa?.Dispose();
    }

    public override string ToString() => $"{Algorithm} key {Secret.Redacted}";
}
