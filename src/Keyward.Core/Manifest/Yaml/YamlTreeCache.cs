using System.Security.Cryptography;
using System.Text;

namespace Keyward.Core.Manifest.Yaml;

/// <summary>
/// The parsed YAML tree of the last manifest read with a state directory, kept in that directory
/// (<c>manifest-tree.cache</c>) so that a run over an unchanged manifest skips the YAML parser, the largest part of
/// loading a 10,000-credential manifest. Only the syntax tree is kept: every rule of the manifest is still checked on
/// every run, and the model is still built from the tree.
/// <para>
/// The entry is keyed by SHA-256 over the Keyward build, the file name (it is in every location) and the manifest's
/// text, and carries a SHA-256 of its own body: another manifest, another build, or a torn or damaged file never
/// matches, and the manifest is parsed as if there were no cache. Only a manifest whose parse reported nothing is kept.
/// </para>
/// <para>
/// Why this is safe to keep on disk: the file lives in the state directory (0700), next to <c>identity.txt</c>. Anyone
/// who can write it can read the identity, and with it every value in the store; changing what the manifest says
/// through this file gives them nothing they do not already have. No value of a secret is in it that is not in the
/// manifest itself (the manifest names credentials and paths; literal values it holds are in the tree as in the text).
/// The file is written 0600 through the one atomic writer (the loader's <see cref="ManifestCacheWriter"/>), never through a link.
/// </para>
/// </summary>
internal static class YamlTreeCache
{
    public const string FileName = "manifest-tree.cache";
    private static readonly byte[] Magic = "KWYT\u0001\0"u8.ToArray();
    private const int HashLength = 32;

    /// <summary>The tree of <paramref name="text"/> from the cache in <paramref name="directory"/>, or null.</summary>
    public static YNode? TryRead(string directory, string text, string file)
    {
        try
        {
            var path = Path.Combine(directory, FileName);
            if (Build is not { } build || !File.Exists(path)) return null;
            var bytes = File.ReadAllBytes(path);
            var header = Magic.Length + 2 * HashLength;
            if (bytes.Length < header || !bytes.AsSpan(0, Magic.Length).SequenceEqual(Magic)) return null;
            if (!bytes.AsSpan(Magic.Length, HashLength).SequenceEqual(Key(build, text, file))) return null;
            var body = bytes.AsSpan(header);
            if (!SHA256.HashData(body).AsSpan().SequenceEqual(bytes.AsSpan(Magic.Length + HashLength, HashLength))) return null;
            using var reader = new BinaryReader(new MemoryStream(bytes, header, bytes.Length - header, writable: false), Encoding.UTF8);
            var strings = new Dictionary<string, string>(StringComparer.Ordinal);
            var root = ReadNode(reader, file, strings, 0);
            return reader.BaseStream.Position == reader.BaseStream.Length ? root : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or EndOfStreamException or InvalidDataException or FormatException or ArgumentException)
        {
            return null; // no usable entry: parse
        }
    }

    /// <summary>The cache file's content for <paramref name="root"/> as the tree of <paramref name="text"/>, or null when
    /// it is not to be kept (no build id, or a tree of aliases that would grow too large written out). The loader writes
    /// it through the one atomic writer it is given.</summary>
    public static byte[]? Encode(string text, string file, YNode root)
    {
        if (Build is not { } build) return null;
        using var body = new MemoryStream();
        using (var writer = new BinaryWriter(body, Encoding.UTF8, leaveOpen: true))
        {
            // Aliases share nodes in the tree; written out they are copied. A document of aliases of aliases could
            // grow without bound that way: such a manifest is simply not cached.
            var budget = 8L * text.Length + 4096;
            if (!WriteNode(writer, root, ref budget, 0)) return null;
        }
        var content = body.GetBuffer().AsSpan(0, (int)body.Length);
        var bytes = new byte[Magic.Length + 2 * HashLength + content.Length];
        Magic.CopyTo(bytes, 0);
        Key(build, text, file).CopyTo(bytes, Magic.Length);
        SHA256.HashData(content).CopyTo(bytes, Magic.Length + HashLength);
        content.CopyTo(bytes.AsSpan(Magic.Length + 2 * HashLength));
        return bytes;
    }

