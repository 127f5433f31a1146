namespace Keyward.Crypto.Nix;

/// <summary>
/// Nix's own base-32 ("nix32"): alphabet <c>0123456789abcdfghijklmnpqrsvwxyz</c> (no e, o, u, t), least significant
/// 5-bit group last. Follows NixOS/nix <c>src/libutil/base-nix-32.cc</c>: a 32-byte SHA-256 is 52 characters.
/// </summary>
public static class NixBase32
{
    private const string Alphabet = "0123456789abcdfghijklmnpqrsvwxyz";

    private static readonly sbyte[] Reverse = BuildReverse();

    private static sbyte[] BuildReverse()
    {
        var r = new sbyte[128];
        Array.Fill(r, (sbyte)-1);
        for (var i = 0; i < Alphabet.Length; i++) r[Alphabet[i]] = (sbyte)i;
        return r;
    }

    /// <summary>Characters needed for <paramref name="byteCount"/> bytes.</summary>
    public static int EncodedLength(int byteCount) => byteCount == 0 ? 0 : (byteCount * 8 - 1) / 5 + 1;

    public static string Encode(ReadOnlySpan<byte> bytes)
    {
        var len = EncodedLength(bytes.Length);
        Span<char> chars = len <= 256 ? stackalloc char[len] : new char[len];
        Encode(bytes, chars);
        return new string(chars);
    }

    /// <summary>Writes exactly <see cref="EncodedLength"/> characters into <paramref name="destination"/>.</summary>
    public static void Encode(ReadOnlySpan<byte> bytes, Span<char> destination)
    {
        var len = EncodedLength(bytes.Length);
        if (destination.Length < len) throw new ArgumentException("destination too small", nameof(destination));
        var pos = 0;
        for (var n = len - 1; n >= 0; n--)
        {
            var b = n * 5;
            var i = b / 8;
            var j = b % 8;
            var c = (bytes[i] >> j) | (i + 1 < bytes.Length ? bytes[i + 1] << (8 - j) : 0);
            destination[pos++] = Alphabet[c & 0x1f];
        }
    }

    /// <summary>Decodes <paramref name="text"/>; false on a character outside the alphabet or non-zero excess bits.</summary>
    public static bool TryDecode(ReadOnlySpan<char> text, Span<byte> destination, out int written)
    {
        written = 0;
        var size = text.Length * 5 / 8;
        if (destination.Length < size || EncodedLength(size) != text.Length) return false;
        var hash = destination[..size];
        hash.Clear();
        for (var n = 0; n < text.Length; n++)
        {
            var ch = text[text.Length - n - 1];
            var digit = ch < 128 ? Reverse[ch] : -1;
            if (digit < 0) return false;
            var b = n * 5;
            var i = b / 8;
            var j = b % 8;
            hash[i] |= (byte)(digit << j);
            var carry = j == 0 ? 0 : digit >> (8 - j);
            if (i < size - 1) hash[i + 1] |= (byte)carry;
            else if (carry != 0) return false;
        }
        written = size;
        return true;
    }

    public static byte[] Decode(string text)
    {
        var buffer = new byte[text.Length * 5 / 8];
        if (!TryDecode(text, buffer, out _)) throw new FormatException("not a valid nix32 string");
        return buffer;
    }
}
