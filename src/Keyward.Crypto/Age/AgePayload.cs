using System.Buffers.Binary;
using System.Security.Cryptography;
using Keyward.Core.Errors;

namespace Keyward.Crypto.Age;

/// <summary>The STREAM payload: ChaCha20-Poly1305 over 64 KiB chunks, nonce = 11-byte big-endian
/// counter ‖ last-chunk flag. Chunks are processed in batches of <see cref="BatchChunks"/>, and a
/// second thread writes one batch while the next is sealed or opened (see <see cref="ChunkWriter"/>);
/// the buffers are fixed, whatever the size of the data.</summary>
internal static class AgePayload
{
    public const int NonceSize = 16;
    public const int ChunkSize = 64 * 1024;
    private const int TagSize = 16;
    private const int EncryptedChunkSize = ChunkSize + TagSize;

    /// <summary>Chunks per batch: the unit of reading, of handing over to the writer thread, and of
    /// one write call.</summary>
    internal const int BatchChunks = 16;
    private const int PlainBatchSize = BatchChunks * ChunkSize;
    private const int SealedBatchSize = BatchChunks * EncryptedChunkSize;

    public static void Encrypt(ReadOnlySpan<byte> fileKey, Stream plaintext, Stream output)
    {
        Span<byte> streamNonce = stackalloc byte[NonceSize];
        RandomNumberGenerator.Fill(streamNonce);
        output.Write(streamNonce);
        var key = FileKeyWrap.Hkdf(fileKey, streamNonce, "payload");
        // One spare byte tells whether a full batch ends the file without a second read-ahead buffer.
        var plain = new byte[PlainBatchSize + 1];
        try
        {
            using var aead = new ChaCha20Poly1305(key);
            using var writer = new ChunkWriter(output, SealedBatchSize);
            var filled = ReadFull(plaintext, plain);
            ulong counter = 0;
            while (true)
            {
                var last = filled <= PlainBatchSize;
                var slot = writer.Acquire();
                writer.Publish(SealBatch(aead, plain.AsSpan(0, last ? filled : PlainBatchSize), last, ref counter, slot));
                if (last) break;
                plain[0] = plain[PlainBatchSize];
                filled = 1 + ReadFull(plaintext, plain.AsSpan(1));
            }
            writer.Finish();
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
            CryptographicOperations.ZeroMemory(plain);
        }
    }

    /// <summary>Seals a batch of full chunks, or, when <paramref name="last"/>, the file's remaining
    /// chunks, the final one flagged (an empty file has one empty final chunk).</summary>
    private static int SealBatch(ChaCha20Poly1305 aead, ReadOnlySpan<byte> plain, bool last, ref ulong counter, Span<byte> sealedBatch)
    {
        var chunks = last ? Math.Max(1, (plain.Length + ChunkSize - 1) / ChunkSize) : plain.Length / ChunkSize;
        Span<byte> nonce = stackalloc byte[12];
        nonce.Clear();
        var written = 0;
        for (var i = 0; i < chunks; i++)
        {
            var chunk = plain.Slice(i * ChunkSize, Math.Min(ChunkSize, plain.Length - i * ChunkSize));
            SetNonce(nonce, counter, last && i == chunks - 1);
            aead.Encrypt(nonce, chunk, sealedBatch.Slice(written, chunk.Length), sealedBatch.Slice(written + chunk.Length, TagSize));
            written += chunk.Length + TagSize;
            if (!(last && i == chunks - 1)) counter++;
        }
        return written;
    }

    /// <summary>Decrypts batch by batch and releases each chunk's plaintext only after it authenticates
    /// (so on failure the output holds exactly the authenticated prefix).</summary>
    public static void Decrypt(ReadOnlySpan<byte> fileKey, AgeInput input, Stream output)
    {
        Span<byte> streamNonce = stackalloc byte[NonceSize];
        if (input.ReadFull(streamNonce) != NonceSize)
            throw ErrorCodes.AgeHeaderInvalid.Exception("the payload nonce is missing or short");
        var key = FileKeyWrap.Hkdf(fileKey, streamNonce, "payload");
        var sealedBatch = new byte[SealedBatchSize];
        try
        {
            using var aead = new ChaCha20Poly1305(key);
            using var writer = new ChunkWriter(output, PlainBatchSize);
            ulong counter = 0;
            while (true)
            {
                var n = input.ReadFull(sealedBatch);
                var slot = writer.Acquire();
                var written = OpenBatch(aead, sealedBatch.AsSpan(0, n), ref counter, slot, out var final, out var failure);
                writer.Publish(written);
                if (failure is null && final && !input.AtEof()) failure = "data after the final chunk";
                if (failure is not null)
                {
                    writer.Finish();
                    throw Fail(failure);
                }
                if (final) break;
            }
            writer.Finish();
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
        }
    }

    /// <summary>Opens the chunks of one batch in order into <paramref name="plain"/> and returns the
    /// plaintext length of those that authenticated. A batch shorter than its buffer ends at EOF. Each
    /// chunk gets the same checks as if read alone: a short chunk is the final one, and a full-size
    /// chunk that fails as a non-final chunk is retried as the final one.</summary>
    private static int OpenBatch(ChaCha20Poly1305 aead, ReadOnlySpan<byte> batch, ref ulong counter, Span<byte> plain, out bool final, out string? failure)
    {
        final = false;
        failure = null;
        if (batch.IsEmpty)
        {
            failure = counter == 0 ? "the payload has no chunks" : "the payload is truncated: it ends without a final chunk";
            return 0;
        }
        Span<byte> nonce = stackalloc byte[12];
        nonce.Clear();
        var written = 0;
        var offset = 0;
        while (offset < batch.Length)
        {
            var chunk = batch.Slice(offset, Math.Min(EncryptedChunkSize, batch.Length - offset));
            var last = chunk.Length < EncryptedChunkSize;
            if (chunk.Length < TagSize)
            {
                failure = "the payload ends with a chunk shorter than its authentication tag";
                return written;
            }
            if (last && chunk.Length == TagSize && counter > 0)
            {
                failure = "the final chunk is empty, which only an empty file may have";
                return written;
            }
            SetNonce(nonce, counter, last);
            var ok = TryOpen(aead, nonce, chunk, plain[written..]);
            if (!ok && !last)
            {
                // A full-size chunk may be the final one (plaintext a multiple of 64 KiB).
                last = true;
                SetNonce(nonce, counter, last);
                ok = TryOpen(aead, nonce, chunk, plain[written..]);
            }
            if (!ok)
            {
                failure = $"chunk {counter} failed to authenticate";
                return written;
            }
            written += chunk.Length - TagSize;
            offset += chunk.Length;
            if (last)
            {
                final = true;
                if (offset < batch.Length) failure = "data after the final chunk";
                return written;
            }
            counter++;
        }
        return written;
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
