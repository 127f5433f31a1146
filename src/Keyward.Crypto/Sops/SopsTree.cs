using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Keyward.Core.Errors;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace Keyward.Crypto.Sops;

/// <summary>A SOPS document as SOPS's stores see it: mappings keep document order (the MAC depends on it), scalars keep
/// the type their store resolves them to (an encrypted value is always a string <c>ENC[…]</c>).</summary>
internal abstract record SopsNode(int Line, int Column);

internal sealed record SopsMap(IReadOnlyList<KeyValuePair<string, SopsNode>> Items, int Line, int Column) : SopsNode(Line, Column)
{
    public SopsNode? Find(string key) => Items.FirstOrDefault(i => i.Key == key).Value;
}

internal sealed record SopsList(IReadOnlyList<SopsNode> Items, int Line, int Column) : SopsNode(Line, Column);

internal enum SopsScalarType { String, Int, Float, Bool, Null }

internal sealed record SopsScalar(string Text, SopsScalarType Type, int Line, int Column) : SopsNode(Line, Column)
{
    /// <summary>What SOPS's <c>ToBytes</c> feeds the MAC for a value that is not encrypted.</summary>
    public byte[] MacBytes() => Type switch
    {
        SopsScalarType.Bool => Encoding.UTF8.GetBytes(SopsTree.IsTrue(Text) ? "True" : "False"),
        SopsScalarType.Int when long.TryParse(Text.Replace("_", "", StringComparison.Ordinal), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var l)
            => Encoding.UTF8.GetBytes(l.ToString(CultureInfo.InvariantCulture)),
        SopsScalarType.Float when double.TryParse(Text, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && double.IsFinite(d)
            => Encoding.UTF8.GetBytes(d.ToString("R", CultureInfo.InvariantCulture)),
        _ => Encoding.UTF8.GetBytes(Text),
    };
}

internal static partial class SopsTree
{
    private const int MaxDepth = 64;

    public static bool IsTrue(string text) => text is "true" or "True" or "TRUE";

    /// <summary>YAML (one document) or JSON, by content: a document whose first non-space character is '{' is JSON.</summary>
    public static SopsMap Parse(ReadOnlySpan<byte> bytes, out bool json)
    {
        string text;
        try { text = new UTF8Encoding(false, true).GetString(bytes); }
        catch (DecoderFallbackException) { throw ErrorCodes.SopsFormat.Exception("the file is not UTF-8 text"); }
        if (text.Length > 0 && text[0] == '\uFEFF') text = text[1..];
        json = text.TrimStart().StartsWith('{');
        return json ? ParseJson(text) : ParseYaml(text);
    }

    private static SopsMap ParseJson(string text)
    {
        try
        {
            using var doc = JsonDocument.Parse(text, new JsonDocumentOptions { MaxDepth = MaxDepth });
            return Convert(doc.RootElement) as SopsMap ?? throw ErrorCodes.SopsFormat.Exception("the JSON document is not an object");
        }
        catch (JsonException e)
        {
            // The parser's message can quote input; report the position only.
            throw ErrorCodes.SopsFormat.Exception($"not valid JSON at line {(e.LineNumber ?? 0) + 1}, byte {(e.BytePositionInLine ?? 0) + 1}");
        }
    }

    private static SopsNode Convert(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Object => new SopsMap(e.EnumerateObject().Select(p => new KeyValuePair<string, SopsNode>(p.Name, Convert(p.Value))).ToArray(), 0, 0),
        JsonValueKind.Array => new SopsList(e.EnumerateArray().Select(Convert).ToArray(), 0, 0),
        JsonValueKind.String => new SopsScalar(e.GetString()!, SopsScalarType.String, 0, 0),
        JsonValueKind.Number => new SopsScalar(e.GetRawText(), e.TryGetInt64(out _) ? SopsScalarType.Int : SopsScalarType.Float, 0, 0),
        JsonValueKind.True => new SopsScalar("true", SopsScalarType.Bool, 0, 0),
        JsonValueKind.False => new SopsScalar("false", SopsScalarType.Bool, 0, 0),
        _ => new SopsScalar("", SopsScalarType.Null, 0, 0),
    };

