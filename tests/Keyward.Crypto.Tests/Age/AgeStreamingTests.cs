using System.Security.Cryptography;
using Keyward.Crypto.Age;

namespace Keyward.Crypto.Tests.Age;

/// <summary>Encrypt and decrypt stream in constant memory: 64 MiB through each allocates a small,
/// size-independent amount on the calling thread (the fixed batch buffers: one read batch and the
/// writer's ring, about 4 MiB).</summary>
public sealed class AgeStreamingTests : IDisposable
{
    private const long Size = 64L * 1024 * 1024;
    private readonly string _dir = Directory.CreateTempSubdirectory("keyward-age-stream-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void EncryptThenDecrypt64MiB_AllocatesFarLessThanThePayload()
    {
        var identity = X25519Identity.Generate();
        var path = Path.Combine(_dir, "big.age");
        var source = new PatternStream(Size);

        // Warm up once so JIT and static initialisation are not counted.
        AgeFile.EncryptBytes(new byte[10], [identity.ToRecipient()]);

        long encryptAllocated;
        using (var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1))
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            AgeFile.Encrypt(source, file, [identity.ToRecipient()], armor: false);
            encryptAllocated = GC.GetAllocatedBytesForCurrentThread() - before;
        }

        var sink = new HashingSink();
        long decryptAllocated;
        using (var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1))
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            AgeFile.Decrypt(file, sink, [identity]);
            decryptAllocated = GC.GetAllocatedBytesForCurrentThread() - before;
        }

        Assert.Equal(Size, sink.Length);
        Assert.Equal(new PatternStream(Size).Sha256(), sink.Hash());
        const long Budget = 6L * 1024 * 1024;
        Assert.True(encryptAllocated < Budget, $"encrypt allocated {encryptAllocated} bytes for a {Size}-byte payload");
        Assert.True(decryptAllocated < Budget, $"decrypt allocated {decryptAllocated} bytes for a {Size}-byte payload");
    }

    /// <summary>A deterministic, non-repeating-per-chunk byte source that never holds the payload.</summary>
    private sealed class PatternStream(long length) : Stream
    {
        private long _position;

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            var n = (int)Math.Min(buffer.Length, length - _position);
            for (var i = 0; i < n; i++) buffer[i] = (byte)((_position + i) * 31 + ((_position + i) >> 16));
            _position += n;
            return n;
        }

        public byte[] Sha256()
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            var buffer = new byte[1 << 16];
            int n;
            while ((n = Read(buffer)) > 0) hash.AppendData(buffer, 0, n);
            return hash.GetHashAndReset();
        }

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => length;
        public override long Position { get => _position; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    private sealed class HashingSink : Stream
    {
        private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        private long _length;

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            _hash.AppendData(buffer);
            _length += buffer.Length;
        }

        public byte[] Hash() => _hash.GetHashAndReset();

        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => _length;
        public override long Position { get => _length; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing) _hash.Dispose();
            base.Dispose(disposing);
        }
    }
}
