using System.Buffers.Binary;
using System.Security.Cryptography;
using Keyward.Core.Errors;

namespace Keyward.Crypto.Age;

/// <summary>The STREAM payload: ChaCha20-Poly1305 over 64 KiB chunks, nonce = 11-byte big-endian
/// counter ‖ last-chunk flag. Two fixed buffers per call, whatever the size of the data.</summary>
internal static class AgePayload
{
    public const int NonceSize = 16;
    public const int ChunkSize = 64 * 1024;
    private const int TagSize = 16;
    private const int EncryptedChunkSize = ChunkSize + TagSize;

    public static void Encrypt(ReadOnlySpan<byte> fileKey, Stream plaintext, Stream output)
    {
        Span<byte> streamNonce = stackalloc byte[NonceSize];
        RandomNumberGenerator.Fill(streamNonce);
        output.Write(streamNonce);
        var key = FileKeyWrap.Hkdf(fileKey, streamNonce, "payload");
        // One spare byte tells whether a full chunk is the last one without a second read-ahead buffer.
        var plain = new byte[ChunkSize + 1];
        var sealedChunk = new byte[EncryptedChunkSize];
        Span<byte> nonce = stackalloc byte[12];
        nonce.Clear();
        try
        {
            using var aead = new ChaCha20Poly1305(key);
            var filled = ReadFull(plaintext, plain);
            ulong counter = 0;
            while (true)
            {
                var last = filled <= ChunkSize;
                var length = last ? filled : ChunkSize;
                SetNonce(nonce, counter, last);
                aead.Encrypt(nonce, plain.AsSpan(0, length), sealedChunk.AsSpan(0, length), sealedChunk.AsSpan(length, TagSize));
                output.Write(sealedChunk, 0, length + TagSize);
                if (last) break;
                plain[0] = plain[ChunkSize];
                filled = 1 + ReadFull(plaintext, plain.AsSpan(1));
                counter++;
            }
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
            CryptographicOperations.ZeroMemory(plain);
        }
    }

    /// <summary>Decrypts chunk by chunk, writing each plaintext chunk as soon as it authenticates
    /// (so on failure the output holds exactly the authenticated prefix).</summary>
    public static void Decrypt(ReadOnlySpan<byte> fileKey, AgeInput input, Stream output)
    {
        Span<byte> streamNonce = stackalloc byte[NonceSize];
        if (input.ReadFull(streamNonce) != NonceSize)
            throw ErrorCodes.AgeHeaderInvalid.Exception("the payload nonce is missing or short");
        var key = FileKeyWrap.Hkdf(fileKey, streamNonce, "payload");
        var sealedChunk = new byte[EncryptedChunkSize];
        var plain = new byte[ChunkSize];
        Span<byte> nonce = stackalloc byte[12];
        nonce.Clear();
        try
        {
            using var aead = new ChaCha20Poly1305(key);
            ulong counter = 0;
            while (true)
            {
                var n = input.ReadFull(sealedChunk);
                if (n == 0)
                    throw Fail(counter == 0 ? "the payload has no chunks" : "the payload is truncated: it ends without a final chunk");
                var last = n < EncryptedChunkSize;
                if (n < TagSize) throw Fail("the payload ends with a chunk shorter than its authentication tag");
                if (last && n == TagSize && counter > 0) throw Fail("the final chunk is empty, which only an empty file may have");
                var length = n - TagSize;
                SetNonce(nonce, counter, last);
                var ok = TryOpen(aead, nonce, sealedChunk.AsSpan(0, n), plain);
                if (!ok && !last)
                {
                    // A full-size chunk may be the final one (plaintext a multiple of 64 KiB).
                    last = true;
                    SetNonce(nonce, counter, last);
                    ok = TryOpen(aead, nonce, sealedChunk.AsSpan(0, n), plain);
                }
                if (!ok) throw Fail($"chunk {counter} failed to authenticate");
                output.Write(plain, 0, length);
                if (last)
                {
                    if (!input.AtEof()) throw Fail("data after the final chunk");
                    return;
                }
                counter++;
            }
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
            CryptographicOperations.ZeroMemory(plain);
        }
    }

    private static bool TryOpen(ChaCha20Poly1305 aead, ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> chunk, Span<byte> plain)
    {
        var length = chunk.Length - TagSize;
        try
        {
            aead.Decrypt(nonce, chunk[..length], chunk[length..], plain[..length]);
            return true;
        }
        catch (CryptographicException)
        {
            return false;
        }
    }

    private static void SetNonce(Span<byte> nonce, ulong counter, bool last)
    {
        // 11-byte big-endian counter: the top three bytes stay zero (2^64 chunks is unreachable).
        BinaryPrimitives.WriteUInt64BigEndian(nonce.Slice(3, 8), counter);
        nonce[11] = last ? (byte)1 : (byte)0;
    }

    private static int ReadFull(Stream stream, Span<byte> buffer)
    {
        var total = 0;
        while (total < buffer.Length)
        {
            var n = stream.Read(buffer[total..]);
            if (n == 0) break;
            total += n;
        }
        return total;
    }

    private static KeywardException Fail(string message) => ErrorCodes.AgePayloadInvalid.Exception(message);
}
