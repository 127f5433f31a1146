namespace Keyward.Core.Graph;

public enum NodeKind
{
    Credential,
    Sink,
    Hook,
    Service,
    Check,
    /// <summary>A declared host: never a graph node, only the target of a rotation's <c>deliver</c> step.</summary>
    Host,
}

/// <summary>Edge kinds, each with its declared direction. A change propagates along
/// <see cref="GraphEdge.ImpactFrom"/> → <see cref="GraphEdge.ImpactTo"/>: against <c>SignedBy</c>
/// (the signer changes, the token is affected), along every other kind.</summary>
public enum EdgeKind
{
    /// <summary>token → the secret or RSA key that signs it.</summary>
    SignedBy,
    /// <summary>signing key → a consumer of its public half (a nix-conf trust list, a cache spec's service, a public-key entry).</summary>
    PublicHalfOf,
    /// <summary>credential → a sink that carries its value.</summary>
    DeliveredTo,
    /// <summary>sink → a hook run when the sink changes.</summary>
    Triggers,
    /// <summary>credential → the service it belongs to.</summary>
    BelongsTo,
    /// <summary>credential → a check that verifies it.</summary>
    VerifiedBy,
}

public static class GraphNames
{
    public static string Name(this NodeKind k) => k switch
    {
        NodeKind.Credential => "credential",
        NodeKind.Sink => "sink",
        NodeKind.Hook => "hook",
        NodeKind.Service => "service",
        NodeKind.Check => "check",
        NodeKind.Host => "host",
        _ => throw new ArgumentOutOfRangeException(nameof(k)),
    };

    public static string Name(this EdgeKind k) => k switch
    {
        EdgeKind.SignedBy => "signed-by",
        EdgeKind.PublicHalfOf => "public-half-of",
        EdgeKind.DeliveredTo => "delivered-to",
        EdgeKind.Triggers => "triggers",
        EdgeKind.BelongsTo => "belongs-to",
        EdgeKind.VerifiedBy => "verified-by",
        _ => throw new ArgumentOutOfRangeException(nameof(k)),
    };
}

/// <summary>One node. <see cref="Detail"/> is a short non-secret description (kind, path, unit).</summary>
public sealed record GraphNode(int Id, NodeKind Kind, string Name, string Detail);

public readonly record struct GraphEdge(int From, int To, EdgeKind Kind)
{
    public int ImpactFrom => Kind == EdgeKind.SignedBy ? To : From;
    public int ImpactTo => Kind == EdgeKind.SignedBy ? From : To;
}

/// <summary>
/// Credentials, sinks, hooks, services and checks as one directed graph. Adjacency is stored in
/// compressed-sparse-row arrays (one for impact order, one reversed), so a blast-radius walk is
/// linear in the nodes and edges it reaches.
/// </summary>
public sealed class CredentialGraph
{
    private readonly Dictionary<(NodeKind, string), int> _index;
    private readonly int[] _impactStart;
    private readonly int[] _impactEdges;
    private readonly int[] _reverseStart;
    private readonly int[] _reverseEdges;

    internal CredentialGraph(IReadOnlyList<GraphNode> nodes, IReadOnlyList<GraphEdge> edges, Dictionary<(NodeKind, string), int> index)
    {
        Nodes = nodes;
        Edges = edges;
        _index = index;
        (_impactStart, _impactEdges) = Csr(nodes.Count, edges, e => e.ImpactFrom);
        (_reverseStart, _reverseEdges) = Csr(nodes.Count, edges, e => e.ImpactTo);
    }

    public IReadOnlyList<GraphNode> Nodes { get; }

    public IReadOnlyList<GraphEdge> Edges { get; }

    public GraphNode? Find(NodeKind kind, string name) =>
        _index.TryGetValue((kind, name), out var id) ? Nodes[id] : null;

    /// <summary>Edges along which a change of <paramref name="node"/> propagates (in insertion order).</summary>
    public IEnumerable<GraphEdge> ImpactOf(int node)
    {
        for (var i = _impactStart[node]; i < _impactStart[node + 1]; i++) yield return Edges[_impactEdges[i]];
    }

    /// <summary>Edges whose change reaches <paramref name="node"/> (what it depends on).</summary>
    public IEnumerable<GraphEdge> ImpactedBy(int node)
    {
        for (var i = _reverseStart[node]; i < _reverseStart[node + 1]; i++) yield return Edges[_reverseEdges[i]];
    }

    /// <summary>Every node a change of the roots reaches, roots included, in breadth-first order.</summary>
    public IReadOnlyList<int> BlastRadius(IEnumerable<int> roots)
    {
        var seen = new bool[Nodes.Count];
        var order = new List<int>();
        foreach (var r in roots)
            if (!seen[r]) { seen[r] = true; order.Add(r); }
        for (var head = 0; head < order.Count; head++)
        {
            var n = order[head];
            for (var i = _impactStart[n]; i < _impactStart[n + 1]; i++)
            {
                var to = Edges[_impactEdges[i]].ImpactTo;
                if (!seen[to]) { seen[to] = true; order.Add(to); }
            }
        }
        return order;
    }

    /// <summary>The sub-graph a change of <paramref name="root"/> reaches, plus what the root itself
    /// depends on one step up (its signer), so a focused picture explains the blast radius.</summary>
    public CredentialGraph Focus(int root)
    {
        var keep = new HashSet<int>(BlastRadius([root]));
        foreach (var e in ImpactedBy(root)) keep.Add(e.ImpactFrom);
        return Subgraph(keep);
    }

    private CredentialGraph Subgraph(HashSet<int> keep)
    {
        var map = new Dictionary<int, int>();
        var nodes = new List<GraphNode>();
        var index = new Dictionary<(NodeKind, string), int>();
        foreach (var n in Nodes)
        {
            if (!keep.Contains(n.Id)) continue;
            map[n.Id] = nodes.Count;
            index[(n.Kind, n.Name)] = nodes.Count;
            nodes.Add(n with { Id = nodes.Count });
        }
        var edges = Edges.Where(e => map.ContainsKey(e.From) && map.ContainsKey(e.To))
            .Select(e => new GraphEdge(map[e.From], map[e.To], e.Kind)).ToList();
        return new CredentialGraph(nodes, edges, index);
    }

    private static (int[] Start, int[] Edges) Csr(int nodeCount, IReadOnlyList<GraphEdge> edges, Func<GraphEdge, int> key)
    {
        var start = new int[nodeCount + 1];
        foreach (var e in edges) start[key(e) + 1]++;
        for (var i = 0; i < nodeCount; i++) start[i + 1] += start[i];
        var fill = (int[])start.Clone();
        var list = new int[edges.Count];
        for (var i = 0; i < edges.Count; i++) list[fill[key(edges[i])]++] = i;
        return (start, list);
    }
}
