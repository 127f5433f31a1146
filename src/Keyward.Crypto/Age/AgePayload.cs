using System.Buffers.Binary;
using System.Security.Cryptography;
using Keyward.Core.Errors;

namespace Keyward.Crypto.Age;

/// <summary>The STREAM payload: ChaCha20-Poly1305 over 64 KiB chunks, nonce = 11-byte big-endian
/// counter ‖ last-chunk flag. Chunks are processed in batches of <see cref="BatchChunks"/>, and a
/// second thread writes one batch while the next is sealed or opened (see <see cref="ChunkWriter"/>).
/// In a file larger than one batch, each batch's chunks are sealed or opened half on a third thread
/// (<see cref="SecondCore"/>). The buffers are fixed, whatever the size of the data.</summary>
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
        ChaCha20Poly1305? secondAead = null;
        try
        {
            using var aead = new ChaCha20Poly1305(key);
            using var writer = new ChunkWriter(output, SealedBatchSize);
            using var second = new SecondCore();
            var filled = ReadFull(plaintext, plain);
            ulong counter = 0;
            while (true)
            {
                var last = filled <= PlainBatchSize;
                var slot = writer.Acquire();
                // A file of one batch (up to 1 MiB) is sealed on this thread alone.
                var split = (last && counter == 0) ? null : second;
                if (split is not null) secondAead ??= new ChaCha20Poly1305(key);
                writer.Publish(SealBatch(aead, secondAead, split, plain, last ? filled : PlainBatchSize, last, ref counter, slot));
                if (last) break;
                plain[0] = plain[PlainBatchSize];
                filled = 1 + ReadFull(plaintext, plain.AsSpan(1));
            }
            writer.Finish();
        }
        finally
        {
            secondAead?.Dispose();
            CryptographicOperations.ZeroMemory(key);
            CryptographicOperations.ZeroMemory(plain);
        }
    }

    /// <summary>Seals a batch of full chunks, or, when <paramref name="last"/>, the file's remaining
    /// chunks, the final one flagged (an empty file has one empty final chunk). With <paramref name="second"/>,
    /// the second half of the chunks is sealed there, with <paramref name="secondAead"/>, while this thread
    /// seals the first half: every chunk's nonce is its own counter, so the halves are independent.</summary>
    private static int SealBatch(ChaCha20Poly1305 aead, ChaCha20Poly1305? secondAead, SecondCore? second, byte[] plain, int length, bool last, ref ulong counter, byte[] sealedBatch)
    {
        var chunks = last ? Math.Max(1, (length + ChunkSize - 1) / ChunkSize) : length / ChunkSize;
        var start = counter;
        counter += last ? (ulong)(chunks - 1) : (ulong)chunks;
        if (second is null || chunks < 2)
            return SealChunks(aead, plain, 0, length, last, start, sealedBatch, 0);
        // The first half holds only full, non-final chunks; the second half ends the file when last.
        var half = chunks / 2;
        var secondLength = 0;
        second.Begin(() => secondLength = SealChunks(secondAead!, plain, half * ChunkSize, length - half * ChunkSize, last, start + (ulong)half, sealedBatch, half * EncryptedChunkSize));
        int firstLength;
        try
        {
            firstLength = SealChunks(aead, plain, 0, half * ChunkSize, false, start, sealedBatch, 0);
        }
        finally
        {
            second.End();
        }
        return firstLength + secondLength;
    }

    /// <summary>Seals <paramref name="length"/> bytes of plaintext from <paramref name="plainOffset"/> as consecutive
    /// chunks numbered from <paramref name="counter"/>, the last of them flagged final when <paramref name="last"/>;
    /// returns the sealed length.</summary>
    private static int SealChunks(ChaCha20Poly1305 aead, byte[] plainBuffer, int plainOffset, int length, bool last, ulong counter, byte[] sealedBuffer, int sealedOffset)
    {
        var plain = plainBuffer.AsSpan(plainOffset, length);
        var sealedBatch = sealedBuffer.AsSpan(sealedOffset);
        var chunks = last ? Math.Max(1, (plain.Length + ChunkSize - 1) / ChunkSize) : plain.Length / ChunkSize;
        Span<byte> nonce = stackalloc byte[12];
        nonce.Clear();
        var written = 0;
        for (var i = 0; i < chunks; i++)
        {
            var chunk = plain.Slice(i * ChunkSize, Math.Min(ChunkSize, plain.Length - i * ChunkSize));
            SetNonce(nonce, counter + (ulong)i, last && i == chunks - 1);
            aead.Encrypt(nonce, chunk, sealedBatch.Slice(written, chunk.Length), sealedBatch.Slice(written + chunk.Length, TagSize));
            written += chunk.Length + TagSize;
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
        ChaCha20Poly1305? secondAead = null;
        try
        {
            using var aead = new ChaCha20Poly1305(key);
            using var writer = new ChunkWriter(output, PlainBatchSize);
            using var second = new SecondCore();
            ulong counter = 0;
            while (true)
            {
                var n = input.ReadFull(sealedBatch);
                var slot = writer.Acquire();
                // A file of one batch (a short first read) is opened on this thread alone.
                var split = (n < SealedBatchSize && counter == 0) ? null : second;
                if (split is not null) secondAead ??= new ChaCha20Poly1305(key);
                var written = OpenBatch(aead, secondAead, split, sealedBatch, n, ref counter, slot, out var final, out var failure);
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
            secondAead?.Dispose();
            CryptographicOperations.ZeroMemory(key);
        }
    }

    /// <summary>Opens the first <paramref name="length"/> bytes of <paramref name="batch"/> into
    /// <paramref name="plain"/> and returns the plaintext length of the chunks that authenticated, in order, up
    /// to the first that did not. With <paramref name="second"/>, the chunks of the second half are opened there
    /// meanwhile, into their own place in <paramref name="plain"/>; their plaintext counts only if every chunk
    /// of the first half authenticated and none of them was final. What is past the returned length is never
    /// released (the writer writes exactly that many bytes).</summary>
    private static int OpenBatch(ChaCha20Poly1305 aead, ChaCha20Poly1305? secondAead, SecondCore? second, byte[] batch, int length, ref ulong counter, byte[] plain, out bool final, out string? failure)
    {
        var chunks = (length + EncryptedChunkSize - 1) / EncryptedChunkSize;
        if (second is null || chunks < 2)
            return OpenChunks(aead, batch.AsSpan(0, length), ref counter, plain, out final, out failure);
        var half = chunks / 2;
        var secondCounter = counter + (ulong)half;
        var secondWritten = 0;
        var secondFinal = false;
        string? secondFailure = null;
        second.Begin(() => secondWritten = OpenChunks(secondAead!, batch.AsSpan(half * EncryptedChunkSize, length - half * EncryptedChunkSize),
            ref secondCounter, plain.AsSpan(half * ChunkSize), out secondFinal, out secondFailure));
        int written;
        try
        {
            written = OpenChunks(aead, batch.AsSpan(0, half * EncryptedChunkSize), ref counter, plain, out final, out failure);
        }
        finally
        {
            second.End();
        }
        if (failure is not null) return written;
        if (final)
        {
            // A full-size final chunk in the first half, with chunks after it.
            failure = "data after the final chunk";
            return written;
        }
        counter = secondCounter;
        final = secondFinal;
        failure = secondFailure;
        return written + secondWritten;
    }

    /// <summary>Opens consecutive chunks in order into <paramref name="plain"/> and returns the
    /// plaintext length of those that authenticated. A batch shorter than its buffer ends at EOF. Each
    /// chunk gets the same checks as if read alone: a short chunk is the final one, and a full-size
    /// chunk that fails as a non-final chunk is retried as the final one.</summary>
    private static int OpenChunks(ChaCha20Poly1305 aead, ReadOnlySpan<byte> batch, ref ulong counter, Span<byte> plain, out bool final, out string? failure)
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
