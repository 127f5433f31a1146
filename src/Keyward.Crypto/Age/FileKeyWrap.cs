using System.Security.Cryptography;
using System.Text;
using Keyward.Core.Errors;

namespace Keyward.Crypto.Age;

/// <summary>The pieces every native recipient type shares: the 16-byte file key, HKDF-SHA-256 with
/// 32-byte output, and ChaCha20-Poly1305 under a zero nonce for the stanza body.</summary>
internal static class FileKeyWrap
{
    public const int FileKeySize = 16;
    private const int TagSize = 16;

    /// <summary>HKDF-SHA-256 (RFC 5869) with one 32-byte output block, written out with HMAC because
    /// the BCL's OpenSSL-backed HKDF refuses the empty input key the ssh-ed25519 tweak uses.</summary>
    public static byte[] Hkdf(ReadOnlySpan<byte> ikm, ReadOnlySpan<byte> salt, string info)
    {
        Span<byte> prk = stackalloc byte[32];
        HMACSHA256.HashData(salt, ikm, prk);
        var infoBytes = Encoding.ASCII.GetBytes(info);
        var block = new byte[infoBytes.Length + 1];
        infoBytes.CopyTo(block, 0);
        block[^1] = 1;
        var output = HMACSHA256.HashData(prk, block);
        CryptographicOperations.ZeroMemory(prk);
        return output;
    }

    public static byte[] Seal(ReadOnlySpan<byte> wrapKey, ReadOnlySpan<byte> fileKey)
    {
        var body = new byte[fileKey.Length + TagSize];
        using var aead = new ChaCha20Poly1305(wrapKey);
        Span<byte> nonce = stackalloc byte[12];
        nonce.Clear();
        aead.Encrypt(nonce, fileKey, body.AsSpan(0, fileKey.Length), body.AsSpan(fileKey.Length));
        return body;
    }

    /// <summary>The file key, or null if the body does not authenticate under this key (not ours).
    /// A body of the wrong size is a malformed header.</summary>
    public static byte[]? Open(ReadOnlySpan<byte> wrapKey, ReadOnlySpan<byte> body, string stanzaType)
    {
        if (body.Length != FileKeySize + TagSize)
            throw ErrorCodes.AgeHeaderInvalid.Exception($"invalid {stanzaType} stanza: the body is {body.Length} bytes, not {FileKeySize + TagSize}");
        var fileKey = new byte[FileKeySize];
        using var aead = new ChaCha20Poly1305(wrapKey);
        Span<byte> nonce = stackalloc byte[12];
        nonce.Clear();
        try
        {
            aead.Decrypt(nonce, body[..FileKeySize], body[FileKeySize..], fileKey);
            return fileKey;
        }
        catch (CryptographicException)
        {
            return null;
        }
    }

    public static byte[] DecodeShare(string arg, string stanzaType)
    {
        var share = AgeBase64.DecodeRaw(arg);
        if (share is null || share.Length != Curve25519.Size)
            throw ErrorCodes.AgeHeaderInvalid.Exception($"invalid {stanzaType} stanza: the ephemeral share is not canonical base64 of 32 bytes");
        return share;
    }
}
