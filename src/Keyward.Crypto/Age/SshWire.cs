using System.Buffers.Binary;

namespace Keyward.Crypto.Age;

/// <summary>Reads the SSH wire encoding (RFC 4251 §5: uint32, length-prefixed string, mpint).</summary>
internal ref struct SshWire(ReadOnlySpan<byte> data)
{
    private ReadOnlySpan<byte> _rest = data;

    public readonly bool AtEnd => _rest.IsEmpty;

    public bool TryReadUInt32(out uint value)
    {
        value = 0;
        if (_rest.Length < 4) return false;
        value = BinaryPrimitives.ReadUInt32BigEndian(_rest);
        _rest = _rest[4..];
        return true;
    }

    public bool TryReadString(out ReadOnlySpan<byte> value)
    {
        value = default;
        if (!TryReadUInt32(out var length) || length > (uint)_rest.Length) return false;
        value = _rest[..(int)length];
        _rest = _rest[(int)length..];
        return true;
    }

    public readonly ReadOnlySpan<byte> Rest => _rest;

    public static byte[] String(ReadOnlySpan<byte> value)
    {
        var output = new byte[4 + value.Length];
        BinaryPrimitives.WriteUInt32BigEndian(output, (uint)value.Length);
        value.CopyTo(output.AsSpan(4));
        return output;
    }
}
