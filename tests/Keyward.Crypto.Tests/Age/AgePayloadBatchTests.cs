using System.Security.Cryptography;
using Keyward.Core.Errors;
using Keyward.Crypto.Age;

namespace Keyward.Crypto.Tests.Age;

/// <summary>The payload goes in batches of chunks, written by a second thread from the second batch
/// on; in a file larger than one batch, each batch's chunks are sealed and opened half on the calling
/// thread, half on another. Sizes around chunk and batch edges round-trip, a bad, reordered or missing
/// chunk anywhere in a batch (either half) releases exactly the authenticated prefix, a final chunk is
/// final whichever half it falls in, and a failing output stops encryption with the output's own error.</summary>
public sealed class AgePayloadBatchTests
{
    private const int Chunk = AgePayload.ChunkSize;
    private const int Batch = AgePayload.BatchChunks * Chunk;
    private static readonly X25519Identity Identity = X25519Identity.Generate();

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(Chunk)]
    [InlineData(Chunk + 1)]
    [InlineData(Batch - 1)]
    [InlineData(Batch)]
    [InlineData(Batch + 1)]
    [InlineData(2 * Batch)]
    [InlineData(5 * Batch + Chunk + 7)]
    [InlineData(3 * Batch + 1)]
    [InlineData(Batch + 2 * Chunk)]
    [InlineData(Batch + 3 * Chunk - 1)]
    public void RoundTrip_AroundBatchEdges(int size)
    {
        var plain = RandomNumberGenerator.GetBytes(size);
        var file = AgeFile.EncryptBytes(plain, [Identity.ToRecipient()]);
        var fullChunks = size / Chunk;
        var chunks = size % Chunk == 0 ? Math.Max(1, fullChunks) : fullChunks + 1;
        Assert.Equal(size + 16 * chunks, file.Length - HeaderLength(file) - AgePayload.NonceSize);
        using var decrypted = AgeFile.DecryptBytes(file, [Identity]);
        Assert.Equal(plain, decrypted.Reveal().ToArray());
    }

    [Theory]
    [InlineData(0)]
    [InlineData(AgePayload.BatchChunks - 1)]
    [InlineData(AgePayload.BatchChunks)]
    [InlineData(3 * AgePayload.BatchChunks + 5)]
    [InlineData(AgePayload.BatchChunks + 3)]                                  // second batch, first half
    [InlineData(AgePayload.BatchChunks + AgePayload.BatchChunks / 2)]         // second batch, first chunk of the second half
    [InlineData(AgePayload.BatchChunks + 12)]                                 // second batch, second half
    [InlineData(2 * AgePayload.BatchChunks - 1)]                              // second batch, its last chunk
    [InlineData(4 * AgePayload.BatchChunks)]                                  // the final (short) chunk
    public void CorruptChunk_ReleasesExactlyTheChunksBeforeIt(int badChunk)
    {
        var plain = RandomNumberGenerator.GetBytes(4 * Batch + 100);
        var file = AgeFile.EncryptBytes(plain, [Identity.ToRecipient()]);
        var payload = HeaderLength(file) + AgePayload.NonceSize;
        file[payload + badChunk * (Chunk + 16) + 5] ^= 1;

        using var output = new MemoryStream();
        var ex = Assert.Throws<KeywardException>(() => AgeFile.Decrypt(new MemoryStream(file), output, [Identity]));
        Assert.Equal(ErrorCodes.AgePayloadInvalid, ex.First.Code);
        Assert.Contains($"chunk {badChunk}", ex.First.Message, StringComparison.Ordinal);
        Assert.Equal(plain.AsSpan(0, badChunk * Chunk).ToArray(), output.ToArray());
    }

    [Theory]
    [InlineData(AgePayload.BatchChunks + 2, AgePayload.BatchChunks + 5)]   // both in the first half of the second batch
    [InlineData(AgePayload.BatchChunks + 7, AgePayload.BatchChunks + 8)]   // across the halves
    [InlineData(AgePayload.BatchChunks + 9, AgePayload.BatchChunks + 14)]  // both in the second half
    public void SwappedChunks_AreRefusedAtTheFirstOfThem(int first, int second)
    {
        var plain = RandomNumberGenerator.GetBytes(3 * Batch);
        var file = AgeFile.EncryptBytes(plain, [Identity.ToRecipient()]);
        var payload = HeaderLength(file) + AgePayload.NonceSize;
        var a = file.AsSpan(payload + first * (Chunk + 16), Chunk + 16);
        var b = file.AsSpan(payload + second * (Chunk + 16), Chunk + 16);
        var copy = a.ToArray();
        b.CopyTo(a);
        copy.CopyTo(b);

        using var output = new MemoryStream();
        var ex = Assert.Throws<KeywardException>(() => AgeFile.Decrypt(new MemoryStream(file), output, [Identity]));
        Assert.Contains($"chunk {first} failed", ex.First.Message, StringComparison.Ordinal);
        Assert.Equal(plain.AsSpan(0, first * Chunk).ToArray(), output.ToArray());
    }

    [Fact]
    public void CutAtAChunkEdgeInsideTheSecondHalf_ReleasesTheChunksThenReportsTheTruncation()
    {
        // 26 whole chunks are left: the second batch's read is short (10 chunks, opened 5 + 5 on two threads), every
        // chunk authenticates as the non-final chunk it is, and the next read finds the end of the file.
        var plain = RandomNumberGenerator.GetBytes(3 * Batch);
        var file = AgeFile.EncryptBytes(plain, [Identity.ToRecipient()]);
        var kept = AgePayload.BatchChunks + 10;
        var cut = HeaderLength(file) + AgePayload.NonceSize + kept * (Chunk + 16);
        using var output = new MemoryStream();
        var ex = Assert.Throws<KeywardException>(() => AgeFile.Decrypt(new MemoryStream(file, 0, cut), output, [Identity]));
        Assert.Contains("truncated", ex.First.Message, StringComparison.Ordinal);
        Assert.Equal(plain.AsSpan(0, kept * Chunk).ToArray(), output.ToArray());
    }

    [Fact]
    public void CutInsideAChunkOfTheSecondHalf_ReleasesTheChunksBeforeIt()
    {
        // The cut leaves a short last chunk, which is then taken as the final one and cannot authenticate as such.
        var plain = RandomNumberGenerator.GetBytes(3 * Batch);
        var file = AgeFile.EncryptBytes(plain, [Identity.ToRecipient()]);
        var bad = AgePayload.BatchChunks + 13;
        var cut = HeaderLength(file) + AgePayload.NonceSize + bad * (Chunk + 16) + 1000;
        using var output = new MemoryStream();
        var ex = Assert.Throws<KeywardException>(() => AgeFile.Decrypt(new MemoryStream(file, 0, cut), output, [Identity]));
        Assert.Contains($"chunk {bad} failed", ex.First.Message, StringComparison.Ordinal);
        Assert.Equal(plain.AsSpan(0, bad * Chunk).ToArray(), output.ToArray());
    }

    [Theory]
    [InlineData(1)]  // second read: final, extra, extra (split 1 + 2): the final chunk is the whole first half
    [InlineData(2)]  // second read: 2 chunks + 2 extra (split 2 + 2): the final chunk ends the first half
    [InlineData(3)]  // second read: 3 chunks + 2 extra (split 2 + 3): the final chunk opens the second half
    public void ChunksAfterAFullSizeFinalChunk_AreRefusedAfterThePlaintext(int chunksInSecondBatch)
    {
        // A plaintext of one batch plus whole chunks ends with a full-size final chunk; two more chunk-sized blocks
        // after it land in the same read.
        var plain = RandomNumberGenerator.GetBytes(Batch + chunksInSecondBatch * Chunk);
        var file = AgeFile.EncryptBytes(plain, [Identity.ToRecipient()]);
        var payload = HeaderLength(file) + AgePayload.NonceSize;
        // Real chunks of the same file (authentic under another counter), not noise.
        var extra = file.AsSpan(payload, 2 * (Chunk + 16)).ToArray();
        using var output = new MemoryStream();
        var ex = Assert.Throws<KeywardException>(() => AgeFile.Decrypt(new MemoryStream([.. file, .. extra]), output, [Identity]));
        Assert.Equal(ErrorCodes.AgePayloadInvalid, ex.First.Code);
        Assert.Contains("data after the final chunk", ex.First.Message, StringComparison.Ordinal);
        Assert.Equal(plain, output.ToArray());
    }

    [Fact]
    public void TruncatedAfterAFullBatch_ReleasesTheBatchThenFails()
    {
        var plain = RandomNumberGenerator.GetBytes(3 * Batch);
        var file = AgeFile.EncryptBytes(plain, [Identity.ToRecipient()]);
        var cut = HeaderLength(file) + AgePayload.NonceSize + 2 * AgePayload.BatchChunks * (Chunk + 16);
        using var output = new MemoryStream();
        var ex = Assert.Throws<KeywardException>(() => AgeFile.Decrypt(new MemoryStream(file, 0, cut), output, [Identity]));
        Assert.Equal(ErrorCodes.AgePayloadInvalid, ex.First.Code);
        Assert.Contains("truncated", ex.First.Message, StringComparison.Ordinal);
        Assert.Equal(plain.AsSpan(0, 2 * Batch).ToArray(), output.ToArray());
    }

    [Fact]
    public void TrailingDataAfterAMultiBatchFile_IsRejectedAfterTheWholePlaintext()
    {
        // A full-size final chunk ends the second batch exactly, so only the EOF probe finds the extra byte.
        var plain = RandomNumberGenerator.GetBytes(2 * Batch);
        var file = AgeFile.EncryptBytes(plain, [Identity.ToRecipient()]);
        using var output = new MemoryStream();
        var ex = Assert.Throws<KeywardException>(() => AgeFile.Decrypt(new MemoryStream([.. file, 0]), output, [Identity]));
        Assert.Equal(ErrorCodes.AgePayloadInvalid, ex.First.Code);
        Assert.Contains("data after the final chunk", ex.First.Message, StringComparison.Ordinal);
        Assert.Equal(plain, output.ToArray());
    }

    [Fact]
    public void FailingOutput_StopsEncryptAndDecryptWithTheOutputsError()
    {
        var plain = RandomNumberGenerator.GetBytes(6 * Batch);
        var encryptEx = Assert.Throws<IOException>(() =>
            AgeFile.Encrypt(new MemoryStream(plain), new FailingStream(3 * Batch), [Identity.ToRecipient()], armor: false));
        Assert.Equal("disk full", encryptEx.Message);

        var file = AgeFile.EncryptBytes(plain, [Identity.ToRecipient()]);
        var decryptEx = Assert.Throws<IOException>(() => AgeFile.Decrypt(new MemoryStream(file), new FailingStream(2 * Batch), [Identity]));
        Assert.Equal("disk full", decryptEx.Message);
    }

    /// <summary>The header ends with the line "--- MAC\n".</summary>
    private static int HeaderLength(byte[] file)
    {
        var macLine = file.AsSpan().IndexOf("\n---"u8) + 1;
        return macLine + file.AsSpan(macLine).IndexOf((byte)'\n') + 1;
    }

    /// <summary>Accepts <paramref name="limit"/> bytes, then fails like a full disk.</summary>
    private sealed class FailingStream(long limit) : Stream
    {
        private long _written;

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            if (_written + buffer.Length > limit) throw new IOException("disk full");
            _written += buffer.Length;
        }

        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => _written;
        public override long Position { get => _written; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
