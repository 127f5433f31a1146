using Keyward.Core.Graph;
using Keyward.Core.Rotation;
using Keyward.Core.Store;
using Keyward.Core.Tests.Rotation;

namespace Keyward.Core.Tests.Graph;

public sealed class CredentialGraphTests
{
    private static readonly CredentialGraph G = GraphBuilder.Build(HomelabModel.Build());

    private static bool HasEdge(CredentialGraph g, NodeKind fk, string from, NodeKind tk, string to, EdgeKind kind) =>
        g.Edges.Any(e => e.Kind == kind && g.Nodes[e.From].Kind == fk && g.Nodes[e.From].Name == from && g.Nodes[e.To].Kind == tk && g.Nodes[e.To].Name == to);

    [Fact]
    public void Build_TokenIsSignedByItsSecret()
    {
        Assert.True(HasEdge(G, NodeKind.Credential, "ci-push-token", NodeKind.Credential, "attic-jwt-secret", EdgeKind.SignedBy));
        Assert.False(HasEdge(G, NodeKind.Credential, "attic-jwt-secret", NodeKind.Credential, "ci-push-token", EdgeKind.SignedBy));
    }

    [Fact]
    public void Build_TrustListAndCacheSpecArePublicHalfConsumers()
    {
        Assert.True(HasEdge(G, NodeKind.Credential, "attic-cache-key", NodeKind.Sink, "nix-conf", EdgeKind.PublicHalfOf));
        Assert.True(HasEdge(G, NodeKind.Credential, "attic-cache-key", NodeKind.Service, "attic", EdgeKind.PublicHalfOf));
        Assert.True(HasEdge(G, NodeKind.Credential, "attic-cache-key", NodeKind.Sink, "cache-signing-key", EdgeKind.DeliveredTo));
    }

    [Fact]
    public void Build_HooksAreSharedNodes()
    {
        // reader-netrc and nix-conf both reload nix-daemon: one hook node, two triggers.
        var hook = G.Find(NodeKind.Hook, "reload nix-daemon.service");
        Assert.NotNull(hook);
        Assert.Equal(2, G.ImpactedBy(hook.Id).Count());
    }

    [Fact]
    public void Build_ServicesAndChecks()
    {
        Assert.True(HasEdge(G, NodeKind.Credential, "admin-token", NodeKind.Service, "attic", EdgeKind.BelongsTo));
        Assert.True(HasEdge(G, NodeKind.Credential, "github-token", NodeKind.Service, "github", EdgeKind.BelongsTo));
        Assert.True(HasEdge(G, NodeKind.Credential, "ci-push-token", NodeKind.Check, "signature ci-push-token", EdgeKind.VerifiedBy));
        Assert.True(HasEdge(G, NodeKind.Credential, "github-token", NodeKind.Check, "live github-token", EdgeKind.VerifiedBy));
    }

    [Fact]
    public void BlastRadius_OfToken_DoesNotReachSignerOrOtherTokens()
    {
        var root = G.Find(NodeKind.Credential, "ci-push-token")!;
        var names = G.BlastRadius([root.Id]).Select(i => G.Nodes[i].Name).ToHashSet();
        Assert.Contains("ci-attic-config", names);
        Assert.Contains("restart ci-runner.service", names);
        Assert.DoesNotContain("attic-jwt-secret", names);
        Assert.DoesNotContain("admin-token", names);
        Assert.DoesNotContain("atticd-env", names);
    }

    [Fact]
    public void BlastRadius_OfSecret_ReachesEveryTokenAndItsSinks()
    {
        var root = G.Find(NodeKind.Credential, "attic-jwt-secret")!;
        var names = G.BlastRadius([root.Id]).Select(i => G.Nodes[i].Name).ToHashSet();
        foreach (var n in new[] { "ci-push-token", "admin-token", "reader-token", "ci-attic-config", "admin-attic-config", "reader-netrc", "atticd-env", "restart atticd.service" })
            Assert.Contains(n, names);
        Assert.DoesNotContain("attic-cache-key", names);
        Assert.DoesNotContain("nix-conf", names);
    }

    [Fact]
    public void Build_LedgerOnlyTokenBecomesNode_UnlessRevokedOrExpired()
    {
        var now = new DateTimeOffset(2025, 6, 1, 0, 0, 0, TimeSpan.Zero);
        var facts = new StoreFacts([], [
            new LedgerEntry("t1", "hand-issued", 1, "laptop", "", now.AddDays(10).AddDays(-30), now.AddDays(10), "fp", "attic-jwt-secret", 1, null),
            new LedgerEntry("t2", "old-revoked", 1, "x", "", now.AddDays(10).AddDays(-30), now.AddDays(10), "fp", "attic-jwt-secret", 1, now.AddDays(-1)),
            new LedgerEntry("t3", "old-expired", 1, "x", "", now.AddDays(-1).AddDays(-30), now.AddDays(-1), "fp", "attic-jwt-secret", 1, null),
        ]);
        var g = GraphBuilder.Build(HomelabModel.Build(), facts, now);
        Assert.True(HasEdge(g, NodeKind.Credential, "hand-issued", NodeKind.Credential, "attic-jwt-secret", EdgeKind.SignedBy));
        Assert.Null(g.Find(NodeKind.Credential, "old-revoked"));
        Assert.Null(g.Find(NodeKind.Credential, "old-expired"));
    }

    [Fact]
    public void Focus_KeepsBlastRadiusAndSigner()
    {
        var f = G.Focus(G.Find(NodeKind.Credential, "ci-push-token")!.Id);
        var names = f.Nodes.Select(n => n.Name).ToHashSet();
        Assert.Contains("attic-jwt-secret", names); // what it depends on, one step up
        Assert.Contains("ci-attic-config", names);
        Assert.DoesNotContain("admin-token", names);
        Assert.DoesNotContain("nix-conf", names);
        Assert.All(f.Edges, e => Assert.InRange(e.To, 0, f.Nodes.Count - 1));
    }

    [Fact]
    public void Render_DotMermaidJsonText_NameEveryNode()
    {
        foreach (var fmt in Enum.GetValues<GraphFormat>())
        {
            var text = GraphRenderer.Render(G, fmt);
            foreach (var n in G.Nodes.Where(n => n.Kind == NodeKind.Credential))
                Assert.Contains(n.Name, text);
        }
        var dot = GraphRenderer.Dot(G);
        Assert.StartsWith("digraph keyward {", dot);
        Assert.Equal(G.Edges.Count, dot.Split('\n').Count(l => l.Contains(" -> ", StringComparison.Ordinal)));
        using var doc = System.Text.Json.JsonDocument.Parse(GraphRenderer.Json(G));
        Assert.Equal(G.Nodes.Count, doc.RootElement.GetProperty("nodes").GetArrayLength());
    }
}
