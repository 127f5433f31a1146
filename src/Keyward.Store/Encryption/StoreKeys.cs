using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Keyward.Core.Secrets;
using NSec.Cryptography;

namespace Keyward.Store.Encryption;

/// <summary>
/// The keys derived from one store's data key, and the operations that use them.
/// Every subkey is HKDF-SHA256(ikm = data key, salt = UTF-8 store id, info = label, 32 bytes);
/// the labels below are part of the on-disk format (docs/store.md).
/// </summary>
internal sealed class StoreKeys : IDisposable
{
    public const string ValueKeyLabel = "keyward/store/v1 value-key";
    public const string FingerprintKeyLabel = "keyward/store/v1 fingerprint-key";
    public const string AuditKeyLabel = "keyward/store/v1 audit-key";
    public const string KeyCheckLabel = "keyward/store/v1 key-check";

    /// <summary>Prefix of the associated data bound into every value's ciphertext.</summary>
    public const string ValueAadLabel = "keyward/store/v1 value";

    public const string FingerprintPrefix = "kw1:";

    public const int DataKeyLength = 32;
    public const int NonceLength = 24; // XChaCha20-Poly1305: random 192-bit nonces never collide in practice

    private static readonly AeadAlgorithm Aead = AeadAlgorithm.XChaCha20Poly1305;

    private readonly Secret _dataKey;
    private readonly Key _valueKey;
    private readonly byte[] _fingerprintKey;
    private readonly byte[] _auditKey;
    private readonly byte[] _storeIdBytes;

    public StoreKeys(Secret dataKey, string storeId)
    {
        if (dataKey.Length != DataKeyLength) throw new ArgumentException("the data key is 32 bytes", nameof(dataKey));
        _dataKey = Secret.FromBytes(dataKey.Reveal());
        StoreId = storeId;
        _storeIdBytes = Encoding.UTF8.GetBytes(storeId);
        var valueKey = Derive(ValueKeyLabel);
        try
        {
            _valueKey = Key.Import(Aead, valueKey, KeyBlobFormat.RawSymmetricKey);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(valueKey);
        }
        _fingerprintKey = Derive(FingerprintKeyLabel);
        _auditKey = Derive(AuditKeyLabel);
        KeyCheck = Convert.ToHexStringLower(Derive(KeyCheckLabel));
    }

    public string StoreId { get; }

    /// <summary>A public value that tells whether an unwrapped data key is this store's (stored in meta).</summary>
    public string KeyCheck { get; }

    /// <summary>The data key itself, for rewrapping to new recipients.</summary>
    public Secret DataKey => _dataKey;

    public byte[] AuditKey => _auditKey;

    private byte[] Derive(string label)
    {
        var output = new byte[32];
        HKDF.DeriveKey(HashAlgorithmName.SHA256, _dataKey.Reveal(), output, _storeIdBytes, Encoding.UTF8.GetBytes(label));
        return output;
    }

    private static readonly byte[] ValueAadLabelUtf8 = Encoding.UTF8.GetBytes(ValueAadLabel);

    /// <summary>
    /// AAD = UTF-8(label) ‖ 0x00 ‖ u32be(len(storeId)) ‖ storeId ‖ u32be(len(name)) ‖ name ‖ u32be(version).
    /// </summary>
    public byte[] ValueAad(string name, int version)
    {
        var aad = new byte[ValueAadLength(name)];
        WriteValueAad(aad, name, version);
        return aad;
    }

    private int ValueAadLength(string name) => ValueAadLabelUtf8.Length + 1 + 4 + _storeIdBytes.Length + 4 + Encoding.UTF8.GetByteCount(name) + 4;

    private void WriteValueAad(Span<byte> aad, string name, int version)
    {
        var span = aad;
        ValueAadLabelUtf8.CopyTo(span);
        span[ValueAadLabelUtf8.Length] = 0;
        span = span[(ValueAadLabelUtf8.Length + 1)..];
        BinaryPrimitives.WriteUInt32BigEndian(span, (uint)_storeIdBytes.Length);
        _storeIdBytes.CopyTo(span[4..]);
        span = span[(4 + _storeIdBytes.Length)..];
        var nameLength = Encoding.UTF8.GetBytes(name, span[4..]);
        BinaryPrimitives.WriteUInt32BigEndian(span, (uint)nameLength);
        span = span[(4 + nameLength)..];
        BinaryPrimitives.WriteUInt32BigEndian(span, (uint)version);
    }

    public (byte[] Nonce, byte[] Ciphertext) Encrypt(string name, int version, ReadOnlySpan<byte> plaintext)
    {
        var nonce = RandomNumberGenerator.GetBytes(NonceLength);
        var ciphertext = Aead.Encrypt(_valueKey, nonce, ValueAad(name, version), plaintext);
        return (nonce, ciphertext);
    }

    /// <summary>Null when the ciphertext does not authenticate under this store, name and version.</summary>
    public Secret? Decrypt(string name, int version, ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> ciphertext)
    {
        if (nonce.Length != NonceLength || ciphertext.Length < Aead.TagSize) return null;
        // The AAD on the stack for any ordinary name (decrypting 10,000 values made three arrays each).
        var length = ValueAadLength(name);
        var aad = length <= 512 ? stackalloc byte[length] : new byte[length];
        WriteValueAad(aad, name, version);
        var plaintext = new byte[ciphertext.Length - Aead.TagSize];
        if (!Aead.Decrypt(_valueKey, nonce, aad, ciphertext, plaintext))
        {
            return null;
        }
        return Secret.Adopt(plaintext);
    }

    /// <summary><c>kw1:</c> + lowercase hex of the first 16 bytes of HMAC-SHA256(fingerprint key, value).</summary>
    public string Fingerprint(ReadOnlySpan<byte> value)
    {
        Span<byte> mac = stackalloc byte[32];
        HMACSHA256.HashData(_fingerprintKey, value, mac);
        return FingerprintPrefix + Convert.ToHexStringLower(mac[..16]);
    }

    public void Dispose()
    {
        _valueKey.Dispose();
        CryptographicOperations.ZeroMemory(_fingerprintKey);
        CryptographicOperations.ZeroMemory(_auditKey);
        _dataKey.Dispose();
    }
}
