namespace Keyward.Sinks.Files;

/// <summary>
/// The temporary file's stream in <see cref="AtomicFile"/>: writes go straight to the file (no buffer), and each time
/// <see cref="Threshold"/> more bytes have been written it asks the kernel to start writing them to disk
/// (<c>sync_file_range(SYNC_FILE_RANGE_WRITE)</c>, which does not wait). A large output (a 64 MiB <c>keyward encrypt
/// -o</c>) then streams to the disk while the rest is still being produced, and the <c>fsync</c> before the rename waits
/// only for the tail instead of for the whole file. Durability is unchanged: the fsync still comes before the rename.
/// Files smaller than <see cref="Threshold"/> (every sink file) never make the call.
/// </summary>
internal sealed class WritebackStream(FileStream inner, int fd) : Stream
{
    public const int Threshold = 1 << 20;

    private long _written;
    private long _started;

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => _written;
    public override long Position { get => _written; set => throw new NotSupportedException(); }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        inner.Write(buffer);
        _written += buffer.Length;
        if (_written - _started >= Threshold)
        {
            Posix.StartWriteback(fd, _started, _written - _started);
            _started = _written;
        }
    }

    public override void Flush() => inner.Flush();

    /// <summary>Flushes to the file and, with <paramref name="flushToDisk"/>, fsyncs it.</summary>
    public void Flush(bool flushToDisk) => inner.Flush(flushToDisk);

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing) inner.Dispose();
        base.Dispose(disposing);
    }
}
