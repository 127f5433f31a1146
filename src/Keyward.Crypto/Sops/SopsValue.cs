using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Keyward.Core.Errors;

namespace Keyward.Crypto.Sops;

/// <summary>
/// One SOPS value: <c>ENC[AES256_GCM,data:B64,iv:B64,tag:B64,type:T]</c> (getsops/sops <c>aes/cipher.go</c>). AES-256-GCM
/// under the file's data key with a 32-byte IV; the additional data is the value's key path joined with ':' plus a
/// trailing ':' (<c>"attic:admin_token:"</c>), so a value moved to another key fails to decrypt. Empty strings are not
/// encrypted (SOPS writes them as they are).
/// </summary>
internal static partial class SopsValue
{
    public const int IvSize = 32;
    public static readonly string[] Types = ["str", "int", "float", "bool", "bytes", "time", "comment"];

    public static string AdditionalData(IEnumerable<string> path) => string.Join(':', path) + ":";

    public static bool LooksEncrypted(string text) => text.StartsWith("ENC[", StringComparison.Ordinal);

    public static string Encrypt(ReadOnlySpan<byte> plaintext, string type, ReadOnlySpan<byte> dataKey, string additionalData)
    {
        var iv = RandomNumberGenerator.GetBytes(IvSize);
        var data = new byte[plaintext.Length];
        var tag = new byte[SopsGcm.TagSize];
        using (var gcm = new SopsGcm(dataKey))
            gcm.Encrypt(iv, plaintext, data, tag, Encoding.UTF8.GetBytes(additionalData));
        return $"ENC[AES256_GCM,data:{Convert.ToBase64String(data)},iv:{Convert.ToBase64String(iv)},tag:{Convert.ToBase64String(tag)},type:{type}]";
    }

    /// <summary>Decrypts one value; <paramref name="where"/> names it in errors (a key path, never the value).</summary>
    public static byte[] Decrypt(string text, ReadOnlySpan<byte> dataKey, string additionalData, string where, out string type)
    {
        var m = EncRegex().Match(text);
        if (!m.Success) throw ErrorCodes.SopsFormat.Exception($"{where}: the value is not in SOPS's ENC[AES256_GCM,data:…,iv:…,tag:…,type:…] form");
        var data = Base64(m.Groups[1].Value, where, "data");
        var iv = Base64(m.Groups[2].Value, where, "iv");
        var tag = Base64(m.Groups[3].Value, where, "tag");
        type = m.Groups[4].Value;
        if (!Types.Contains(type)) throw ErrorCodes.SopsFormat.Exception($"{where}: unknown value type '{type}'");
        if (iv.Length == 0) throw ErrorCodes.SopsFormat.Exception($"{where}: the IV is empty");
        var plaintext = new byte[data.Length];
        using var gcm = new SopsGcm(dataKey);
        if (!gcm.TryDecrypt(iv, data, tag, plaintext, Encoding.UTF8.GetBytes(additionalData)))
            throw ErrorCodes.SopsTampered.Exception($"{where}: the value does not authenticate under the file's data key (changed, or moved from another key)");
        return plaintext;
    }

    /// <summary>What SOPS's <c>ToBytes</c> feeds the MAC for a decrypted value of <paramref name="type"/>:
    /// the value parsed as its type and printed back (bool as True/False, int in decimal).</summary>
    public static byte[] MacBytes(byte[] plaintext, string type, string where)
    {
        switch (type)
        {
            case "int":
                var s = Encoding.UTF8.GetString(plaintext);
                if (!long.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var l))
                    throw ErrorCodes.SopsFormat.Exception($"{where}: a value of type int does not hold an integer");
                return Encoding.UTF8.GetBytes(l.ToString(CultureInfo.InvariantCulture));
            case "bool":
                return Encoding.UTF8.GetString(plaintext) switch
                {
                    "1" or "t" or "T" or "true" or "TRUE" or "True" => "True"u8.ToArray(),
                    "0" or "f" or "F" or "false" or "FALSE" or "False" => "False"u8.ToArray(),
                    _ => throw ErrorCodes.SopsFormat.Exception($"{where}: a value of type bool does not hold a boolean"),
                };
            default:
                return plaintext;
        }
    }

    private static byte[] Base64(string text, string where, string field)
    {
        try { return Convert.FromBase64String(text); }
        catch (FormatException) { throw ErrorCodes.SopsFormat.Exception($"{where}: the {field} field is not base64"); }
    }

    [GeneratedRegex(@"^ENC\[AES256_GCM,data:(.*),iv:(.+),tag:(.+),type:(.+)\]$", RegexOptions.CultureInvariant | RegexOptions.Singleline)]
    private static partial Regex EncRegex();
}
