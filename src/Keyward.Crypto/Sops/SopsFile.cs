using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Keyward.Core.Errors;
using Keyward.Core.Json;
using Keyward.Core.Secrets;
using Keyward.Crypto.Age;

namespace Keyward.Crypto.Sops;

/// <summary>One value of a decrypted SOPS file. <see cref="Key"/> is its key path joined with '/' (as sops-nix names
/// keys); values inside lists are not listed (they have no key of their own).</summary>
public sealed record SopsEntry(string Key, string Type, bool Encrypted, Secret Value);

/// <summary>A decrypted, MAC-verified SOPS file. Disposing it clears every value.</summary>
public sealed class SopsDecrypted(IReadOnlyList<SopsEntry> entries, bool json, string lastModified, IReadOnlyList<string> recipients) : IDisposable
{
    public IReadOnlyList<SopsEntry> Entries => entries;
    public bool Json => json;
    public string LastModified => lastModified;
    /// <summary>The age recipients the data key is encrypted to (public keys).</summary>
    public IReadOnlyList<string> Recipients => recipients;

    public SopsEntry? Find(string key) => entries.FirstOrDefault(e => e.Key == key);

    public void Dispose()
    {
        foreach (var e in entries) e.Value.Dispose();
    }
}

/// <summary>
/// Reads and writes SOPS files (getsops/sops) with age recipients, YAML or JSON. The file's 32-byte data key is an armored
/// age file in <c>sops.age[].enc</c>; every value is <see cref="SopsValue"/>; the MAC is SHA-512 over the values in document
/// order (unencrypted ones too, unless <c>mac_only_encrypted</c>), printed as upper-case hex and stored encrypted with the
/// data key and <c>lastmodified</c> (RFC 3339, whole seconds) as additional data. Comments carry no value and are not part
/// of the MAC, so they are ignored. Not supported (an error says so): key groups/Shamir, comment regexes, dotenv/INI.
/// </summary>
public static partial class SopsFile
{
    public const string Version = "3.9.0";
    private const string MetadataKey = "sops";
    private static readonly byte[] MacOnlyEncryptedInitialization =
        [0x8a, 0x3f, 0xd2, 0xad, 0x54, 0xce, 0x66, 0x52, 0x7b, 0x10, 0x34, 0xf3, 0xd1, 0x47, 0xbe, 0x0b, 0x0b, 0x97, 0x5b, 0x3b, 0xf4, 0x4f, 0x72, 0xc6, 0xfd, 0xad, 0xec, 0x81, 0x76, 0xf2, 0x7d, 0x69];

