using Keyward.Core.Graph;
using Keyward.Core.Manifest;
using Keyward.Core.Rotation;
using Keyward.Core.Store;

namespace Keyward.Cli.Commands;

/// <summary>
/// <c>keyward list --wide</c>: the key authority table, printed from the manifest — for every declared credential its
/// kind, owner, purpose, whether it is secret, its consumers (sinks, the consumers of its public half, the tokens it
/// signs, the services it belongs to) and the rotation rule the planner applies to it, with its stored version.
/// </summary>
internal static class Taxonomy
{
    internal sealed record Row(string Name, string Kind, string Owner, string Purpose, string Secret, IReadOnlyList<string> Consumers,
        string Rotation, RotationRule Rule, string? Version);

    public static int Print(CliContext context, KeywardManifest manifest, IReadOnlyList<CredentialVersion> versions, bool json)
    {
        var rows = Rows(manifest, versions);
        var o = context.Console.Out;
        if (json)
        {
            CliJson.WriteLine(o, rows.Select(r => new TaxonomyRowJson(
                r.Name, r.Kind, r.Owner, r.Purpose, r.Secret, r.Consumers,
                r.Rotation, r.Rule.ToString(), r.Rule.Description(), r.Version)).ToArray(), CliJson.Context.TaxonomyRowJsonArray);
            return 0;
        }
        string[] head = ["NAME", "KIND", "OWNER", "PURPOSE", "SECRET", "CONSUMERS", "ROTATION", "VERSION"];
        var cells = rows.Select(r => new[] { r.Name, r.Kind, r.Owner, r.Purpose, r.Secret, r.Consumers.Count == 0 ? "-" : string.Join(", ", r.Consumers), r.Rotation, r.Version ?? "not stored" }).ToArray();
        var widths = head.Select((h, i) => Math.Max(h.Length, cells.Select(c => c[i].Length).DefaultIfEmpty(0).Max())).ToArray();
        o.WriteLine(string.Join("  ", head.Select((h, i) => h.PadRight(widths[i]))).TrimEnd());
        foreach (var c in cells) o.WriteLine(string.Join("  ", c.Select((x, i) => x.PadRight(widths[i]))).TrimEnd());
        return 0;
    }

    internal static IReadOnlyList<Row> Rows(KeywardManifest manifest, IReadOnlyList<CredentialVersion> versions)
    {
        var graph = GraphBuilder.Build(manifest);
        var active = versions.Where(v => v.State == VersionState.Active).ToDictionary(v => v.Name, v => $"v{v.Version}", StringComparer.Ordinal);
        var rows = new List<Row>();
        foreach (var c in manifest.Credentials)
        {
            var rule = RotationPlanner.RuleFor(manifest, graph, c);
            rows.Add(new Row(c.Name, Kind(c), c.Owner, c.Purpose,
                c is NixSigningKeyCredential ? "yes (public half published)" : "yes",
                Consumers(graph, c.Name), Short(rule), rule, active.GetValueOrDefault(c.Name)));
        }
        return rows;
    }

    private static string Kind(Credential c) => c switch
    {
        ExternalCredential x => $"external ({x.Provider.Name()})",
        AtticTokenCredential t => $"attic-token ({t.Subject})",
        _ => c.Kind.Name(),
    };

    /// <summary>The rule in the words of the key authority design.</summary>
    internal static string Short(RotationRule r) => r switch
    {
        RotationRule.ConsumerToken => "re-mint this token only",
        RotationRule.SigningSecret => "rotate the JWT secret and re-mint every token",
        RotationRule.CacheSigningKey => "two-phase rollover",
        RotationRule.StorageCredential => "storage plane only",
        RotationRule.StandaloneSecret => "regenerate and re-deliver",
        RotationRule.ExternalToken => "new token at the provider, re-import",
        _ => r.ToString(),
    };

    private static IReadOnlyList<string> Consumers(CredentialGraph graph, string credential)
    {
        if (graph.Find(NodeKind.Credential, credential) is not { } node) return [];
        var list = new List<string>();
        foreach (var e in graph.ImpactOf(node.Id))
        {
            var target = graph.Nodes[e.ImpactTo];
            var label = e.Kind switch
            {
                EdgeKind.DeliveredTo => $"sink {target.Name}",
                EdgeKind.PublicHalfOf => $"public key -> {target.Kind.Name()} {target.Name}",
                EdgeKind.SignedBy => $"signs {target.Name}",
                EdgeKind.BelongsTo => $"service {target.Name}",
                _ => null,
            };
            if (label is not null && !list.Contains(label)) list.Add(label);
        }
        return list;
    }
}
