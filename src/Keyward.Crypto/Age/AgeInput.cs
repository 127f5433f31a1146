namespace Keyward.Crypto.Age;

/// <summary>A small buffered reader over the input stream: lines for the header and the armor,
/// exact-size reads straight into the caller's buffer for payload chunks, and an EOF probe.</summary>
internal sealed class AgeInput(Stream stream, int bufferSize = 64 * 1024)
{
    public enum Line { Terminated, Unterminated, Eof, TooLong }

    private readonly byte[] _buffer = new byte[bufferSize];
    private int _start;
    private int _end;
    private bool _eof;

    /// <summary>Reads up to '\n' (excluded). The span is valid until the next call.</summary>
    public Line ReadLine(int maxLength, out ReadOnlySpan<byte> line)
    {
        var scanned = 0;
        while (true)
        {
            var index = _buffer.AsSpan(_start + scanned, _end - _start - scanned).IndexOf((byte)'\n');
            if (index >= 0)
            {
                var length = scanned + index;
                line = _buffer.AsSpan(_start, length);
                _start += length + 1;
                return length > maxLength ? Line.TooLong : Line.Terminated;
            }
            scanned = _end - _start;
            if (scanned > maxLength)
            {
                line = default;
                return Line.TooLong;
            }
            if (!Fill())
            {
                line = _buffer.AsSpan(_start, _end - _start);
                _start = _end;
                return line.IsEmpty ? Line.Eof : Line.Unterminated;
            }
        }
    }

    /// <summary>Skips bytes while <paramref name="skip"/> holds; returns false at EOF.</summary>
    public bool SkipWhile(Func<byte, bool> skip)
    {
        while (true)
        {
            while (_start < _end)
            {
                if (!skip(_buffer[_start])) return true;
                _start++;
            }
            if (!Fill()) return false;
        }
    }

    /// <summary>The next byte without consuming it, or -1 at EOF.</summary>
    public int Peek()
    {
        if (_start == _end && !Fill()) return -1;
        return _buffer[_start];
    }

    public bool AtEof() => Peek() < 0;

    /// <summary>Fills <paramref name="destination"/> unless EOF comes first; returns the count.</summary>
    public int ReadFull(Span<byte> destination)
    {
        var total = Math.Min(_end - _start, destination.Length);
        _buffer.AsSpan(_start, total).CopyTo(destination);
        _start += total;
        while (total < destination.Length && !_eof)
        {
            var n = stream.Read(destination[total..]);
            if (n == 0) _eof = true;
            total += n;
        }
        return total;
    }

    /// <summary>Reads whatever is available (at least one byte unless EOF).</summary>
    public int ReadSome(Span<byte> destination)
    {
        if (_start == _end)
        {
            if (_eof) return 0;
            if (destination.Length >= _buffer.Length)
            {
                var n = stream.Read(destination);
                if (n == 0) _eof = true;
                return n;
            }
            if (!Fill()) return 0;
        }
        var count = Math.Min(_end - _start, destination.Length);
        _buffer.AsSpan(_start, count).CopyTo(destination);
        _start += count;
        return count;
    }

    private bool Fill()
    {
        if (_eof) return false;
        if (_start > 0)
        {
            _buffer.AsSpan(_start, _end - _start).CopyTo(_buffer);
            _end -= _start;
            _start = 0;
        }
        if (_end == _buffer.Length) return false;
        var n = stream.Read(_buffer, _end, _buffer.Length - _end);
        if (n == 0)
        {
            _eof = true;
            return false;
        }
        _end += n;
        return true;
    }
}