    public static SopsDecrypted Decrypt(ReadOnlySpan<byte> file, IReadOnlyList<IAgeIdentity> identities)
    {
        ArgumentNullException.ThrowIfNull(identities);
        var root = SopsTree.Parse(file, out var json);
        var meta = root.Find(MetadataKey) as SopsMap
            ?? throw ErrorCodes.SopsFormat.Exception("the file has no `sops` metadata block: it is not encrypted with sops");
        var rules = Rules.Read(meta);
        var (ageEntries, recipients) = AgeEntries(meta);
        var lastModified = Text(meta, "lastmodified") ?? throw ErrorCodes.SopsFormat.Exception("the `sops` block has no lastmodified");
        var mac = Text(meta, "mac");
        if (string.IsNullOrEmpty(mac)) throw ErrorCodes.SopsTampered.Exception("the file has no MAC (sops.mac is missing or empty)");

        var dataKey = OpenDataKey(ageEntries, recipients, identities);
        var entries = new List<SopsEntry>();
        try
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA512);
            if (rules.MacOnlyEncrypted) hash.AppendData(MacOnlyEncryptedInitialization);
            var path = new List<string>();
            foreach (var (key, value) in root.Items)
            {
                if (key == MetadataKey) continue;
                path.Add(key);
                Walk(value, path, inList: false, rules, dataKey.Reveal(), hash, entries);
                path.RemoveAt(path.Count - 1);
            }
            var computed = Convert.ToHexString(hash.GetHashAndReset());
            var stored = Encoding.UTF8.GetString(SopsValue.Decrypt(mac, dataKey.Reveal(), GoRfc3339(lastModified), "sops.mac", out _));
            if (!CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(computed), Encoding.ASCII.GetBytes(stored)))
                throw ErrorCodes.SopsTampered.Exception("the MAC does not match the file's values: a value was changed, added, removed or reordered after sops wrote it");
            return new SopsDecrypted(entries, json, lastModified, recipients);
        }
        catch (KeywardException e) when (e.First.Code == ErrorCodes.SopsTampered && e.First.Message.StartsWith("sops.mac:", StringComparison.Ordinal))
        {
            foreach (var entry in entries) entry.Value.Dispose();
            throw ErrorCodes.SopsTampered.Exception("sops.mac does not authenticate: the MAC or the lastmodified time was changed after sops wrote the file");
        }
        catch
        {
            foreach (var entry in entries) entry.Value.Dispose();
            throw;
        }
        finally
        {
            dataKey.Dispose();
        }
    }

    /// <summary>Writes a SOPS file holding <paramref name="values"/> as strings (type str), encrypted to the age
    /// <paramref name="recipients"/>. A key with '/' is nested (<c>attic/admin_token</c> → <c>attic: {admin_token: …}</c>).</summary>
    public static byte[] Encrypt(IReadOnlyList<KeyValuePair<string, Secret>> values, IReadOnlyList<string> recipients, DateTimeOffset now, bool json)
    {
        ArgumentNullException.ThrowIfNull(values);
        ArgumentNullException.ThrowIfNull(recipients);
        if (recipients.Count == 0) throw ErrorCodes.SopsNoRecipients.Exception("no age recipients given");
        var parsed = recipients.Select(r => (Text: r, Recipient: ParseAgeRecipient(r))).ToArray();
        var tree = new OutMap();
        foreach (var (key, _) in values) tree.Add(key.Split('/'), key);

        var dataKey = RandomNumberGenerator.GetBytes(32);
        try
        {
            var byKey = values.ToDictionary(v => v.Key, v => v.Value, StringComparer.Ordinal);
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA512);
            var encrypted = new Dictionary<string, string>(StringComparer.Ordinal);
            // Walk in the order the file will be written: the MAC is over values in document order.
            foreach (var (fullKey, path) in tree.Leaves([]))
            {
                var value = byKey[fullKey].Reveal();
                if (!IsUtf8(value))
                    throw ErrorCodes.SopsFormat.Exception($"'{fullKey}' is not UTF-8 text: SOPS str values are text (export its encoded form instead)");
                hash.AppendData(value);
                encrypted[fullKey] = value.Length == 0 ? "" : SopsValue.Encrypt(value, "str", dataKey, SopsValue.AdditionalData(path));
            }
            var lastModified = now.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
            var mac = SopsValue.Encrypt(Encoding.ASCII.GetBytes(Convert.ToHexString(hash.GetHashAndReset())), "str", dataKey, lastModified);
            var age = parsed.Select(p => (p.Text, Enc: Encoding.ASCII.GetString(AgeFile.EncryptBytes(dataKey, [p.Recipient], armor: true)))).ToArray();
            return json ? WriteJson(tree, encrypted, age, lastModified, mac) : WriteYaml(tree, encrypted, age, lastModified, mac);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(dataKey);
        }
    }

    private static bool IsUtf8(ReadOnlySpan<byte> bytes)
    {
        try { _ = new UTF8Encoding(false, true).GetCharCount(bytes); return true; }
        catch (DecoderFallbackException) { return false; }
    }

    private static IAgeRecipient ParseAgeRecipient(string text)
    {
        if (!text.StartsWith("age1", StringComparison.Ordinal))
            throw ErrorCodes.SopsNoRecipients.Exception($"'{text.Split(' ')[0]}' is not an age1… recipient: SOPS age entries take X25519 age recipients");
        return AgeKeys.ParseRecipient(text);
    }

    private static void Walk(SopsNode node, List<string> path, bool inList, Rules rules, ReadOnlySpan<byte> dataKey, IncrementalHash hash, List<SopsEntry> entries)
    {
        switch (node)
        {
            case SopsMap map:
                foreach (var (key, value) in map.Items)
                {
                    path.Add(key);
                    Walk(value, path, inList, rules, dataKey, hash, entries);
                    path.RemoveAt(path.Count - 1);
                }
                break;
            case SopsList list:
                foreach (var item in list.Items) Walk(item, path, inList: true, rules, dataKey, hash, entries);
                break;
            case SopsScalar { Type: SopsScalarType.Null }:
                break; // SOPS does not walk nil values
            case SopsScalar scalar:
                var where = string.Join('/', path);
                var encrypted = rules.ShouldBeEncrypted(path);
                byte[] plaintext, macBytes;
                string type;
                if (!encrypted)
                {
                    plaintext = Encoding.UTF8.GetBytes(scalar.Text);
                    macBytes = scalar.MacBytes();
                    type = scalar.Type.ToString().ToLowerInvariant();
                }
                else if (scalar.Type != SopsScalarType.String)
                    throw ErrorCodes.SopsTampered.Exception($"{where}: an encrypted value was replaced by a plain {scalar.Type.ToString().ToLowerInvariant()}");
                else if (scalar.Text.Length == 0)
                    (plaintext, macBytes, type) = ([], [], "str");
                else
                {
                    plaintext = SopsValue.Decrypt(scalar.Text, dataKey, SopsValue.AdditionalData(path), where, out type);
                    macBytes = SopsValue.MacBytes(plaintext, type, where);
                }
                if (!rules.MacOnlyEncrypted || encrypted) hash.AppendData(macBytes);
                if (!inList) entries.Add(new SopsEntry(where, type, encrypted, Secret.FromBytes(plaintext)));
                CryptographicOperations.ZeroMemory(plaintext);
                break;
        }
    }

    private static Secret OpenDataKey(IReadOnlyList<string> encs, IReadOnlyList<string> recipients, IReadOnlyList<IAgeIdentity> identities)
    {
        foreach (var enc in encs)
        {
            Secret key;
            try { key = AgeFile.DecryptBytes(Encoding.UTF8.GetBytes(enc), identities); }
            catch (KeywardException e) when (e.First.Code == ErrorCodes.AgeNoMatch) { continue; }
            catch (KeywardException e) { throw ErrorCodes.SopsFormat.Exception($"an age entry of the `sops` block is not a valid age file: {e.First.Message}"); }
            if (key.Length != 32)
            {
                key.Dispose();
                throw ErrorCodes.SopsFormat.Exception($"the age entry decrypts to {key.Length} bytes, not a 32-byte SOPS data key");
            }
            return key;
        }
        throw ErrorCodes.SopsNoAgeKey.Exception(
            $"none of the {identities.Count} identit{(identities.Count == 1 ? "y" : "ies")} given opens the data key; the file is encrypted to: {string.Join(", ", recipients)}");
    }

    private static (IReadOnlyList<string> Encs, IReadOnlyList<string> Recipients) AgeEntries(SopsMap meta)
    {
        if (meta.Find("key_groups") is SopsList { Items.Count: > 0 } || (meta.Find("shamir_threshold") is SopsScalar { Type: SopsScalarType.Int } t && t.Text != "0"))
            throw ErrorCodes.SopsUnsupported.Exception("the file uses key_groups (Shamir secret sharing)");
        var encs = new List<string>();
        var recipients = new List<string>();
        if (meta.Find("age") is SopsList list)
            foreach (var item in list.Items)
                if (item is SopsMap m && Text(m, "enc") is { Length: > 0 } enc)
                {
                    encs.Add(enc);
                    recipients.Add(Text(m, "recipient") ?? "(unnamed)");
                }
        if (encs.Count == 0)
        {
            var others = OtherKeySources.Where(k => meta.Find(k) is SopsList { Items.Count: > 0 }).ToArray();
            throw ErrorCodes.SopsNoAgeKey.Exception(others.Length == 0
                ? "the `sops` block has no age recipients"
                : $"the data key is encrypted only to {string.Join(", ", others)}, not to an age recipient");
        }
        return (encs, recipients);
    }

    private static string? Text(SopsMap map, string key) => map.Find(key) is SopsScalar { Type: not SopsScalarType.Null } s ? s.Text : null;

    /// <summary>Go's <c>time.Parse(RFC3339)</c> then <c>Format(RFC3339)</c>, which is what SOPS uses as the MAC's additional data:
    /// whole seconds, <c>Z</c> for a zero offset.</summary>
    internal static string GoRfc3339(string text)
    {
        if (!Rfc3339Regex().IsMatch(text) || !DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.None, out var t))
            throw ErrorCodes.SopsFormat.Exception("sops.lastmodified is not an RFC 3339 time");
        var s = t.ToString("yyyy-MM-dd'T'HH:mm:ss", CultureInfo.InvariantCulture);
        var o = t.Offset;
        return o == TimeSpan.Zero ? s + "Z" : s + (o < TimeSpan.Zero ? "-" : "+") + o.Duration().ToString(@"hh\:mm", CultureInfo.InvariantCulture);
    }

    [GeneratedRegex(@"^\d{4}-\d\d-\d\d[Tt]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)$", RegexOptions.CultureInvariant)]
    private static partial Regex Rfc3339Regex();

    /// <summary>The <c>sops</c> block's rules for which values are encrypted (getsops/sops <c>shouldBeEncrypted</c>).</summary>
    private static readonly string[] CommentRegexFields = ["unencrypted_comment_regex", "encrypted_comment_regex"];
    private static readonly string[] OtherKeySources = ["pgp", "kms", "gcp_kms", "azure_kv", "hc_vault", "hckms"];

    private sealed record Rules(string? UnencryptedSuffix, string? EncryptedSuffix, Regex? UnencryptedRegex, Regex? EncryptedRegex, bool MacOnlyEncrypted)
    {
        public static Rules Read(SopsMap meta)
        {
            foreach (var k in CommentRegexFields)
                if (Text(meta, k) is { Length: > 0 }) throw ErrorCodes.SopsUnsupported.Exception($"the file uses {k}");
            return new Rules(
                Text(meta, "unencrypted_suffix") is { Length: > 0 } us ? us : null,
                Text(meta, "encrypted_suffix") is { Length: > 0 } es ? es : null,
                Text(meta, "unencrypted_regex") is { Length: > 0 } ur ? Compile(ur, "unencrypted_regex") : null,
                Text(meta, "encrypted_regex") is { Length: > 0 } er ? Compile(er, "encrypted_regex") : null,
                meta.Find("mac_only_encrypted") is SopsScalar m && SopsTree.IsTrue(m.Text));
        }

        private static Regex Compile(string pattern, string field)
        {
            try { return new Regex(pattern, RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1)); }
            catch (ArgumentException) { throw ErrorCodes.SopsFormat.Exception($"sops.{field} is not a valid regular expression"); }
        }

        public bool ShouldBeEncrypted(IReadOnlyList<string> path)
        {
            var encrypted = true;
            if (UnencryptedSuffix is not null && path.Any(p => p.EndsWith(UnencryptedSuffix, StringComparison.Ordinal))) encrypted = false;
            if (EncryptedSuffix is not null) encrypted = path.Any(p => p.EndsWith(EncryptedSuffix, StringComparison.Ordinal));
            if (UnencryptedRegex is not null && path.Any(UnencryptedRegex.IsMatch)) encrypted = false;
            if (EncryptedRegex is not null) encrypted = path.Any(EncryptedRegex.IsMatch);
            return encrypted;
        }
    }

    // ---- writing ----

    private sealed class OutMap
    {
        public readonly List<(string Key, OutMap? Child, string? Leaf)> Items = [];

        public void Add(string[] parts, string fullKey, int at = 0)
        {
            if (parts.Any(p => p.Length == 0) || parts[0] == MetadataKey)
                throw ErrorCodes.SopsFormat.Exception($"'{fullKey}' cannot be a SOPS key (empty path part, or the reserved `sops`)");
            var i = Items.FindIndex(x => x.Key == parts[at]);
            if (at == parts.Length - 1)
            {
                if (i >= 0) throw ErrorCodes.SopsFormat.Exception($"'{fullKey}' is given twice, or is also a parent of another key");
                Items.Add((parts[at], null, fullKey));
                return;
            }
            if (i < 0) { Items.Add((parts[at], new OutMap(), null)); i = Items.Count - 1; }
            (Items[i].Child ?? throw ErrorCodes.SopsFormat.Exception($"'{fullKey}' nests under a key that holds a value")).Add(parts, fullKey, at + 1);
        }

        public IEnumerable<(string FullKey, string[] Path)> Leaves(string[] prefix)
        {
            foreach (var (key, child, leaf) in Items)
            {
                string[] path = [.. prefix, key];
                if (child is null) yield return (leaf!, path);
                else foreach (var x in child.Leaves(path)) yield return x;
            }
        }
    }

    private static byte[] WriteYaml(OutMap tree, Dictionary<string, string> encrypted, (string Text, string Enc)[] age, string lastModified, string mac)
    {
        var sb = new StringBuilder();
        void Map(OutMap m, string indent)
        {
            foreach (var (key, child, leaf) in m.Items)
            {
                if (child is null) sb.Append(indent).Append(YamlKey(key)).Append(": ").Append(encrypted[leaf!].Length == 0 ? "\"\"" : encrypted[leaf!]).Append('\n');
                else
                {
                    sb.Append(indent).Append(YamlKey(key)).Append(":\n");
                    Map(child, indent + "    ");
                }
            }
        }
        Map(tree, "");
        sb.Append("sops:\n    age:\n");
        foreach (var (recipient, enc) in age)
        {
            sb.Append("        - recipient: ").Append(recipient).Append("\n          enc: |\n");
            foreach (var line in enc.TrimEnd('\n').Split('\n')) sb.Append("            ").Append(line).Append('\n');
        }
        sb.Append("    lastmodified: \"").Append(lastModified).Append("\"\n");
        sb.Append("    mac: ").Append(mac).Append('\n');
        sb.Append("    unencrypted_suffix: _unencrypted\n");
        sb.Append("    version: ").Append(Version).Append('\n');
        return Encoding.UTF8.GetBytes(sb.ToString());
    }

    // A key is written plain when it is a safe plain scalar, else JSON-quoted (a YAML double-quoted scalar).
    private static string YamlKey(string key) => SafeKeyRegex().IsMatch(key) && key is not ("true" or "false" or "null" or "yes" or "no" or "on" or "off")
        ? key : JsonString.Quote(key);

    [GeneratedRegex(@"^[A-Za-z_][A-Za-z0-9_.-]*$", RegexOptions.CultureInvariant)]
    private static partial Regex SafeKeyRegex();

    private static byte[] WriteJson(OutMap tree, Dictionary<string, string> encrypted, (string Text, string Enc)[] age, string lastModified, string mac)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            void Map(OutMap m)
            {
                w.WriteStartObject();
                foreach (var (key, child, leaf) in m.Items)
                {
                    w.WritePropertyName(key);
                    if (child is null) w.WriteStringValue(encrypted[leaf!]);
                    else Map(child);
                }
                w.WriteEndObject();
            }
            w.WriteStartObject();
            foreach (var (key, child, leaf) in tree.Items)
            {
                w.WritePropertyName(key);
                if (child is null) w.WriteStringValue(encrypted[leaf!]);
                else Map(child);
            }
            w.WritePropertyName(MetadataKey);
            w.WriteStartObject();
            w.WritePropertyName("age");
            w.WriteStartArray();
            foreach (var (recipient, enc) in age)
            {
                w.WriteStartObject();
                w.WriteString("recipient", recipient);
                w.WriteString("enc", enc);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteString("lastmodified", lastModified);
            w.WriteString("mac", mac);
            w.WriteString("unencrypted_suffix", "_unencrypted");
            w.WriteString("version", Version);
            w.WriteEndObject();
            w.WriteEndObject();
        }
        stream.WriteByte((byte)'\n');
        return stream.ToArray();
    }
}
