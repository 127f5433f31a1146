using System.Text;

namespace Keyward.Crypto.Nix;

/// <summary>
/// The <c>name:base64</c> text Nix uses for secret keys, public keys and signatures. Parsing follows Nix's
/// <c>parseColonBase64</c> and base-64 decoder: split at the first <c>:</c>, non-empty name and data, standard
/// alphabet, decoding stops at the first <c>=</c>, <c>\n</c> is skipped (so a key file's trailing LF is fine) and
/// any other character (CR, space) is an error. Works on bytes so secret keys never become strings.
/// </summary>
internal static class ColonBase64
{
    private static readonly sbyte[] Reverse = BuildReverse();

    private static sbyte[] BuildReverse()
    {
        const string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        var r = new sbyte[256];
        Array.Fill(r, (sbyte)-1);
        for (var i = 0; i < alphabet.Length; i++) r[alphabet[i]] = (sbyte)i;
        return r;
    }

    /// <summary>Splits and decodes; on failure <paramref name="error"/> says why without quoting the data.</summary>
    public static bool TryParse(ReadOnlySpan<byte> text, out string name, out byte[] data, out string? error)
    {
        name = "";
        data = [];
        var colon = text.IndexOf((byte)':');
        if (colon <= 0) { error = colon < 0 ? "missing ':' between the key name and the base64 data" : "empty key name"; return false; }
        try { name = new UTF8Encoding(false, true).GetString(text[..colon]); }
        catch (DecoderFallbackException) { error = "the key name is not valid UTF-8"; return false; }
        if (!TryDecode(text[(colon + 1)..], out data, out error)) return false;
        if (data.Length == 0) { error = "empty base64 data"; return false; }
        return true;
    }

    public static bool TryParse(string text, out string name, out byte[] data, out string? error) =>
        TryParse(Encoding.UTF8.GetBytes(text), out name, out data, out error);

    private static bool TryDecode(ReadOnlySpan<byte> b64, out byte[] data, out string? error)
    {
        var output = new byte[b64.Length * 3 / 4 + 3];
        var count = 0;
        var bits = 0;
        var acc = 0;
        foreach (var c in b64)
        {
            if (c == (byte)'=') break;
            if (c == (byte)'\n') continue;
            var d = Reverse[c];
            if (d < 0)
            {
                Array.Clear(output);
                data = [];
                error = "invalid character in the base64 data";
                return false;
            }
            acc = (acc << 6) | (byte)d;
            bits += 6;
            if (bits >= 8)
            {
                bits -= 8;
                output[count++] = (byte)(acc >> bits);
                acc &= (1 << bits) - 1;
            }
        }
        data = output.AsSpan(0, count).ToArray();
        Array.Clear(output);
        error = null;
        return true;
    }

    public static string Format(string name, ReadOnlySpan<byte> data) => name + ":" + Convert.ToBase64String(data);
}
