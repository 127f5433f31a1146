using System.Security.Cryptography;
using Keyward.Core.Errors;
using Keyward.Core.Secrets;
using NSec.Cryptography;

namespace Keyward.Crypto.Nix;

/// <summary>
/// A Nix binary-cache signing key: Ed25519, written <c>name:base64(seed ‖ public key)</c> (64 bytes, libsodium's
/// secret-key layout), as <c>nix key generate-secret</c> and <c>nix-store --generate-binary-cache-key</c> write it.
/// </summary>
public sealed class NixSecretKey : IDisposable
{
    private static readonly SignatureAlgorithm Ed25519 = SignatureAlgorithm.Ed25519;
    private readonly Key _key;

    private NixSecretKey(string name, Key key)
    {
        Name = name;
        _key = key;
        PublicKey = new NixPublicKey(name, key.PublicKey.Export(KeyBlobFormat.RawPublicKey));
    }

    public string Name { get; }

    public NixPublicKey PublicKey { get; }

    /// <summary>A fresh key from the system's CSPRNG (via libsodium).</summary>
    public static NixSecretKey Generate(string name)
    {
        ValidateName(name);
        return new NixSecretKey(name, Key.Create(Ed25519, Exportable));
    }

    /// <summary>Parses the Nix text form. A trailing LF is accepted (Nix's decoder skips it); the public half must
    /// match the seed (Nix itself does not check, and would then write signatures no one can verify).</summary>
    public static NixSecretKey Parse(Secret text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (!ColonBase64.TryParse(text.Reveal(), out var name, out var data, out var error))
            throw ErrorCodes.NixKeyInvalid.Exception($"the secret key is not valid: {error}");
        try
        {
            if (data.Length != 64)
                throw ErrorCodes.NixKeyInvalid.Exception($"secret key '{name}' is not valid: it holds {data.Length} bytes, a Nix secret key holds 64 (seed and public key)",
                    data.Length == 32 ? "this looks like a public key; `keyward nix pubkey` derives the public key from a secret key" : null);
            if (!Key.TryImport(Ed25519, data.AsSpan(0, 32), KeyBlobFormat.RawPrivateKey, out var key, Exportable) || key is null)
                throw ErrorCodes.NixKeyInvalid.Exception($"secret key '{name}' is not a valid Ed25519 seed");
            var derived = key.PublicKey.Export(KeyBlobFormat.RawPublicKey);
            if (!CryptographicOperations.FixedTimeEquals(derived, data.AsSpan(32, 32)))
            {
                key.Dispose();
                throw ErrorCodes.NixKeyInvalid.Exception($"secret key '{name}' is corrupt: its public half does not match its seed");
            }
            return new NixSecretKey(name, key);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(data);
        }
    }

    /// <summary>The Nix text form, <c>name:base64(seed ‖ pk)</c>, without a newline.</summary>
    public Secret ToSecret()
    {
        var seed = _key.Export(KeyBlobFormat.RawPrivateKey);
        var blob = new byte[64];
        try
        {
            seed.CopyTo(blob, 0);
            PublicKey.Key.CopyTo(blob, 32);
            var text = Name + ":" + Convert.ToBase64String(blob);
            return Secret.FromUtf8(text);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(seed);
            CryptographicOperations.ZeroMemory(blob);
        }
    }

    public NixSignature Sign(ReadOnlySpan<byte> data) => new(Name, Ed25519.Sign(_key, data));

    public void Dispose() => _key.Dispose();

    internal static void ValidateName(string name)
    {
        if (string.IsNullOrEmpty(name) || name.Contains(':', StringComparison.Ordinal) || name.Any(char.IsWhiteSpace))
            throw ErrorCodes.NixKeyInvalid.Exception($"'{name}' is not a usable key name: it must be non-empty, without ':' or whitespace",
                "name keys after the cache and a generation number, e.g. cache.example.org-1");
    }