    private static SopsMap ParseYaml(string text)
    {
        var parser = new Parser(new StringReader(text));
        var anchors = new Dictionary<string, SopsNode>(StringComparer.Ordinal);
        try
        {
            parser.Consume<StreamStart>();
            if (!parser.TryConsume<DocumentStart>(out _)) throw ErrorCodes.SopsFormat.Exception("the file is empty");
            var root = Read(parser, anchors, 0);
            parser.Consume<DocumentEnd>();
            if (parser.TryConsume<DocumentStart>(out var second))
                throw ErrorCodes.SopsUnsupported.Exception($"line {second.Start.Line}: the file holds more than one YAML document");
            return root as SopsMap ?? throw ErrorCodes.SopsFormat.Exception("the YAML document is not a mapping");
        }
        catch (YamlException e)
        {
            throw ErrorCodes.SopsFormat.Exception($"not valid YAML at line {e.Start.Line}, column {e.Start.Column}");
        }
        catch (InvalidOperationException)
        {
            throw ErrorCodes.SopsFormat.Exception("not valid YAML: the document ends inside an unfinished collection or scalar");
        }
    }

    private static SopsNode Read(IParser parser, Dictionary<string, SopsNode> anchors, int depth)
    {
        if (depth > MaxDepth) throw ErrorCodes.SopsFormat.Exception($"the document nests deeper than {MaxDepth} levels");
        var start = parser.Current!.Start;
        if (parser.TryConsume<AnchorAlias>(out var alias))
            return anchors.TryGetValue(alias.Value.Value, out var target) ? target
                : throw ErrorCodes.SopsFormat.Exception($"line {start.Line}: unknown alias *{alias.Value.Value}");
        SopsNode node;
        string anchor;
        if (parser.TryConsume<Scalar>(out var scalar))
        {
            anchor = scalar.Anchor.IsEmpty ? "" : scalar.Anchor.Value;
            node = new SopsScalar(scalar.Value, scalar.Style == ScalarStyle.Plain && scalar.Tag.IsEmpty ? Resolve(scalar.Value) : TagType(scalar), (int)start.Line, (int)start.Column);
        }
        else if (parser.TryConsume<SequenceStart>(out var seq))
        {
            anchor = seq.Anchor.IsEmpty ? "" : seq.Anchor.Value;
            var items = new List<SopsNode>();
            while (!parser.TryConsume<SequenceEnd>(out _)) items.Add(Read(parser, anchors, depth + 1));
            node = new SopsList(items, (int)start.Line, (int)start.Column);
        }
        else if (parser.TryConsume<MappingStart>(out var map))
        {
            anchor = map.Anchor.IsEmpty ? "" : map.Anchor.Value;
            var items = new List<KeyValuePair<string, SopsNode>>();
            var seen = new HashSet<string>(StringComparer.Ordinal);
            while (!parser.TryConsume<MappingEnd>(out _))
            {
                var keyAt = parser.Current!.Start;
                if (Read(parser, anchors, depth + 1) is not SopsScalar key)
                    throw ErrorCodes.SopsFormat.Exception($"line {keyAt.Line}: a mapping key is not a scalar");
                if (!seen.Add(key.Text)) throw ErrorCodes.SopsFormat.Exception($"line {keyAt.Line}: duplicate key '{key.Text}'");
                items.Add(new(key.Text, Read(parser, anchors, depth + 1)));
            }
            node = new SopsMap(items, (int)start.Line, (int)start.Column);
        }
        else throw ErrorCodes.SopsFormat.Exception($"line {start.Line}: unexpected YAML event");
        if (!string.IsNullOrEmpty(anchor)) anchors[anchor] = node;
        return node;
    }

    private static SopsScalarType TagType(Scalar scalar) => scalar.Tag.IsEmpty ? SopsScalarType.String : scalar.Tag.Value switch
    {
        "tag:yaml.org,2002:int" => SopsScalarType.Int,
        "tag:yaml.org,2002:float" => SopsScalarType.Float,
        "tag:yaml.org,2002:bool" => SopsScalarType.Bool,
        "tag:yaml.org,2002:null" => SopsScalarType.Null,
        _ => SopsScalarType.String,
    };

    // YAML 1.2 core schema, as go-yaml v3 resolves plain scalars into interface{} values.
    private static SopsScalarType Resolve(string v)
    {
        if (v is "" or "~" or "null" or "Null" or "NULL") return SopsScalarType.Null;
        if (v is "true" or "True" or "TRUE" or "false" or "False" or "FALSE") return SopsScalarType.Bool;
        if (IntRegex().IsMatch(v)) return SopsScalarType.Int;
        if (FloatRegex().IsMatch(v)) return SopsScalarType.Float;
        return SopsScalarType.String;
    }

    [GeneratedRegex(@"^[-+]?[0-9][0-9_]*$", RegexOptions.CultureInvariant)]
    private static partial Regex IntRegex();

    [GeneratedRegex(@"^[-+]?(\.[0-9]+|[0-9][0-9_]*(\.[0-9_]*)?)([eE][-+]?[0-9]+)?$|^[-+]?\.(inf|Inf|INF)$|^\.(nan|NaN|NAN)$", RegexOptions.CultureInvariant)]
    private static partial Regex FloatRegex();
}
