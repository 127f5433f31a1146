using Keyward.Core.Errors;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace Keyward.Core.Manifest.Yaml;

// A small YAML node tree with a position on every node, built from YamlDotNet's event stream.
// Why not YamlStream/YamlMappingNode: the representation model throws on the first duplicate key and so
// stops at one problem; the manifest must report every problem at once. Mappings here keep every pair in
// document order (duplicates are reported, the first wins), aliases are resolved to their anchored node.

// Nodes keep line and column as numbers and make a SourceLocation only when asked: a 10,000-credential manifest
// has a quarter of a million nodes, and most positions are never reported.
internal abstract record YNode(string File, int Line, int Column)
{
    public SourceLocation Location => new(File, Line, Column);
}

internal sealed record YScalar(string Value, bool Plain, string File, int Line, int Column) : YNode(File, Line, Column)
{
    /// <summary>A plain <c>~</c>, <c>null</c> or empty scalar.</summary>
    public bool IsNull => Plain && Value is "" or "~" or "null" or "Null" or "NULL";
}

internal sealed record YSequence(IReadOnlyList<YNode> Items, string File, int Line, int Column) : YNode(File, Line, Column);

internal sealed record YPair(YScalar Key, YNode Value);

internal sealed record YMapping(IReadOnlyList<YPair> Pairs, string File, int Line, int Column) : YNode(File, Line, Column)
{
    public YPair? Find(string key)
    {
        foreach (var p in Pairs)
            if (p.Key.Value == key) return p;
        return null;
    }
}

internal static class YamlTree
{
    /// <summary>Deepest nesting of lists and mappings accepted. A manifest needs about 8 levels; the tree is built by
    /// recursion, and 20,000 levels of flow nesting (a 40 KB file) would otherwise overflow the stack and kill the process.</summary>
    public const int MaxDepth = 64;

    private sealed class TooDeepException(Mark at) : Exception
    {
        public Mark At { get; } = at;
    }

    /// <summary>Parses one YAML document. Syntax errors, duplicate keys, non-scalar keys, unknown aliases and
    /// extra documents are added to <paramref name="problems"/>; the returned root is null when nothing usable was read.</summary>
    public static YNode? Parse(string text, string file, List<Diagnostic> problems)
    {
        var parser = new Parser(new StringReader(text));
        var anchors = new Dictionary<string, YNode>(StringComparer.Ordinal);
        YNode? root = null;
        var documents = 0;
        try
        {
            parser.Consume<StreamStart>();
            while (parser.TryConsume<DocumentStart>(out var docStart))
            {
                documents++;
                var node = ReadNode(parser, file, anchors, problems, 0);
                parser.Consume<DocumentEnd>();
                if (documents == 1) root = node;
                else problems.Add(Diagnostic.Fail(ErrorCodes.ManifestMultipleDocuments.At(Loc(file, docStart.Start),
                    "the file holds more than one YAML document; only the first is read")));
            }
        }
        catch (TooDeepException ex)
        {
            problems.Add(Diagnostic.Fail(ErrorCodes.ManifestTooDeep.At(Loc(file, ex.At),
                $"lists and mappings are nested more than {MaxDepth} levels deep here; nothing after this point was read")));
            return null;
        }
        catch (YamlException ex)
        {
            // YamlDotNet's messages describe the syntax ("did not find expected key"); they never carry values of other nodes.
            problems.Add(Diagnostic.Fail(ErrorCodes.ManifestSyntax.At(Loc(file, ex.Start), "YAML syntax error: " + Describe(ex))));
            return null;
        }
        catch (InvalidOperationException)
        {
            // Some malformed input makes YamlDotNet's scanner fail without a YamlException: point at the last good event.
            var at = parser.Current is { } cur ? Loc(file, cur.End) : new SourceLocation(file, 1, 1);
            problems.Add(Diagnostic.Fail(ErrorCodes.ManifestSyntax.At(at, "YAML syntax error: the document ends inside an unfinished flow collection or scalar")));
            return null;
        }
        return root;
    }

    private static string Describe(YamlException ex)
    {
        // The message starts with "(Line: 3, Col: 5, Idx: 12) - (…): "; the location is printed separately.
        var msg = ex.Message;
        var cut = msg.IndexOf("): ", StringComparison.Ordinal);
        return cut >= 0 ? msg[(cut + 3)..] : msg;
    }

