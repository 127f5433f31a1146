using System.Security.Cryptography;
using Keyward.Core.Errors;
using Keyward.Crypto.Age;

namespace Keyward.Crypto.Tests.Age;

/// <summary>The payload goes in batches of chunks, written by a second thread from the second batch
/// on: sizes around batch edges round-trip, a bad chunk deep in the file releases exactly the
/// authenticated prefix, and a failing output stops encryption with the output's own error.</summary>
public sealed class AgePayloadBatchTests
{
    private const int Chunk = AgePayload.ChunkSize;
    private const int Batch = AgePayload.BatchChunks * Chunk;
    private static readonly X25519Identity Identity = X25519Identity.Generate();

    [Theory]
    [InlineData(Batch - 1)]
    [InlineData(Batch)]
    [InlineData(Batch + 1)]
    [InlineData(2 * Batch)]
    [InlineData(5 * Batch + Chunk + 7)]
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
