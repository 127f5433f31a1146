using Keyward.Core.Store;
using Keyward.Core.Manifest;

namespace Keyward.Core.Graph;

/// <summary>Builds the <see cref="CredentialGraph"/> from a manifest, plus the store's ledger: tokens the ledger
/// records as signed by a manifest signer but which the manifest does not declare (issued to CI by hand, or by
/// a future server) become nodes too, because rotating their signer invalidates them.</summary>
public static class GraphBuilder
{
    public static CredentialGraph Build(KeywardManifest manifest, StoreFacts? facts = null, DateTimeOffset? now = null)
    {
        var b = new Builder();
        foreach (var c in manifest.Credentials) b.Node(NodeKind.Credential, c.Name, Describe(c));
        foreach (var s in manifest.Services) b.Node(NodeKind.Service, s.Name, $"{ServiceKindName(s.Kind)} {s.Url}");

        foreach (var c in manifest.Credentials)
            if (c is AtticTokenCredential t && manifest.FindCredential(t.SignedBy) is not null)
                b.Edge(NodeKind.Credential, t.Name, NodeKind.Credential, t.SignedBy, EdgeKind.SignedBy);

        if (facts is not null)
        {
            foreach (var tok in facts.Ledger)
            {
                if (tok.RevokedAt is not null || (now is { } n && tok.ExpiresAt <= n)) continue;
                if (manifest.FindCredential(tok.Credential) is not null || manifest.FindCredential(tok.SignedBy) is null) continue;
                b.Node(NodeKind.Credential, tok.Credential, $"ledger token {tok.TokenId} for {tok.Subject}, signed by {tok.SignedBy}");
                b.Edge(NodeKind.Credential, tok.Credential, NodeKind.Credential, tok.SignedBy, EdgeKind.SignedBy);
            }
        }

        foreach (var s in manifest.AllSinks)
        {
            b.Node(NodeKind.Sink, s.Name, $"{s.Format.Name()} {s.StoragePath}{OnHosts(s)}");
            foreach (var e in s.Entries)
            {
                if (manifest.FindCredential(e.Credential) is null) continue;
                b.Edge(NodeKind.Credential, e.Credential, NodeKind.Sink, s.Name, e.Take == EntryValue.PublicKey ? EdgeKind.PublicHalfOf : EdgeKind.DeliveredTo);
            }
            foreach (var k in s.NixConf?.TrustedPublicKeys ?? [])
                if (manifest.FindCredential(k) is not null)
                    b.Edge(NodeKind.Credential, k, NodeKind.Sink, s.Name, EdgeKind.PublicHalfOf);
            // A host sink's hooks run on that host, by its agent: they are no step of the authority's rotation.
            foreach (var h in s.Hosts.Count > 0 ? [] : s.OnChange)
            {
                var name = HookName(h);
                b.Node(NodeKind.Hook, name, HookDetail(h));
                b.Edge(NodeKind.Sink, s.Name, NodeKind.Hook, name, EdgeKind.Triggers);
            }
        }

        var attic = manifest.Services.Where(s => s.Kind == ServiceKind.Attic).ToArray();
        foreach (var svc in manifest.Services)
        {
            if (svc.Token is { } admin && manifest.FindCredential(admin) is not null)
            {
                b.Edge(NodeKind.Credential, admin, NodeKind.Service, svc.Name, EdgeKind.BelongsTo);
                Check(b, admin, $"live {admin}", $"{svc.Name} accepts the token");
            }
            foreach (var cache in svc.Caches)
            {
                if (cache.SigningKey is not { } key || manifest.FindCredential(key) is null) continue;
                b.Edge(NodeKind.Credential, key, NodeKind.Service, svc.Name, EdgeKind.PublicHalfOf);
                Check(b, key, $"cache-key {svc.Name}/{cache.Name}", $"{svc.Name} serves cache {cache.Name} with this key's public half");
            }
        }

        ILookup<string, string>? endpoints = null;
        foreach (var c in manifest.Credentials)
        {
            switch (c)
            {
                case AtticTokenCredential t:
                    Check(b, t.Name, $"signature {t.Name}", $"verifies against the active {t.SignedBy} and is not expired");
                    foreach (var svc in AtticServicesFor(manifest, attic, t, ref endpoints))
                    {
                        b.Edge(NodeKind.Credential, t.Name, NodeKind.Service, svc.Name, EdgeKind.BelongsTo);
                        if (manifest.FindCredential(t.SignedBy) is not null)
                            b.Edge(NodeKind.Credential, t.SignedBy, NodeKind.Service, svc.Name, EdgeKind.BelongsTo);
                    }
                    break;
                case ExternalCredential x:
                    foreach (var svc in ProviderServices(manifest, x))
                    {
                        if (svc.Token == x.Name) continue;
                        b.Edge(NodeKind.Credential, x.Name, NodeKind.Service, svc.Name, EdgeKind.BelongsTo);
                        Check(b, x.Name, $"live {x.Name}", $"{svc.Name} accepts the token");
                    }
                    break;
            }
        }
        return b.Build();
    }

