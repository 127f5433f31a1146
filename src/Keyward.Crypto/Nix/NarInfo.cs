using System.Globalization;
using System.Text;
using Keyward.Core.Errors;

namespace Keyward.Crypto.Nix;

/// <summary>
/// A <c>.narinfo</c> file (NixOS/nix <c>src/libstore/nar-info.cc</c>): <c>Key: Value</c> lines, the value taken
/// from the character after <c>": "</c>; unknown keys are kept. Required: StorePath, URL, NarHash and a non-zero
/// NarSize. The lines are kept in their original order so <see cref="ToText"/> and <see cref="WithSignature"/>
/// change nothing but the added <c>Sig:</c> line.
/// A known key other than <c>Sig</c> may appear once: Nix's parser keeps the <em>last</em> StorePath, NarHash, NarSize…
/// (and refuses a second non-empty References), so a reader that kept the first could verify different fields than
/// Nix trusts. Duplicates are refused, never resolved: Keyward never accepts a narinfo Nix would read differently.
/// </summary>
public sealed class NarInfo
{
    private readonly List<KeyValuePair<string, string>> _lines;

    private NarInfo(List<KeyValuePair<string, string>> lines, string storePath, string url, byte[] narHash, ulong narSize,
        IReadOnlyList<string> references, IReadOnlyList<string> sigs)
    {
        _lines = lines;
        StorePath = storePath;
        Url = url;
        NarHashBytes = narHash;
        NarSize = narSize;
        References = references;
        Sigs = sigs;
    }

    /// <summary>The full store path, e.g. <c>/nix/store/…-hello-2.12</c>.</summary>
    public string StorePath { get; }

    /// <summary>The store directory of <see cref="StorePath"/> (<c>/nix/store</c>).</summary>
    public string StoreDir => StorePath[..StorePath.LastIndexOf('/')];

    /// <summary>The 32-character hash part of the store path, which names the file (<c>HASH.narinfo</c>).</summary>
    public string HashPart
    {
        get
        {
            var baseName = StorePath[(StorePath.LastIndexOf('/') + 1)..];
            var dash = baseName.IndexOf('-', StringComparison.Ordinal);
            return dash < 0 ? baseName : baseName[..dash];
        }
    }

    public string Url { get; }

    /// <summary>The SHA-256 of the NAR (whatever encoding the file used).</summary>
    public byte[] NarHashBytes { get; }

    /// <summary>The NAR hash as Nix prints it in fingerprints: <c>sha256:</c> + nix32.</summary>
    public string NarHash => "sha256:" + NixBase32.Encode(NarHashBytes);

    public ulong NarSize { get; }

    /// <summary>Reference base names, as written (space-separated in the file).</summary>
    public IReadOnlyList<string> References { get; }

    /// <summary>The <c>Sig:</c> values, in file order.</summary>
    public IReadOnlyList<string> Sigs { get; }

    public string? Deriver => Get("Deriver");

    public string? Compression => Get("Compression");

    public string? CA => Get("CA");

    /// <summary>The value of the first line with this key, if any.</summary>
    public string? Get(string key)
    {
        foreach (var kv in _lines) if (kv.Key == key) return kv.Value;
        return null;
    }

