using System.Text;
using System.Text.Json;

namespace Keyward.Core.Graph;

public enum GraphFormat
{
    Text,
    Dot,
    Mermaid,
    Json,
}

/// <summary>Renders a <see cref="CredentialGraph"/> as text, Graphviz dot, Mermaid or JSON. Names and
/// descriptions only: a graph never carries a value.</summary>
public static class GraphRenderer
{
    public static string Render(CredentialGraph graph, GraphFormat format) => format switch
    {
        GraphFormat.Text => Text(graph),
        GraphFormat.Dot => Dot(graph),
        GraphFormat.Mermaid => Mermaid(graph),
        GraphFormat.Json => Json(graph),
        _ => throw new ArgumentOutOfRangeException(nameof(format)),
    };

    public static string Text(CredentialGraph graph)
    {
        var sb = new StringBuilder();
        foreach (var kind in Enum.GetValues<NodeKind>())
        {
            var nodes = graph.Nodes.Where(n => n.Kind == kind).ToList();
            if (nodes.Count == 0) continue;
            sb.Append(kind.Name()).Append("s:\n");
            foreach (var n in nodes)
            {
                sb.Append("  ").Append(n.Name).Append("  (").Append(n.Detail).Append(")\n");
                foreach (var e in graph.Edges.Where(e => e.From == n.Id))
                    sb.Append("    ").Append(e.Kind.Name()).Append(" → ").Append(graph.Nodes[e.To].Kind.Name()).Append(' ').Append(graph.Nodes[e.To].Name).Append('\n');
            }
        }
        return sb.ToString();
    }

    public static string Dot(CredentialGraph graph)
    {
        var sb = new StringBuilder();
        sb.Append("digraph keyward {\n  rankdir=LR;\n  node [fontname=\"Helvetica\", fontsize=10];\n  edge [fontname=\"Helvetica\", fontsize=8];\n");
        foreach (var n in graph.Nodes)
        {
            var (shape, color) = n.Kind switch
            {
                NodeKind.Credential => ("box", "#fde68a"),
                NodeKind.Sink => ("note", "#bfdbfe"),
                NodeKind.Hook => ("cds", "#e9d5ff"),
                NodeKind.Service => ("component", "#bbf7d0"),
                _ => ("ellipse", "#e5e7eb"),
            };
            sb.Append("  n").Append(n.Id).Append(" [label=").Append(DotString(n.Name + "\n" + n.Detail))
              .Append(", shape=").Append(shape).Append(", style=filled, fillcolor=\"").Append(color).Append("\"];\n");
        }
        foreach (var e in graph.Edges)
            sb.Append("  n").Append(e.From).Append(" -> n").Append(e.To).Append(" [label=").Append(DotString(e.Kind.Name()))
              .Append(e.Kind == EdgeKind.SignedBy ? ", style=dashed" : "").Append("];\n");
        sb.Append("}\n");
        return sb.ToString();
    }

    public static string Mermaid(CredentialGraph graph)
    {
        var sb = new StringBuilder();
        sb.Append("flowchart LR\n");
        foreach (var n in graph.Nodes)
        {
            var label = MermaidString(n.Kind.Name() + ": " + n.Name);
            sb.Append("  n").Append(n.Id).Append(n.Kind switch
            {
                NodeKind.Credential => $"[\"{label}\"]",
                NodeKind.Sink => $"[/\"{label}\"/]",
                NodeKind.Hook => $"{{{{\"{label}\"}}}}",
                NodeKind.Service => $"[(\"{label}\")]",
                _ => $"([\"{label}\"])",
            }).Append('\n');
        }
        foreach (var e in graph.Edges)
            sb.Append("  n").Append(e.From).Append(e.Kind == EdgeKind.SignedBy ? " -.->|" : " -->|").Append(e.Kind.Name()).Append("| n").Append(e.To).Append('\n');
        return sb.ToString();
    }

    public static string Json(CredentialGraph graph)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteStartArray("nodes");
            foreach (var n in graph.Nodes)
            {
                w.WriteStartObject();
                w.WriteNumber("id", n.Id);
                w.WriteString("kind", n.Kind.Name());
                w.WriteString("name", n.Name);
                w.WriteString("detail", n.Detail);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartArray("edges");
            foreach (var e in graph.Edges)
            {
                w.WriteStartObject();
                w.WriteNumber("from", e.From);
                w.WriteNumber("to", e.To);
                w.WriteString("kind", e.Kind.Name());
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(ms.ToArray()) + "\n";
    }

    private static string DotString(string s) => "\"" + s.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal) + "\"";

    private static string MermaidString(string s) => s.Replace("\"", "#quot;", StringComparison.Ordinal);
}
