using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using Keyward.Core.Graph;

namespace Keyward.Server.Dashboard;

/// <summary>
/// The credential graph as an SVG the dashboard embeds, laid out here (no Graphviz on the server): one column per
/// longest-path depth along impact edges (signers left, hooks right), nodes sorted by kind and name within a column.
/// Each credential carries its blast radius (<see cref="CredentialGraph.BlastRadius"/>, what a rotation reaches) in a
/// <c>data-radius</c> attribute, so a click can light it up without another request. Names only, never values.
/// </summary>
internal static class GraphSvg
{
    public const int MaxNodes = 600;
    private const int NodeWidth = 190, NodeHeight = 24, ColumnGap = 70, RowGap = 10, Margin = 12;

    public static string Render(CredentialGraph graph)
    {
        ArgumentNullException.ThrowIfNull(graph);
        var depth = Depths(graph);
        var columns = graph.Nodes.GroupBy(n => depth[n.Id]).OrderBy(g => g.Key)
            .Select(g => g.OrderBy(n => n.Kind).ThenBy(n => n.Name, StringComparer.Ordinal).ToList()).ToList();
        var position = new (double X, double Y)[graph.Nodes.Count];
        for (var c = 0; c < columns.Count; c++)
            for (var r = 0; r < columns[c].Count; r++)
                position[columns[c][r].Id] = (Margin + c * (NodeWidth + ColumnGap), Margin + r * (NodeHeight + RowGap));
        var width = Margin * 2 + Math.Max(1, columns.Count) * (NodeWidth + ColumnGap) - ColumnGap;
        var height = Margin * 2 + columns.Select(c => c.Count).DefaultIfEmpty(1).Max() * (NodeHeight + RowGap) - RowGap;

        var html = HtmlEncoder.Default;
        var s = new StringBuilder();
        s.Append(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"graph\" role=\"img\" aria-label=\"credential graph\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\">");
        s.Append("<g class=\"edges\">");
        foreach (var e in graph.Edges)
        {
            var (fx, fy) = position[e.ImpactFrom];
            var (tx, ty) = position[e.ImpactTo];
            double x1 = fx + NodeWidth, y1 = fy + NodeHeight / 2.0, x2 = tx, y2 = ty + NodeHeight / 2.0;
            if (x2 <= x1) { x1 = fx + NodeWidth / 2.0; x2 = tx + NodeWidth / 2.0; } // same column: a loop on the side
            var mid = (x1 + x2) / 2;
            s.Append(CultureInfo.InvariantCulture,
                $"<path class=\"edge {e.Kind.Name()}\" data-from=\"n{e.ImpactFrom}\" data-to=\"n{e.ImpactTo}\" d=\"M{x1:0.#},{y1:0.#} C{mid:0.#},{y1:0.#} {mid:0.#},{y2:0.#} {x2:0.#},{y2:0.#}\"><title>{html.Encode(e.Kind.Name())}</title></path>");
        }
        s.Append("</g><g class=\"nodes\">");
        foreach (var n in graph.Nodes)
        {
            var (x, y) = position[n.Id];
            var radius = n.Kind == NodeKind.Credential
                ? " data-radius=\"" + string.Join(' ', graph.BlastRadius([n.Id]).Select(i => "n" + i.ToString(CultureInfo.InvariantCulture))) + "\" tabindex=\"0\""
                : "";
            var label = n.Name.Length > 26 ? n.Name[..25] + "…" : n.Name;
            s.Append(CultureInfo.InvariantCulture,
                $"<g class=\"node {n.Kind.Name()}\" id=\"n{n.Id}\" data-name=\"{html.Encode(n.Name)}\" data-kind=\"{n.Kind.Name()}\"{radius}>" +
                $"<title>{html.Encode(n.Kind.Name())} {html.Encode(n.Name)}: {html.Encode(n.Detail)}</title>" +
                $"<rect x=\"{x:0.#}\" y=\"{y:0.#}\" width=\"{NodeWidth}\" height=\"{NodeHeight}\" rx=\"4\"/>" +
                $"<text x=\"{x + 8:0.#}\" y=\"{y + 16:0.#}\">{html.Encode(label)}</text></g>");
        }
        s.Append("</g></svg>");
        return s.ToString();
    }

    /// <summary>Longest path from a root along impact edges; a cycle (never built by GraphBuilder) cannot loop forever.</summary>
    private static int[] Depths(CredentialGraph graph)
    {
        var n = graph.Nodes.Count;
        var depth = new int[n];
        var indegree = new int[n];
        foreach (var e in graph.Edges) indegree[e.ImpactTo]++;
        var queue = new Queue<int>(Enumerable.Range(0, n).Where(i => indegree[i] == 0));
        var seen = 0;
        while (queue.Count > 0)
        {
            var at = queue.Dequeue();
            seen++;
            foreach (var e in graph.ImpactOf(at))
            {
                depth[e.ImpactTo] = Math.Max(depth[e.ImpactTo], depth[at] + 1);
                if (--indegree[e.ImpactTo] == 0) queue.Enqueue(e.ImpactTo);
            }
        }
        return depth; // nodes on a cycle (seen < n) keep the depth reached so far
    }
}