    public static NarInfo Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var lines = new List<KeyValuePair<string, string>>();
        string? storePath = null, url = null, narHashText = null, narSizeText = null, referencesText = null;
        var sigs = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var lineNo = 0;
        foreach (var raw in text.Split('\n'))
        {
            lineNo++;
            if (raw.Length == 0) continue; // the trailing newline, or blank lines
            var colon = raw.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0) throw Invalid($"line {lineNo} is not `Key: Value`");
            var key = raw[..colon];
            var value = colon + 2 <= raw.Length ? raw[(colon + 2)..] : "";
            lines.Add(new(key, value));
            if (SingleKeys.Contains(key) && !seen.Add(key))
                throw Invalid($"line {lineNo} is a second {key} line (Nix uses the last one, so a narinfo with two is refused)");
            switch (key)
            {
                case "StorePath": storePath ??= value; break;
                case "URL": url ??= value; break;
                case "NarHash": narHashText ??= value; break;
                case "NarSize": narSizeText ??= value; break;
                case "References":
                    if (referencesText is not null) throw Invalid("it has a second References line");
                    referencesText = value;
                    break;
                case "Sig": sigs.Add(value); break;
            }
        }
        if (string.IsNullOrEmpty(storePath)) throw Invalid("it has no StorePath line");
        if (!storePath.StartsWith('/') || storePath.LastIndexOf('/') <= 0 || storePath.EndsWith('/'))
            throw Invalid($"StorePath '{storePath}' is not an absolute store path");
        if (string.IsNullOrEmpty(url)) throw Invalid($"{storePath}: it has no URL line");
        if (string.IsNullOrEmpty(narHashText)) throw Invalid($"{storePath}: it has no NarHash line");
        var narHash = ParseSha256(narHashText) ?? throw Invalid($"{storePath}: NarHash '{narHashText}' is not a SHA-256 hash (sha256:nix32, sha256:hex, sha256:base64 or sha256-base64)");
        if (!ulong.TryParse(narSizeText, NumberStyles.None, CultureInfo.InvariantCulture, out var narSize) || narSize == 0)
            throw Invalid($"{storePath}: NarSize is missing or not a positive integer");
        var refs = string.IsNullOrWhiteSpace(referencesText)
            ? Array.Empty<string>()
            : referencesText.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return new NarInfo(lines, storePath, url, narHash, narSize, refs, sigs);
    }

    /// <summary>The keys NixOS/nix's <c>NarInfo</c> constructor reads (all but Sig, which is a set).</summary>
    private static readonly HashSet<string> SingleKeys = new(StringComparer.Ordinal)
    {
        "StorePath", "URL", "Compression", "FileHash", "FileSize", "NarHash", "NarSize", "References", "Deriver", "System", "CA",
    };

    private static KeywardException Invalid(string why) => ErrorCodes.NarInfoInvalid.Exception($"not a valid narinfo: {why}");

    /// <summary>Accepts the encodings <c>Hash::parseAnyPrefixed</c> does for SHA-256.</summary>
    internal static byte[]? ParseSha256(string text)
    {
        string body;
        bool sri;
        if (text.StartsWith("sha256:", StringComparison.Ordinal)) { body = text[7..]; sri = false; }
        else if (text.StartsWith("sha256-", StringComparison.Ordinal)) { body = text[7..]; sri = true; }
        else return null;
        var buffer = new byte[32];
        if (!sri && body.Length == 52) return NixBase32.TryDecode(body, buffer, out _) ? buffer : null;
        if (!sri && body.Length == 64) { try { return Convert.FromHexString(body); } catch (FormatException) { return null; } }
        if (body.Length == 44 && Convert.TryFromBase64String(body, buffer, out var n) && n == 32) return buffer;
        return null;
    }

    /// <summary>What is signed: <c>1;storePath;sha256:nix32;narSize;ref1,ref2</c>, references as full paths, sorted
    /// by byte order and de-duplicated (NixOS/nix <c>ValidPathInfo::fingerprint</c>).</summary>
    public string Fingerprint()
    {
        var sb = new StringBuilder(160 + References.Count * 64);
        sb.Append("1;").Append(StorePath).Append(';').Append(NarHash).Append(';')
          .Append(NarSize.ToString(CultureInfo.InvariantCulture)).Append(';');
        if (References.Count > 0)
        {
            var dir = StoreDir;
            var sorted = References.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal);
            var first = true;
            foreach (var r in sorted)
            {
                if (!first) sb.Append(',');
                sb.Append(dir).Append('/').Append(r);
                first = false;
            }
        }
        return sb.ToString();
    }

    /// <summary>The fingerprint as the UTF-8 bytes that are signed.</summary>
    public byte[] FingerprintBytes() => Encoding.UTF8.GetBytes(Fingerprint());

    /// <summary>The file text, <c>Key: Value\n</c> per line in the original order.</summary>
    public string ToText()
    {
        var sb = new StringBuilder();
        foreach (var kv in _lines) sb.Append(kv.Key).Append(": ").Append(kv.Value).Append('\n');
        return sb.ToString();
    }

    /// <summary>A copy with <paramref name="s"/> added as a <c>Sig:</c> line after the last existing one (else before
    /// <c>CA:</c>, else at the end), where Nix's writer puts it. An identical signature is not added twice.</summary>
    public NarInfo WithSignature(NixSignature s)
    {
        ArgumentNullException.ThrowIfNull(s);
        var text = s.ToString();
        if (Sigs.Contains(text, StringComparer.Ordinal)) return this;
        var lines = new List<KeyValuePair<string, string>>(_lines);
        var at = lines.FindLastIndex(kv => kv.Key == "Sig");
        if (at >= 0) at++;
        else
        {
            at = lines.FindIndex(kv => kv.Key == "CA");
            if (at < 0) at = lines.Count;
        }
        lines.Insert(at, new("Sig", text));
        return new NarInfo(lines, StorePath, Url, NarHashBytes, NarSize, References, [.. Sigs, text]);
    }

    /// <summary>Signs the fingerprint with <paramref name="key"/> and returns the narinfo with the new Sig line.</summary>
    public NarInfo Sign(NixSecretKey key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return WithSignature(key.Sign(FingerprintBytes()));
    }
}