    internal static SourceLocation Loc(string file, Mark mark) =>
        new(file, (int)Math.Max(1, mark.Line), (int)Math.Max(1, mark.Column));

    private static YNode ReadNode(IParser parser, string file, Dictionary<string, YNode> anchors, List<Diagnostic> problems, int depth)
    {
        var ev = parser.Current ?? throw new InvalidOperationException("unexpected end of YAML stream");
        if (depth >= MaxDepth && ev is SequenceStart or MappingStart) throw new TooDeepException(ev.Start);
        switch (ev)
        {
            case AnchorAlias alias:
            {
                parser.MoveNext();
                var (line, col) = Pos(alias.Start);
                if (anchors.TryGetValue(alias.Value.Value, out var target)) return target with { Line = line, Column = col };
                problems.Add(Diagnostic.Fail(ErrorCodes.ManifestAnchor.At(Loc(file, alias.Start), $"alias '*{Keyward.Core.Manifest.Loading.FieldMap.Clip(alias.Value.Value)}' refers to no anchor defined before it")));
                return new YScalar("", true, file, line, col);
            }
            case Scalar scalar:
            {
                parser.MoveNext();
                var (line, col) = Pos(scalar.Start);
                var node = new YScalar(scalar.Value, scalar.Style == ScalarStyle.Plain && scalar.Tag.IsEmpty, file, line, col);
                Remember(scalar.Anchor, node, anchors);
                return node;
            }
            case SequenceStart start:
            {
                parser.MoveNext();
                var items = new List<YNode>();
                while (!parser.TryConsume<SequenceEnd>(out _))
                    items.Add(ReadNode(parser, file, anchors, problems, depth + 1));
                var (line, col) = Pos(start.Start);
                var node = new YSequence(items, file, line, col);
                Remember(start.Anchor, node, anchors);
                return node;
            }
            case MappingStart start:
            {
                parser.MoveNext();
                var pairs = new List<YPair>();
                Dictionary<string, YScalar>? seen = null; // built only for large mappings; small ones are scanned
                while (!parser.TryConsume<MappingEnd>(out _))
                {
                    var keyNode = ReadNode(parser, file, anchors, problems, depth + 1);
                    var value = ReadNode(parser, file, anchors, problems, depth + 1);
                    if (keyNode is not YScalar key)
                    {
                        problems.Add(Diagnostic.Fail(ErrorCodes.ManifestWrongType.At(keyNode.Location, "mapping keys must be plain text, not a list or mapping")));
                        continue;
                    }
                    var first = Duplicate(pairs, ref seen, key);
                    if (first is not null)
                    {
                        problems.Add(Diagnostic.Fail(ErrorCodes.ManifestDuplicateKey.At(key.Location,
                            $"key '{Keyward.Core.Manifest.Loading.FieldMap.Clip(key.Value)}' appears twice in this mapping (first at line {first.Location.Line}); the first is used")));
                        continue;
                    }
                    pairs.Add(new YPair(key, value));
                }
                var (line, col) = Pos(start.Start);
                var node = new YMapping(pairs, file, line, col);
                Remember(start.Anchor, node, anchors);
                return node;
            }
            default:
                throw new YamlException(ev.Start, ev.End, $"unexpected YAML event {ev.GetType().Name}");
        }
    }

    private static YScalar? Duplicate(List<YPair> pairs, ref Dictionary<string, YScalar>? seen, YScalar key)
    {
        if (seen is null && pairs.Count < 16)
        {
            foreach (var p in pairs)
                if (p.Key.Value == key.Value) return p.Key;
            return null;
        }
        if (seen is null)
        {
            seen = new Dictionary<string, YScalar>(pairs.Count * 2, StringComparer.Ordinal);
            foreach (var p in pairs) seen[p.Key.Value] = p.Key;
        }
        if (seen.TryGetValue(key.Value, out var first)) return first;
        seen[key.Value] = key;
        return null;
    }

    private static (int Line, int Column) Pos(Mark mark) => ((int)Math.Max(1, mark.Line), (int)Math.Max(1, mark.Column));

    private static void Remember(YamlDotNet.Core.AnchorName anchor, YNode node, Dictionary<string, YNode> anchors)
    {
        if (!anchor.IsEmpty) anchors[anchor.Value] = node;
    }
}
