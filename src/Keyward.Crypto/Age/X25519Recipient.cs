using System.Security.Cryptography;
using Keyward.Core.Errors;

namespace Keyward.Crypto.Age;

/// <summary>A native age recipient, <c>age1…</c>: an X25519 public key in Bech32.</summary>
internal sealed class X25519Recipient : IAgeRecipient
{
    public const string StanzaType = "X25519";
    public const string Info = "age-encryption.org/v1/X25519";
    private const string Hrp = "age";

    private readonly byte[] _publicKey;

    public X25519Recipient(byte[] publicKey)
    {
        if (publicKey.Length != Curve25519.Size) throw new ArgumentException("X25519 public keys are 32 bytes", nameof(publicKey));
        _publicKey = publicKey;
    }

    public static X25519Recipient Parse(string text)
    {
        if (!Bech32.TryDecode(text, out var hrp, out var key) || hrp != Hrp)
            throw ErrorCodes.AgeRecipientInvalid.Exception("malformed age1… recipient: not valid Bech32 with the 'age' prefix");
        if (key.Length != Curve25519.Size)
            throw ErrorCodes.AgeRecipientInvalid.Exception($"malformed age1… recipient: the key is {key.Length} bytes, not 32");
        return new X25519Recipient(key);
    }

    public ReadOnlySpan<byte> PublicKey => _publicKey;

    public override string ToString() => Bech32.Encode(Hrp, _publicKey);

    IReadOnlyList<AgeStanza> IAgeRecipient.Wrap(ReadOnlySpan<byte> fileKey)
    {
        Span<byte> ephemeral = stackalloc byte[Curve25519.Size];
        Span<byte> shared = stackalloc byte[Curve25519.Size];
        try
        {
            RandomNumberGenerator.Fill(ephemeral);
            var share = Curve25519.PublicKey(ephemeral);
            if (!Curve25519.TryAgree(ephemeral, _publicKey, shared))
                throw ErrorCodes.AgeRecipientInvalid.Exception("the age1… recipient is a low-order point and cannot be encrypted to");
            var wrapKey = FileKeyWrap.Hkdf(shared, [.. share, .. _publicKey], Info);
            var body = FileKeyWrap.Seal(wrapKey, fileKey);
            CryptographicOperations.ZeroMemory(wrapKey);
            return [new AgeStanza(StanzaType, [AgeBase64.EncodeRaw(share)], body)];
        }
        finally
        {
            CryptographicOperations.ZeroMemory(ephemeral);
            CryptographicOperations.ZeroMemory(shared);
        }
    }
}
