using System.Buffers.Text;
using Keyward.Core.Errors;

namespace Keyward.Crypto.Age;

/// <summary>age's ASCII armor: strict PEM with type <c>AGE ENCRYPTED FILE</c>, padded base64 in
/// 64-column lines, no PEM headers. Whitespace is accepted only around the block, CRLF line ends are
/// accepted; anything else is rejected (C2SP age §ASCII armor).</summary>
internal static class AgeArmor
{
    public const string Begin = "-----BEGIN AGE ENCRYPTED FILE-----";
    public const string End = "-----END AGE ENCRYPTED FILE-----";
    public const int ColumnsPerLine = 64;
    public const int BytesPerLine = 48;

    public static bool IsWhitespace(byte b) => b is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n' or (byte)'\v' or (byte)'\f';

    public static KeywardException Fail(string message) => ErrorCodes.AgeArmorInvalid.Exception(message);
}

/// <summary>Decodes armor line by line as it is read, so armored files stream too.</summary>
internal sealed class ArmorReadStream(AgeInput input) : Stream
{
    private const int MaxTrailingWhitespace = 64 * 1024;
    private readonly byte[] _line = new byte[AgeArmor.BytesPerLine];
    private int _lineStart;
    private int _lineEnd;
    private bool _started;
    private bool _sawFinalLine;
    private bool _done;

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        var total = 0;
        while (total < buffer.Length)
        {
            if (_lineStart == _lineEnd && !NextLine()) break;
            var n = Math.Min(_lineEnd - _lineStart, buffer.Length - total);
            _line.AsSpan(_lineStart, n).CopyTo(buffer[total..]);
            _lineStart += n;
            total += n;
        }
        return total;
    }

    private bool NextLine()
    {
        if (_done) return false;
        if (!_started)
        {
            if (!input.SkipWhile(AgeArmor.IsWhitespace)) throw AgeArmor.Fail("empty input: no '-----BEGIN AGE ENCRYPTED FILE-----' line");
            var first = ReadLine(out var begin);
            if (first == AgeInput.Line.Eof || !begin.SequenceEqual("-----BEGIN AGE ENCRYPTED FILE-----"u8))
                throw AgeArmor.Fail("the first line is not '-----BEGIN AGE ENCRYPTED FILE-----'");
            if (first != AgeInput.Line.Terminated) throw AgeArmor.Fail("the armor ends after its first line");
            _started = true;
        }
        var status = ReadLine(out var line);
        if (status == AgeInput.Line.Eof) throw AgeArmor.Fail("the armor ends without '-----END AGE ENCRYPTED FILE-----'");
        if (line.SequenceEqual("-----END AGE ENCRYPTED FILE-----"u8))
        {
            _done = true;
            DrainTrailing();
            return false;
        }
        if (_sawFinalLine) throw AgeArmor.Fail("data after the last (short or padded) line; expected the END line");
        if (status != AgeInput.Line.Terminated) throw AgeArmor.Fail("the armor ends without '-----END AGE ENCRYPTED FILE-----'");
        if (line.Length > AgeArmor.ColumnsPerLine) throw AgeArmor.Fail("an armor line is longer than 64 columns");
        var n = AgeBase64.DecodePaddedLine(line, _line);
        if (n < 0) throw AgeArmor.Fail("an armor line is not canonical padded base64");
        _sawFinalLine = line.Length < AgeArmor.ColumnsPerLine || line[^1] == '=';
        _lineStart = 0;
        _lineEnd = n;
        return true;
    }

    private AgeInput.Line ReadLine(out ReadOnlySpan<byte> line)
    {
        var status = input.ReadLine(1024, out line);
        if (status == AgeInput.Line.TooLong) throw AgeArmor.Fail("an armor line is longer than 64 columns");
        if (!line.IsEmpty && line[^1] == '\r') line = line[..^1];
        return status;
    }

    private void DrainTrailing()
    {
        var skipped = 0;
        if (!input.SkipWhile(b => AgeArmor.IsWhitespace(b) && ++skipped <= MaxTrailingWhitespace)) return;
        throw AgeArmor.Fail(skipped > MaxTrailingWhitespace ? "too much whitespace after the END line" : "data after the END line");
    }

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}

/// <summary>Encodes everything written into armor; <see cref="Complete"/> writes the last line and
/// the END line. Leaves the underlying stream open.</summary>
internal sealed class ArmorWriteStream : Stream
{
    private const int GroupBytes = AgeArmor.BytesPerLine * 256;
    private readonly Stream _output;
    private readonly byte[] _pending = new byte[GroupBytes];
    private readonly byte[] _encoded = new byte[GroupBytes / AgeArmor.BytesPerLine * (AgeArmor.ColumnsPerLine + 1)];
    private int _count;

    public ArmorWriteStream(Stream output)
    {
        _output = output;
        _output.Write("-----BEGIN AGE ENCRYPTED FILE-----\n"u8);
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        while (!buffer.IsEmpty)
        {
            var n = Math.Min(buffer.Length, _pending.Length - _count);
            buffer[..n].CopyTo(_pending.AsSpan(_count));
            _count += n;
            buffer = buffer[n..];
            if (_count == _pending.Length) Emit(_pending.AsSpan(0, _count));
        }
    }

    /// <summary>Encodes whole 48-byte groups as lines; keeps a partial group pending.</summary>
    private void Emit(ReadOnlySpan<byte> data)
    {
        var o = 0;
        var consumed = 0;
        while (data.Length - consumed >= AgeArmor.BytesPerLine)
        {
            Base64.EncodeToUtf8(data.Slice(consumed, AgeArmor.BytesPerLine), _encoded.AsSpan(o), out _, out var written);
            o += written;
            _encoded[o++] = (byte)'\n';
            consumed += AgeArmor.BytesPerLine;
        }
        _output.Write(_encoded, 0, o);
        var rest = data.Length - consumed;
        data[consumed..].CopyTo(_pending);
        _count = rest;
    }

    public void Complete()
    {
        Emit(_pending.AsSpan(0, _count));
        if (_count > 0)
        {
            Base64.EncodeToUtf8(_pending.AsSpan(0, _count), _encoded, out _, out var written);
            _encoded[written++] = (byte)'\n';
            _output.Write(_encoded, 0, written);
            _count = 0;
        }
        _output.Write("-----END AGE ENCRYPTED FILE-----\n"u8);
    }

    public override void Flush() => _output.Flush();
    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}
