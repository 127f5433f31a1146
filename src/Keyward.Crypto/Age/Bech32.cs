namespace Keyward.Crypto.Age;

/// <summary>BIP 173 Bech32 (not Bech32m) as age uses it: no length limit, all upper or all lower
/// case, checksum over the lower-case form. Written here because it is 80 lines and age needs
/// exactly this variant.</summary>
internal static class Bech32
{
    private const string Charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
    private static readonly uint[] Generator = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];

    public static string Encode(string hrp, ReadOnlySpan<byte> data)
    {
        var lowerHrp = hrp.ToLowerInvariant();
        var values = ToFiveBit(data);
        var checksum = Checksum(lowerHrp, values);
        var sb = new System.Text.StringBuilder(lowerHrp.Length + 1 + values.Length + 6);
        sb.Append(lowerHrp).Append('1');
        foreach (var v in values) sb.Append(Charset[v]);
        foreach (var v in checksum) sb.Append(Charset[v]);
        var text = sb.ToString();
        return hrp == lowerHrp ? text : text.ToUpperInvariant();
    }

    /// <summary>Returns false on any malformation: mixed case, bad characters, bad checksum, bad padding.
    /// The human-readable part comes back in lower case.</summary>
    public static bool TryDecode(string text, out string hrp, out byte[] data)
    {
        hrp = "";
        data = [];
        if (text.Length < 8) return false;
        bool hasLower = false, hasUpper = false;
        foreach (var c in text)
        {
            if (c < 33 || c > 126) return false;
            hasLower |= c is >= 'a' and <= 'z';
            hasUpper |= c is >= 'A' and <= 'Z';
        }
        if (hasLower && hasUpper) return false;
        var lower = text.ToLowerInvariant();
        var separator = lower.LastIndexOf('1');
        if (separator < 1 || separator + 7 > lower.Length) return false;
        var hrpPart = lower[..separator];
        var values = new byte[lower.Length - separator - 1];
        for (var i = 0; i < values.Length; i++)
        {
            var index = Charset.IndexOf(lower[separator + 1 + i], StringComparison.Ordinal);
            if (index < 0) return false;
            values[i] = (byte)index;
        }
        if (Polymod(hrpPart, values) != 1) return false;
        var decoded = FromFiveBit(values.AsSpan(0, values.Length - 6));
        if (decoded is null) return false;
        hrp = hrpPart; // always lower case, as the checksum sees it
        data = decoded;
        return true;
    }

    private static byte[] ToFiveBit(ReadOnlySpan<byte> data)
    {
        var output = new byte[(data.Length * 8 + 4) / 5];
        int acc = 0, bits = 0, o = 0;
        foreach (var b in data)
        {
            acc = (acc << 8) | b;
            bits += 8;
            while (bits >= 5)
            {
                bits -= 5;
                output[o++] = (byte)((acc >> bits) & 31);
            }
        }
        if (bits > 0) output[o] = (byte)((acc << (5 - bits)) & 31);
        return output;
    }

    private static byte[]? FromFiveBit(ReadOnlySpan<byte> values)
    {
        var output = new byte[values.Length * 5 / 8];
        int acc = 0, bits = 0, o = 0;
        foreach (var v in values)
        {
            acc = ((acc << 5) | v) & 0xfff;
            bits += 5;
            if (bits >= 8)
            {
                bits -= 8;
                output[o++] = (byte)((acc >> bits) & 0xff);
            }
        }
        // Padding must be shorter than 5 bits and all zero.
        if (bits >= 5 || ((acc << (8 - bits)) & 0xff) != 0) return null;
        return output;
    }

    private static byte[] Checksum(string hrp, byte[] values)
    {
        var withZeros = new byte[values.Length + 6];
        values.CopyTo(withZeros, 0);
        var mod = Polymod(hrp, withZeros) ^ 1;
        var checksum = new byte[6];
        for (var i = 0; i < 6; i++) checksum[i] = (byte)((mod >> (5 * (5 - i))) & 31);
        return checksum;
    }

    private static uint Polymod(string hrp, ReadOnlySpan<byte> values)
    {
        uint chk = 1;
        void Step(uint v)
        {
            var top = chk >> 25;
            chk = ((chk & 0x1ffffff) << 5) ^ v;
            for (var i = 0; i < 5; i++)
                if (((top >> i) & 1) != 0) chk ^= Generator[i];
        }
        foreach (var c in hrp) Step((uint)c >> 5);
        Step(0);
        foreach (var c in hrp) Step((uint)c & 31);
        foreach (var v in values) Step(v);
        return chk;
    }
}