    /// <summary>What identifies this build of the tree reader (null when the runtime cannot say: no cache).</summary>
    private static readonly byte[]? Build = BuildId();

    private static byte[]? BuildId()
    {
        try
        {
            var assembly = typeof(YamlTreeCache).Assembly;
            return Encoding.UTF8.GetBytes($"{assembly.FullName}|{assembly.ManifestModule.ModuleVersionId:N}");
        }
        catch (Exception e) when (e is NotSupportedException or InvalidOperationException)
        {
            return null;
        }
    }

    private static byte[] Key(byte[] build, string text, string file)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Span<byte> length = stackalloc byte[8];
        foreach (var part in new[] { build, Encoding.UTF8.GetBytes(file), Encoding.UTF8.GetBytes(text) })
        {
            System.Buffers.Binary.BinaryPrimitives.WriteInt64BigEndian(length, part.Length);
            hash.AppendData(length);
            hash.AppendData(part);
        }
        return hash.GetHashAndReset();
    }

    private const byte ScalarTag = 1, PlainScalarTag = 2, SequenceTag = 3, MappingTag = 4;

    private static bool WriteNode(BinaryWriter w, YNode node, ref long budget, int depth)
    {
        if (--budget < 0 || depth > YamlTree.MaxDepth + 1) return false;
        switch (node)
        {
            case YScalar s:
                w.Write(s.Plain ? PlainScalarTag : ScalarTag);
                Position(w, s);
                budget -= s.Value.Length;
                w.Write(s.Value);
                return true;
            case YSequence q:
                w.Write(SequenceTag);
                Position(w, q);
                w.Write7BitEncodedInt(q.Items.Count);
                foreach (var item in q.Items)
                    if (!WriteNode(w, item, ref budget, depth + 1)) return false;
                return true;
            case YMapping m:
                w.Write(MappingTag);
                Position(w, m);
                w.Write7BitEncodedInt(m.Pairs.Count);
                foreach (var pair in m.Pairs)
                    if (!WriteNode(w, pair.Key, ref budget, depth + 1) || !WriteNode(w, pair.Value, ref budget, depth + 1)) return false;
                return true;
            default:
                return false;
        }
    }

    private static void Position(BinaryWriter w, YNode node)
    {
        w.Write7BitEncodedInt(node.Line);
        w.Write7BitEncodedInt(node.Column);
    }

    private static YNode ReadNode(BinaryReader r, string file, Dictionary<string, string> strings, int depth)
    {
        if (depth > YamlTree.MaxDepth + 1) throw new InvalidDataException("too deep");
        var tag = r.ReadByte();
        var line = r.Read7BitEncodedInt();
        var column = r.Read7BitEncodedInt();
        switch (tag)
        {
            case ScalarTag or PlainScalarTag:
            {
                var value = r.ReadString();
                // Keys and short values repeat thousands of times in a large manifest: one string each.
                if (value.Length <= 32)
                {
                    if (strings.TryGetValue(value, out var seen)) value = seen;
                    else strings[value] = value;
                }
                return new YScalar(value, tag == PlainScalarTag, file, line, column);
            }
            case SequenceTag:
            {
                var count = Count(r);
                var items = new List<YNode>(count);
                for (var i = 0; i < count; i++) items.Add(ReadNode(r, file, strings, depth + 1));
                return new YSequence(items, file, line, column);
            }
            case MappingTag:
            {
                var count = Count(r);
                var pairs = new List<YPair>(count);
                for (var i = 0; i < count; i++)
                {
                    if (ReadNode(r, file, strings, depth + 1) is not YScalar key) throw new InvalidDataException("mapping key is not a scalar");
                    pairs.Add(new YPair(key, ReadNode(r, file, strings, depth + 1)));
                }
                return new YMapping(pairs, file, line, column);
            }
            default:
                throw new InvalidDataException("unknown node");
        }
    }

    private static int Count(BinaryReader r)
    {
        var count = r.Read7BitEncodedInt();
        // Every node takes at least three bytes: a count beyond what is left is damage, not a list to allocate.
        return count < 0 || count > (r.BaseStream.Length - r.BaseStream.Position) ? throw new InvalidDataException("bad count") : count;
    }
}