    private static KeyCreationParameters Exportable => new() { ExportPolicy = KeyExportPolicies.AllowPlaintextExport };

    public override string ToString() => $"{Name}:{Secret.Redacted}";
}

/// <summary>A Nix public key, <c>name:base64(32 bytes)</c>, as listed in <c>trusted-public-keys</c>.</summary>
public sealed record NixPublicKey
{
    private PublicKey? _imported;

    public NixPublicKey(string name, byte[] key)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(key);
        if (key.Length != 32) throw ErrorCodes.NixKeyInvalid.Exception($"public key '{name}' is not valid: it holds {key.Length} bytes, a Nix public key holds 32");
        Name = name;
        Key = key;
    }

    public string Name { get; }

    public byte[] Key { get; }

    public static NixPublicKey Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (!ColonBase64.TryParse(text.Trim(), out var name, out var data, out var error))
            throw ErrorCodes.NixKeyInvalid.Exception($"'{text.Trim()}' is not a Nix public key: {error}");
        if (data.Length == 64)
            throw ErrorCodes.NixKeyInvalid.Exception($"the key named '{name}' is 64 bytes: that is a secret key, not a public key",
                "never put a secret key in trusted-public-keys; derive the public key with `keyward nix pubkey`");
        return new NixPublicKey(name, data);
    }

    public static bool TryParse(string text, out NixPublicKey? key)
    {
        try { key = Parse(text); return true; }
        catch (KeywardException) { key = null; return false; }
    }

    /// <summary>True when <paramref name="sig"/> is by this key's name and verifies over <paramref name="data"/>
    /// (Nix also requires the names to match).</summary>
    public bool Verify(ReadOnlySpan<byte> data, NixSignature sig)
    {
        ArgumentNullException.ThrowIfNull(sig);
        return string.Equals(sig.KeyName, Name, StringComparison.Ordinal) && VerifyBytes(data, sig.Bytes);
    }

    internal bool VerifyBytes(ReadOnlySpan<byte> data, ReadOnlySpan<byte> signature)
    {
        if (signature.Length != 64) return false;
        _imported ??= PublicKey.Import(SignatureAlgorithm.Ed25519, Key, KeyBlobFormat.RawPublicKey);
        return SignatureAlgorithm.Ed25519.Verify(_imported, data, signature);
    }

    public override string ToString() => ColonBase64.Format(Name, Key);

    public bool Equals(NixPublicKey? other) =>
        other is not null && Name == other.Name && Key.AsSpan().SequenceEqual(other.Key);

    public override int GetHashCode() => HashCode.Combine(Name, Key.Length, Key[0], Key[31]);
}

/// <summary>A narinfo signature, <c>keyname:base64(64-byte Ed25519 signature)</c>.</summary>
public sealed record NixSignature
{
    public NixSignature(string keyName, byte[] bytes)
    {
        ArgumentNullException.ThrowIfNull(keyName);
        ArgumentNullException.ThrowIfNull(bytes);
        if (bytes.Length != 64) throw ErrorCodes.NixSignatureInvalid.Exception($"signature by '{keyName}' is not valid: it holds {bytes.Length} bytes, an Ed25519 signature holds 64");
        KeyName = keyName;
        Bytes = bytes;
    }

    public string KeyName { get; }

    public byte[] Bytes { get; }

    public static NixSignature Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (!ColonBase64.TryParse(text.Trim(), out var name, out var data, out var error))
            throw ErrorCodes.NixSignatureInvalid.Exception($"'{text.Trim()}' is not a Nix signature: {error}");
        return new NixSignature(name, data);
    }

    public override string ToString() => ColonBase64.Format(KeyName, Bytes);

    public bool Equals(NixSignature? other) =>
        other is not null && KeyName == other.KeyName && Bytes.AsSpan().SequenceEqual(other.Bytes);

    public override int GetHashCode() => HashCode.Combine(KeyName, Bytes[0], Bytes[63]);
}
