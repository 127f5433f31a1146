using System.Security.Cryptography;
using Keyward.Core.Errors;
using Keyward.Core.Secrets;

namespace Keyward.Crypto.Age;

/// <summary>A native age identity, <c>AGE-SECRET-KEY-1…</c>: an X25519 secret scalar in upper-case Bech32.
/// It never prints itself; <see cref="ToSecret"/> is the one way to get its text.</summary>
public sealed class X25519Identity : IAgeIdentity
{
    private const string Hrp = "AGE-SECRET-KEY-";

    private readonly byte[] _secretKey;
    private readonly byte[] _publicKey;

    private X25519Identity(byte[] secretKey)
    {
        _secretKey = secretKey;
        _publicKey = Curve25519.PublicKey(secretKey);
        Recipient = Bech32.Encode("age", _publicKey);
    }

    public static X25519Identity Generate() => new(RandomNumberGenerator.GetBytes(Curve25519.Size));

    /// <summary>Parses one <c>AGE-SECRET-KEY-1…</c> string. The error never echoes the text.</summary>
    public static X25519Identity Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (!Bech32.TryDecode(text, out var hrp, out var key) || !string.Equals(hrp, Hrp, StringComparison.OrdinalIgnoreCase))
            throw ErrorCodes.AgeIdentityInvalid.Exception("malformed AGE-SECRET-KEY-1… identity: not valid Bech32 with the AGE-SECRET-KEY- prefix");
        if (key.Length != Curve25519.Size)
            throw ErrorCodes.AgeIdentityInvalid.Exception($"malformed AGE-SECRET-KEY-1… identity: the key is {key.Length} bytes, not 32");
        return new X25519Identity(key);
    }

    /// <summary>The matching recipient, <c>age1…</c>.</summary>
    public string Recipient { get; }

    public IAgeRecipient ToRecipient() => new X25519Recipient(_publicKey);

    /// <summary>The <c>AGE-SECRET-KEY-1…</c> text.</summary>
    public Secret ToSecret() => Secret.FromUtf8(Bech32.Encode(Hrp, _secretKey));

    public override string ToString() => $"X25519 identity for {Recipient}";

    byte[]? IAgeIdentity.Unwrap(IReadOnlyList<AgeStanza> stanzas)
    {
        Span<byte> shared = stackalloc byte[Curve25519.Size];
        foreach (var stanza in stanzas)
        {
            if (stanza.Type != X25519Recipient.StanzaType) continue;
            if (stanza.Args.Count != 1)
                throw ErrorCodes.AgeHeaderInvalid.Exception($"invalid X25519 stanza: {stanza.Args.Count} arguments, expected 1");
            var share = FileKeyWrap.DecodeShare(stanza.Args[0], stanza.Type);
            if (!Curve25519.TryAgree(_secretKey, share, shared))
                throw ErrorCodes.AgeHeaderInvalid.Exception("invalid X25519 stanza: the ephemeral share is a low-order point");
            var wrapKey = FileKeyWrap.Hkdf(shared, [.. share, .. _publicKey], X25519Recipient.Info);
            CryptographicOperations.ZeroMemory(shared);
            var fileKey = FileKeyWrap.Open(wrapKey, stanza.Body, stanza.Type);
            CryptographicOperations.ZeroMemory(wrapKey);
            if (fileKey is not null) return fileKey;
        }
        return null;
    }
}
