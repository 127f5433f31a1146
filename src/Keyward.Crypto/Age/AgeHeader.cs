using System.Security.Cryptography;
using System.Text;
using Keyward.Core.Errors;

namespace Keyward.Crypto.Age;

/// <summary>The age v1 header: version line, stanzas, and the MAC line. Parsing is strict, so the
/// bytes read are exactly the canonical encoding and the MAC is checked over them as read.</summary>
internal sealed class AgeHeader
{
    public const string VersionLine = "age-encryption.org/v1";
    public const int ColumnsPerLine = 64;
    private const int BytesPerLine = ColumnsPerLine / 4 * 3;
    private const int MaxLine = 16 * 1024;
    private const int MaxHeader = 1024 * 1024;

    private AgeHeader(IReadOnlyList<AgeStanza> stanzas, byte[] macInput, byte[] mac)
    {
        Stanzas = stanzas;
        MacInput = macInput;
        Mac = mac;
    }

    public IReadOnlyList<AgeStanza> Stanzas { get; }

    /// <summary>The header bytes up to and including <c>---</c>.</summary>
    public byte[] MacInput { get; }

    public byte[] Mac { get; }

    public static AgeHeader Parse(AgeInput input)
    {
        var raw = new MemoryStream();
        ReadOnlySpan<byte> line;

        if (!NextLine(input, raw, out line) || !line.SequenceEqual(Encoding.ASCII.GetBytes(VersionLine)))
        {
            var unsupported = line.StartsWith("age-encryption.org/"u8) && !line.Contains((byte)'\r');
            throw Fail(unsupported ? "unsupported age version (only v1 is supported)" : "not an age file: the first line is not 'age-encryption.org/v1'");
        }

        var stanzas = new List<AgeStanza>();
        while (true)
        {
            var lineStart = (int)raw.Length;
            if (!NextLine(input, raw, out line)) throw Fail("the header ends before its MAC line ('--- …')");
            if (line.StartsWith("---"u8))
            {
                var parts = Split(line);
                if (parts.Length != 2 || parts[0] != "---") throw Fail("malformed MAC line: expected '--- ' and 43 base64 characters");
                var mac = AgeBase64.DecodeRaw(parts[1]);
                if (mac is null || mac.Length != 32) throw Fail("malformed MAC line: the MAC is not canonical base64 of 32 bytes");
                var macInput = raw.GetBuffer().AsSpan(0, lineStart + 3).ToArray();
                return new AgeHeader(stanzas, macInput, mac);
            }
            if (!line.StartsWith("->"u8)) throw Fail("malformed header: a line is neither a stanza ('-> …') nor the MAC line ('--- …')");
            var fields = Split(line);
            if (fields[0] != "->" || fields.Length < 2) throw Fail("malformed stanza: expected '-> TYPE [ARGS…]'");
            foreach (var arg in fields.AsSpan(1))
            {
                if (arg.Length == 0) throw Fail("malformed stanza: an empty argument (double or trailing space)");
                foreach (var c in arg)
                    if (c < 33 || c > 126) throw Fail("malformed stanza: an argument holds a character outside printable ASCII");
            }
            stanzas.Add(new AgeStanza(fields[1], fields[2..], ReadBody(input, raw)));
        }
    }

    private static byte[] ReadBody(AgeInput input, MemoryStream raw)
    {
        var body = new MemoryStream();
        while (true)
        {
            if (!NextLine(input, raw, out var line)) throw Fail("malformed stanza: the body's final line is missing");
            if (line.Length > ColumnsPerLine) throw Fail("malformed stanza: a body line is longer than 64 columns");
            var decoded = AgeBase64.DecodeRaw(line);
            if (decoded is null) throw Fail("malformed stanza: the body is not canonical unpadded base64");
            body.Write(decoded);
            if (line.Length < ColumnsPerLine) return body.ToArray();
        }
    }

    /// <summary>Reads one LF-terminated line, recording its bytes (with the LF) for the MAC.</summary>
    private static bool NextLine(AgeInput input, MemoryStream raw, out ReadOnlySpan<byte> line)
    {
        var status = input.ReadLine(MaxLine, out line);
        if (status == AgeInput.Line.TooLong) throw Fail("header line too long");
        if (status != AgeInput.Line.Terminated) return false;
        if (raw.Length + line.Length + 1 > MaxHeader) throw Fail("header too large");
        raw.Write(line);
        raw.WriteByte((byte)'\n');
        return true;
    }

    private static string[] Split(ReadOnlySpan<byte> line) => Encoding.Latin1.GetString(line).Split(' ');

    private static KeywardException Fail(string message) => ErrorCodes.AgeHeaderInvalid.Exception(message);

    public static byte[] ComputeMac(ReadOnlySpan<byte> fileKey, ReadOnlySpan<byte> macInput)
    {
        var key = FileKeyWrap.Hkdf(fileKey, [], "header");
        var mac = HMACSHA256.HashData(key, macInput);
        CryptographicOperations.ZeroMemory(key);
        return mac;
    }

    public bool VerifyMac(ReadOnlySpan<byte> fileKey) =>
        CryptographicOperations.FixedTimeEquals(ComputeMac(fileKey, MacInput), Mac);

    /// <summary>Writes the canonical header for <paramref name="stanzas"/> with its MAC.</summary>
    public static void Write(Stream output, IEnumerable<AgeStanza> stanzas, ReadOnlySpan<byte> fileKey)
    {
        var sb = new StringBuilder();
        sb.Append(VersionLine).Append('\n');
        foreach (var stanza in stanzas)
        {
            sb.Append("-> ").Append(stanza.Type);
            foreach (var arg in stanza.Args) sb.Append(' ').Append(arg);
            sb.Append('\n');
            var body = stanza.Body.AsSpan();
            while (body.Length >= BytesPerLine)
            {
                sb.Append(AgeBase64.EncodeRaw(body[..BytesPerLine])).Append('\n');
                body = body[BytesPerLine..];
            }
            sb.Append(AgeBase64.EncodeRaw(body)).Append('\n');
        }
        sb.Append("---");
        var bytes = Encoding.ASCII.GetBytes(sb.ToString());
        var mac = ComputeMac(fileKey, bytes);
        output.Write(bytes);
        output.Write(Encoding.ASCII.GetBytes(" " + AgeBase64.EncodeRaw(mac) + "\n"));
    }
}
