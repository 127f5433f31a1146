using System.Buffers.Text;

namespace Keyward.Crypto.Age;

/// <summary>The strict base64 forms age uses: unpadded ("raw") canonical base64 in the header and
/// padded canonical base64 in the armor. Anything a re-encoding would not reproduce byte for byte
/// (whitespace, padding where none belongs, non-zero unused bits) is rejected.</summary>
internal static class AgeBase64
{
    public static string EncodeRaw(ReadOnlySpan<byte> data) => Convert.ToBase64String(data).TrimEnd('=');

    /// <summary>Decodes unpadded canonical base64, or returns null.</summary>
    public static byte[]? DecodeRaw(ReadOnlySpan<byte> ascii)
    {
        if (ascii.Length % 4 == 1) return null;
        foreach (var c in ascii)
            if (!IsAlphabet(c)) return null;
        var padded = new byte[(ascii.Length + 3) / 4 * 4];
        ascii.CopyTo(padded);
        padded.AsSpan(ascii.Length).Fill((byte)'=');
        return DecodeCanonical(padded, ascii.Length);
    }

    public static byte[]? DecodeRaw(string text)
    {
        var bytes = new byte[text.Length];
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] > 127) return null;
            bytes[i] = (byte)text[i];
        }
        return DecodeRaw(bytes);
    }

    /// <summary>Decodes one padded armor line into <paramref name="destination"/>; returns the byte count or -1.</summary>
    public static int DecodePaddedLine(ReadOnlySpan<byte> line, Span<byte> destination)
    {
        if (line.Length == 0 || line.Length % 4 != 0) return -1;
        var pad = line[^1] == '=' ? (line[^2] == '=' ? 2 : 1) : 0;
        for (var i = 0; i < line.Length - pad; i++)
            if (!IsAlphabet(line[i])) return -1;
        var status = Base64.DecodeFromUtf8(line, destination, out var consumed, out var written);
        if (status != System.Buffers.OperationStatus.Done || consumed != line.Length) return -1;
        // Canonical: the unused low bits of the last symbol must be zero.
        if (pad > 0)
        {
            var last = Value(line[line.Length - pad - 1]);
            if ((pad == 1 && (last & 0x03) != 0) || (pad == 2 && (last & 0x0f) != 0)) return -1;
        }
        return written;
    }

    private static byte[]? DecodeCanonical(byte[] padded, int significant)
    {
        var output = new byte[padded.Length / 4 * 3];
        var status = Base64.DecodeFromUtf8(padded, output, out var consumed, out var written);
        if (status != System.Buffers.OperationStatus.Done || consumed != padded.Length) return null;
        var pad = padded.Length - significant;
        if (pad > 0)
        {
            var last = Value(padded[significant - 1]);
            if ((pad == 1 && (last & 0x03) != 0) || (pad == 2 && (last & 0x0f) != 0)) return null;
        }
        return output.AsSpan(0, written).ToArray();
    }

    private static bool IsAlphabet(byte c) =>
        c is (>= (byte)'A' and <= (byte)'Z') or (>= (byte)'a' and <= (byte)'z') or (>= (byte)'0' and <= (byte)'9') or (byte)'+' or (byte)'/';

    private static int Value(byte c) => c switch
    {
        >= (byte)'A' and <= (byte)'Z' => c - 'A',
        >= (byte)'a' and <= (byte)'z' => c - 'a' + 26,
        >= (byte)'0' and <= (byte)'9' => c - '0' + 52,
        (byte)'+' => 62,
        _ => 63,
    };
}