    /// <summary>" on host runner-1" / " on hosts a, b" for a sink delivered by agents; empty for the authority's own.</summary>
    public static string OnHosts(Sink s) => s.Hosts.Count switch
    {
        0 => "",
        1 => $" on host {s.Hosts[0]}",
        _ => $" on hosts {string.Join(", ", s.Hosts)}",
    };

    public static string HookName(Hook h) => h switch
    {
        RestartUnitHook r => $"restart {r.Unit}",
        ReloadUnitHook r => $"reload {r.Unit}",
        CommandHook c => $"run {string.Join(' ', c.Argv)}",
        _ => throw new ArgumentOutOfRangeException(nameof(h)),
    };

    private static string HookDetail(Hook h) => h switch
    {
        RestartUnitHook r => $"systemctl restart {r.Unit}",
        ReloadUnitHook r => $"systemctl reload {r.Unit}",
        CommandHook => "command",
        _ => "",
    };

    private static void Check(Builder b, string credential, string name, string detail)
    {
        b.Node(NodeKind.Check, name, detail);
        b.Edge(NodeKind.Credential, credential, NodeKind.Check, name, EdgeKind.VerifiedBy);
    }

    private static IEnumerable<Service> AtticServicesFor(KeywardManifest manifest, Service[] attic, AtticTokenCredential t, ref ILookup<string, string>? endpoints)
    {
        if (attic.Length <= 1) return attic;
        // Several Attic servers: a token belongs to the ones its attic-config sink entries point at (index built once).
        endpoints ??= manifest.Sinks.SelectMany(s => s.Entries)
            .Where(e => e.Endpoint is not null && Uri.TryCreate(e.Endpoint, UriKind.Absolute, out _))
            .ToLookup(e => e.Credential, e => new Uri(e.Endpoint!).Host, StringComparer.Ordinal);
        var hosts = endpoints[t.Name].ToHashSet(StringComparer.OrdinalIgnoreCase);
        return attic.Where(s => hosts.Contains(s.Url.Host));
    }

    private static IEnumerable<Service> ProviderServices(KeywardManifest manifest, ExternalCredential x)
    {
        ServiceKind? kind = x.Provider switch
        {
            ExternalProvider.GitHub => ServiceKind.GitHub,
            ExternalProvider.GitLab => ServiceKind.GitLab,
            ExternalProvider.Gitea => ServiceKind.Gitea,
            ExternalProvider.Coder => ServiceKind.Coder,
            _ => null,
        };
        if (kind is null) return [];
        var same = manifest.Services.Where(s => s.Kind == kind).ToArray();
        // github.com's API lives on api.github.com: a service host equal to, or a subdomain of, the token's host.
        if (x.Host is { } host)
            return same.Where(s => string.Equals(s.Url.Host, host, StringComparison.OrdinalIgnoreCase)
                || s.Url.Host.EndsWith("." + host, StringComparison.OrdinalIgnoreCase));
        return same.Length == 1 ? same : [];
    }

    public static string Describe(Credential c) => c switch
    {
        AtticTokenCredential t => $"attic-token for {t.Subject}, signed by {t.SignedBy}",
        NixSigningKeyCredential k => $"nix-signing-key {k.KeyName}",
        ExternalCredential x => $"external {x.Provider.Name()}" + (x.Host is null ? "" : $" {x.Host}"),
        SecretCredential s => $"secret {s.Bytes} bytes",
        RsaKeyCredential r => $"rsa-key {r.Bits} bits",
        _ => c.Kind.Name(),
    };

    private static string ServiceKindName(ServiceKind k) => k.ToString().ToLowerInvariant();

    private sealed class Builder
    {
        private readonly List<GraphNode> _nodes = [];
        private readonly List<GraphEdge> _edges = [];
        private readonly HashSet<GraphEdge> _edgeSet = [];
        private readonly Dictionary<(NodeKind, string), int> _index = [];

        public int Node(NodeKind kind, string name, string detail)
        {
            if (_index.TryGetValue((kind, name), out var id)) return id;
            id = _nodes.Count;
            _nodes.Add(new GraphNode(id, kind, name, detail));
            _index[(kind, name)] = id;
            return id;
        }

        public void Edge(NodeKind fromKind, string from, NodeKind toKind, string to, EdgeKind kind)
        {
            if (!_index.TryGetValue((fromKind, from), out var f) || !_index.TryGetValue((toKind, to), out var t)) return;
            var e = new GraphEdge(f, t, kind);
            if (_edgeSet.Add(e)) _edges.Add(e);
        }

        public CredentialGraph Build() => new(_nodes, _edges, _index);
    }
}
