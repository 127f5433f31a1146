using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Keyward.Core.Manifest.Schema;

namespace Keyward.Core.Manifest;

/// <summary>The JSON Schema (draft 2020-12) of manifest v1, rendered from the parser's own field tables.
/// <c>keyward schema</c> prints it; docs/keyward.schema.json is a committed copy (a test keeps them equal).</summary>
public static class ManifestSchema
{
    public static string ToJson()
    {
        var defs = new JsonObject();
        foreach (var spec in ManifestFields.AllSpecs.Where(s => s != ManifestFields.Root))
            defs[spec.Id] = Object(spec);

        var root = Object(ManifestFields.Root);
        var doc = new JsonObject
        {
            ["$schema"] = "https://json-schema.org/draft/2020-12/schema",
            ["title"] = "Keyward manifest (keyward.yaml)",
        };
        foreach (var (k, v) in root.ToList())
        {
            root.Remove(k);
            doc[k] = v;
        }
        doc["$defs"] = defs;

        var options = new JsonSerializerOptions { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, IndentSize = 2 };
        return doc.ToJsonString(options).ReplaceLineEndings("\n") + "\n";
    }

    private static JsonObject Object(ObjectSpec spec)
    {
        var o = new JsonObject { ["type"] = "object", ["description"] = spec.Description };
        var props = new JsonObject();
        var required = new JsonArray();
        foreach (var f in spec.Fields.Where(f => f.AppliesTo is null))
        {
            props[f.Name] = Property(f);
            if (f.Required) required.Add((JsonNode)f.Name);
        }
        if (spec.Discriminator is null)
        {
            // Fields restricted by a parent's discriminator (entry fields by sink format) are listed, described.
            foreach (var f in spec.Fields.Where(f => f.AppliesTo is not null))
                props[f.Name] = Property(f);
        }
        o["properties"] = props;
        if (required.Count > 0) o["required"] = required;

        if (spec.Discriminator is { } disc)
        {
            var branches = new JsonArray();
            foreach (var value in spec.DiscriminatorValues)
            {
                var bprops = new JsonObject();
                var breq = new JsonArray();
                foreach (var f in spec.Fields.Where(f => f.AppliesTo is not null && f.AppliesTo.Contains(value)))
                {
                    bprops[f.Name] = Property(f);
                    if (f.Required) breq.Add((JsonNode)f.Name);
                }
                var then = new JsonObject { ["properties"] = bprops };
                if (breq.Count > 0) then["required"] = breq;
                branches.Add((JsonNode)new JsonObject
                {
                    ["if"] = new JsonObject
                    {
                        ["properties"] = new JsonObject { [disc] = new JsonObject { ["const"] = value } },
                        ["required"] = new JsonArray(disc),
                    },
                    ["then"] = then,
                });
            }
            o["allOf"] = branches;
            o["unevaluatedProperties"] = false;
        }
        else
        {
            o["additionalProperties"] = false;
        }

        if (spec.ExactlyOneOf is { } groups)
        {
            var one = new JsonArray();
            foreach (var g in groups)
                one.Add((JsonNode)new JsonObject { ["required"] = new JsonArray([.. g.Select(n => (JsonNode)JsonValue.Create(n))]) });
            o["oneOf"] = one;
        }
        return o;
    }

    private static JsonObject Property(Field f)
    {
        var p = Shape(f.Shape);
        p["description"] = f.Description;
        if (f.Default is not null) p["default"] = JsonNode.Parse(f.Default);
        return p;
    }

    private static JsonObject Shape(Shape shape) => shape switch
    {
        ScalarShape s => Scalar(s),
        ListShape l => new JsonObject { ["type"] = "array", ["items"] = Shape(l.Item) },
        MapShape m => Map(m),
        ObjectShape o => new JsonObject { ["$ref"] = "#/$defs/" + o.Spec.Id },
        AnyOfShape a => new JsonObject { ["anyOf"] = new JsonArray([.. a.Options.Select(x => (JsonNode)Shape(x))]) },
        _ => throw new InvalidOperationException(shape.GetType().Name),
    };

    private static JsonObject Map(MapShape m)
    {
        // An empty section (`sinks:` with nothing under it) is null in YAML; the parser reads it as empty.
        var o = new JsonObject { ["type"] = new JsonArray("object", "null") };
        if (m.KeyPattern is not null) o["propertyNames"] = new JsonObject { ["pattern"] = m.KeyPattern };
        o["additionalProperties"] = Shape(m.Value);
        return o;
    }

    private static JsonObject Scalar(ScalarShape s)
    {
        var o = new JsonObject();
        switch (s.Type)
        {
            case ScalarType.Integer when s.Choices is not null:
                o["type"] = "integer";
                o["enum"] = new JsonArray([.. s.Choices.Select(c => (JsonNode)JsonValue.Create(long.Parse(c, CultureInfo.InvariantCulture)))]);
                break;
            case ScalarType.Integer:
                o["type"] = "integer";
                if (s.Min is { } min) o["minimum"] = min;
                if (s.Max is { } max) o["maximum"] = max;
                break;
            case ScalarType.Boolean:
                o["type"] = "boolean";
                break;
            case ScalarType.Mode:
                o["anyOf"] = new JsonArray(
                    new JsonObject { ["type"] = "string", ["pattern"] = s.Pattern },
                    new JsonObject { ["type"] = "integer", ["minimum"] = 0, ["maximum"] = 4095 });
                break;
            case ScalarType.Date:
                o["type"] = "string";
                o["pattern"] = "^[0-9]{4}-[0-9]{2}-[0-9]{2}";
                break;
            case ScalarType.Url:
                o["type"] = "string";
                o["format"] = "uri";
                o["pattern"] = "^https?://";
                break;
            case ScalarType.String when s.Choices is not null:
                o["type"] = "string";
                o["enum"] = new JsonArray([.. s.Choices.Select(c => (JsonNode)JsonValue.Create(c))]);
                break;
            default:
                o["type"] = "string";
                if (s.Pattern is not null) o["pattern"] = s.Pattern;
                else o["minLength"] = 1;
                break;
        }
        return o;
    }
}
