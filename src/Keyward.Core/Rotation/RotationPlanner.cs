using Keyward.Core.Store;
using System.Globalization;
using Keyward.Core.Errors;
using Keyward.Core.Graph;
using Keyward.Core.Manifest;

namespace Keyward.Core.Rotation;

/// <summary>
/// The planner: a pure function of (manifest, graph, store facts, intent, clock) to a <see cref="RotationPlan"/>.
/// It decides which rule applies to each requested credential, walks the graph for everything the rotation
/// touches, orders the steps for execution (stage → re-mint → re-render → hooks → verify → activate → retire;
/// two phases for cache signing keys), and states what does not change.
/// </summary>
public static class RotationPlanner
{
    /// <summary>Metadata key holding a Nix signing key's name in the store.</summary>
    public const string KeyNameMetadata = "keyName";

    public static RotationPlan Plan(KeywardManifest manifest, StoreFacts facts, RotationIntent intent, DateTimeOffset now) =>
        Plan(manifest, GraphBuilder.Build(manifest, facts, now), facts, intent, now);

    public static RotationPlan Plan(KeywardManifest manifest, CredentialGraph graph, StoreFacts facts, RotationIntent intent, DateTimeOffset now)
    {
        if (intent.Credentials.Count == 0) throw ErrorCodes.Usage.Exception("name at least one credential to rotate");
        var roots = new List<Credential>();
        foreach (var name in intent.Credentials.Distinct(StringComparer.Ordinal))
            roots.Add(manifest.FindCredential(name) ?? throw Unknown(name));
        if (intent.Exposed is { Count: > 0 } exposed) CheckAgainstExposure(manifest, graph, roots, exposed, intent.Broad);
        // A token its service's API cannot replace and no source can bring: refused before any journal is opened.
        var refusals = roots.OfType<ExternalCredential>().Select(x => ApiRotation.Refusal(manifest, x)).OfType<KeywardError>().ToList();
        if (refusals.Count > 0) throw new KeywardException(refusals);

        var p = new PlanWriter(graph);
        var rotations = new List<PlannedRotation>();
        var notes = new List<string>();
        var exposedReason = intent.Reason == RotationReason.Exposed || intent.Exposed is { Count: > 0 };

        // Order roots: signers and plain secrets first, tokens after (a token signed by a requested signer is
        // re-minted as part of the signer's rotation), two-phase keys last.
        var rootSet = roots.Select(r => r.Name).ToHashSet(StringComparer.Ordinal);
        var single = new List<Credential>();
        var twoPhase = new List<NixSigningKeyCredential>();
        var derived = new List<string>();       // tokens re-minted under a requested signer
        var derivedSet = new HashSet<string>(StringComparer.Ordinal);
        var invalidated = new List<string>();   // ledger-only tokens: cannot be re-minted
        foreach (var r in roots.OrderBy(r => RootOrder(r)))
        {
            var rule = RuleFor(manifest, graph, r);
            var tokens = rule == RotationRule.SigningSecret ? SignedTokens(graph, r.Name) : [];
            var minted = tokens.Where(t => manifest.FindCredential(t) is not null).ToList();
            rotations.Add(new PlannedRotation(r.Name, r.Kind.Name(), rule, rule.Description(), minted));
            if (r is AtticTokenCredential t && rootSet.Contains(t.SignedBy) && RuleFor(manifest, graph, manifest.FindCredential(t.SignedBy)!) == RotationRule.SigningSecret)
                continue; // covered by its signer
            if (rule == RotationRule.CacheSigningKey) { twoPhase.Add((NixSigningKeyCredential)r); continue; }
            single.Add(r);
            foreach (var tok in tokens)
            {
                if (manifest.FindCredential(tok) is null) { if (!invalidated.Contains(tok)) invalidated.Add(tok); continue; }
                if (derivedSet.Add(tok)) derived.Add(tok);
            }
        }
        var changing = single.Select(c => c.Name).Concat(derived).ToList();

        // Single-phase part.
        foreach (var c in single)
        {
            var rule = RuleFor(manifest, graph, c);
            if (rule is RotationRule.ExternalToken or RotationRule.StorageCredential)
                p.Add(RotationPhase.Single, StepAction.ReImport, NodeKind.Credential, c.Name, ReImportDetail(manifest, (ExternalCredential)c), c.Name);
            else
                p.Add(RotationPhase.Single, StepAction.Stage, NodeKind.Credential, c.Name, StageDetail(c, facts), c.Name);
        }
        foreach (var tok in derived)
        {
            var t = (AtticTokenCredential)manifest.FindCredential(tok)!;
            p.Add(RotationPhase.Single, StepAction.ReMint, NodeKind.Credential, tok, $"sign a new token for {t.Subject} with the staged {t.SignedBy}", tok);
        }
        var singleSinks = SinksOf(graph, changing, EdgeKind.DeliveredTo, EdgeKind.PublicHalfOf);
        foreach (var s in singleSinks)
            p.Add(RotationPhase.Single, StepAction.ReRender, NodeKind.Sink, graph.Nodes[s].Name, $"{graph.Nodes[s].Detail}: carries {CarriedList(graph, s, changing)}");
        AddHooks(p, graph, RotationPhase.Single, singleSinks, null);
        AddVerifications(p, graph, RotationPhase.Single, changing, singleSinks);
        foreach (var c in changing) p.Add(RotationPhase.Single, StepAction.Activate, NodeKind.Credential, c, "the new version becomes active", c);
        AddDeliveries(p, manifest, RotationPhase.Single, singleSinks, null);
        foreach (var c in changing)
        {
            var cred = manifest.FindCredential(c)!;
            p.Add(RotationPhase.Single, StepAction.Retire, NodeKind.Credential, c, RetireDetail(manifest, cred, facts, exposedReason, now), c);
        }
        foreach (var tok in invalidated)
            p.Add(RotationPhase.Single, StepAction.Revoke, NodeKind.Credential, tok, "not declared in the manifest, so it cannot be re-minted: marked revoked in the ledger; re-issue it by hand if still needed", tok);

        // Two-phase part (rule 3): phase one of every key before phase two of any, so the pause for `--continue` (and the
        // hosts' deliver steps) comes after every new public half is published.
        var keys = twoPhase.Select(k =>
        {
            var oldName = facts.Active(k.Name)?.Metadata.GetValueOrDefault(KeyNameMetadata) ?? k.KeyName;
            return (Key: k, Policy: manifest.EffectivePolicy(k), OldName: oldName, NewName: NextKeyName(oldName),
                Trusting: SinksOf(graph, [k.Name], EdgeKind.PublicHalfOf), Carrying: SinksOf(graph, [k.Name], EdgeKind.DeliveredTo));
        }).ToList();
        foreach (var (k, _, oldName, newName, trusting, _) in keys)
        {
            p.Add(RotationPhase.PublishTrust, StepAction.Stage, NodeKind.Credential, k.Name,
                $"generate a new Ed25519 key named {newName} (Nix keeps only the first key of a name in trusted-public-keys, so old and new names differ)", k.Name);
            foreach (var s in trusting)
                p.Add(RotationPhase.PublishTrust, StepAction.PropagatePublicKey, NodeKind.Sink, graph.Nodes[s].Name, $"{graph.Nodes[s].Detail}: trust {oldName} and {newName}", k.Name);
            AddHooks(p, graph, RotationPhase.PublishTrust, trusting, k.Name);
            p.Add(RotationPhase.PublishTrust, StepAction.Verify, NodeKind.Credential, k.Name, "every trusting sink lists both public keys", k.Name);
            AddDeliveries(p, manifest, RotationPhase.PublishTrust, trusting, k.Name);
        }
        foreach (var (k, policy, oldName, newName, trusting, carrying) in keys)
        {
            p.Add(RotationPhase.SwitchSigning, StepAction.Activate, NodeKind.Credential, k.Name, $"{newName} becomes the signing key", k.Name);
            foreach (var s in carrying)
                p.Add(RotationPhase.SwitchSigning, StepAction.ReRender, NodeKind.Sink, graph.Nodes[s].Name, $"{graph.Nodes[s].Detail}: carries the private key {newName}", k.Name);
            AddHooks(p, graph, RotationPhase.SwitchSigning, carrying, k.Name);
            foreach (var e in graph.ImpactOf(graph.Find(NodeKind.Credential, k.Name)!.Id))
                if (graph.Nodes[e.To].Kind == NodeKind.Service)
                    p.Add(RotationPhase.SwitchSigning, StepAction.SwitchSigning, NodeKind.Service, graph.Nodes[e.To].Name, $"set the cache keypair to {newName} (PATCH the cache config)", k.Name);
            AddVerifications(p, graph, RotationPhase.SwitchSigning, [k.Name], carrying);
            var overlap = exposedReason ? null : policy.Overlap;
            foreach (var s in trusting)
                p.Add(RotationPhase.SwitchSigning, StepAction.RetirePublicKey, NodeKind.Sink, graph.Nodes[s].Name,
                    overlap is { } o ? $"keep trusting {oldName} until {Stamp(now + o.Value)} (overlap {o.Text}), then drop it" : $"drop {oldName}; trust only {newName}", k.Name);
            AddHooks(p, graph, RotationPhase.SwitchSigning, trusting, k.Name);
            AddDeliveries(p, manifest, RotationPhase.SwitchSigning, [.. carrying, .. trusting], k.Name);
            p.Add(RotationPhase.SwitchSigning, StepAction.Retire, NodeKind.Credential, k.Name,
                overlap is { } o2 ? $"{oldName} stays the previous version until {Stamp(now + o2.Value)}, then is retired" : $"{oldName} is retired", k.Name);
            notes.Add(policy.AutoContinue == true
                ? $"{k.Name}: rotation.autoContinue is set, so phase two follows phase one in the same run"
                : $"{k.Name}: phase one stops after publishing {newName}; run `keyward rotate --continue` once every consumer trusts it");
        }

        var unchanged = Unchanged(manifest, graph, rotations, changing.Concat(twoPhase.Select(k => k.Name)).Concat(invalidated).ToHashSet(StringComparer.Ordinal));
        if (exposedReason) notes.Add("exposure: no overlap — the exposed versions are retired as soon as the new ones are active");
        foreach (var r in rotations)
        {
            if (r.Rule == RotationRule.ConsumerToken && exposedReason)
            {
                var exp = facts.Active(r.Credential)?.ExpiresAt;
                notes.Add($"{r.Credential}: Attic keeps no revocation list, so the leaked token stays valid until it expires" +
                    (exp is { } e ? $" ({Stamp(e)})" : "") + " unless its signing secret rotates; rotate the secret too (--broad) if that window is unacceptable");
            }
            if (r.Rule == RotationRule.SigningSecret && manifest.EffectivePolicy(manifest.FindCredential(r.Credential)!).Overlap is not null)
                notes.Add($"{r.Credential}: overlap does not apply — atticd accepts one signing secret, so tokens of the old secret stop verifying when it restarts");
        }
        return new RotationPlan(now, intent, rotations, p.Steps, unchanged, notes);
    }

    /// <summary>The narrowest rotation that contains the exposure of <paramref name="leaked"/> (with <paramref name="broad"/>,
    /// also the signers of leaked tokens: the broader alternative when the secret may have leaked the same way).</summary>
    public static RotationIntent NarrowestFor(KeywardManifest manifest, IReadOnlyList<string> leaked, bool broad)
    {
        var names = new List<string>();
        foreach (var l in leaked)
        {
            var c = manifest.FindCredential(l) ?? throw Unknown(l);
            if (broad && c is AtticTokenCredential t && manifest.FindCredential(t.SignedBy) is not null && !names.Contains(t.SignedBy)) names.Add(t.SignedBy);
            if (!names.Contains(c.Name)) names.Add(c.Name);
        }
        return new RotationIntent(names, RotationReason.Exposed, leaked, broad);
    }

    public static RotationRule RuleFor(KeywardManifest manifest, CredentialGraph graph, Credential c) => c switch
    {
        AtticTokenCredential => RotationRule.ConsumerToken,
        NixSigningKeyCredential => RotationRule.CacheSigningKey,
        ExternalCredential { Provider: ExternalProvider.S3 } => RotationRule.StorageCredential,
        ExternalCredential => RotationRule.ExternalToken,
        SecretCredential or RsaKeyCredential when SignedTokens(graph, c.Name).Count > 0 => RotationRule.SigningSecret,
        _ => RotationRule.StandaloneSecret,
    };

    /// <summary>Tokens (manifest and ledger) signed by <paramref name="signer"/>, in graph order.</summary>
    public static IReadOnlyList<string> SignedTokens(CredentialGraph graph, string signer)
    {
        if (graph.Find(NodeKind.Credential, signer) is not { } node) return [];
        var list = new List<string>();
        foreach (var e in graph.ImpactOf(node.Id))
            if (e.Kind == EdgeKind.SignedBy) list.Add(graph.Nodes[e.From].Name);
        return list;
    }

    /// <summary><c>main-1</c> → <c>main-2</c>; a name without a numeric suffix gets <c>-2</c>.</summary>
    public static string NextKeyName(string current)
    {
        var dash = current.LastIndexOf('-');
        if (dash > 0 && int.TryParse(current.AsSpan(dash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var n))
            return string.Concat(current.AsSpan(0, dash + 1), (n + 1).ToString(CultureInfo.InvariantCulture));
        return current + "-2";
    }

    private static void CheckAgainstExposure(KeywardManifest manifest, CredentialGraph graph, List<Credential> roots, IReadOnlyList<string> exposed, bool broad)
    {
        // Closure of a set: itself plus every token its signers sign.
        HashSet<string> Closure(IEnumerable<string> names)
        {
            var set = new HashSet<string>(StringComparer.Ordinal);
            foreach (var n in names)
            {
                set.Add(n);
                var c = manifest.FindCredential(n);
                if (c is not null && RuleFor(manifest, graph, c) == RotationRule.SigningSecret)
                    foreach (var t in SignedTokens(graph, n)) set.Add(t);
            }
            return set;
        }
        foreach (var e in exposed) if (manifest.FindCredential(e) is null) throw Unknown(e);
        var covers = Closure(roots.Select(r => r.Name));
        var missing = exposed.Where(e => !covers.Contains(e)).ToList();
        if (missing.Count > 0)
            throw ErrorCodes.RotationMissesExposure.Exception(
                $"rotating {string.Join(", ", roots.Select(r => r.Name))} leaves the exposed {string.Join(", ", missing)} valid");
        if (broad) return;
        var needed = Closure(exposed);
        foreach (var r in roots)
        {
            if (needed.Contains(r.Name)) continue;
            var extra = Closure([r.Name]).Where(n => !needed.Contains(n) && n != r.Name).ToList();
            var why = extra.Count > 0
                ? $"rotating {r.Name} also re-mints {extra.Count} token(s) that did not leak ({string.Join(", ", extra.Take(5))}{(extra.Count > 5 ? ", …" : "")})"
                : $"{r.Name} did not leak";
            throw ErrorCodes.RotationBroaderThanExposure.Exception(
                $"{why}; the exposure of {string.Join(", ", exposed)} is contained by rotating {string.Join(", ", exposed)} alone");
        }
    }

    private static int RootOrder(Credential c) => c switch
    {
        SecretCredential or RsaKeyCredential => 0,
        ExternalCredential => 1,
        AtticTokenCredential => 2,
        _ => 3,
    };

    private static List<int> SinksOf(CredentialGraph graph, IEnumerable<string> credentials, params EdgeKind[] kinds)
    {
        var seen = new HashSet<int>();
        foreach (var c in credentials)
        {
            if (graph.Find(NodeKind.Credential, c) is not { } n) continue;
            foreach (var e in graph.ImpactOf(n.Id))
                if (graph.Nodes[e.To].Kind == NodeKind.Sink && Array.IndexOf(kinds, e.Kind) >= 0) seen.Add(e.To);
        }
        var list = seen.ToList();
        list.Sort(); // node ids follow manifest order
        return list;
    }

    private static string CarriedList(CredentialGraph graph, int sink, List<string> changing)
    {
        var set = new HashSet<string>(changing, StringComparer.Ordinal);
        var names = graph.ImpactedBy(sink).Select(e => graph.Nodes[e.ImpactFrom]).Where(n => n.Kind == NodeKind.Credential && set.Contains(n.Name)).Select(n => n.Name);
        return string.Join(", ", names);
    }

    private static void AddHooks(PlanWriter p, CredentialGraph graph, RotationPhase phase, List<int> sinks, string? credential)
    {
        var seen = new HashSet<int>();
        foreach (var s in sinks)
            foreach (var e in graph.ImpactOf(s))
            {
                if (e.Kind != EdgeKind.Triggers || !seen.Add(e.To)) continue;
                var hook = graph.Nodes[e.To];
                var action = hook.Name.StartsWith("restart ", StringComparison.Ordinal) ? StepAction.Restart
                    : hook.Name.StartsWith("reload ", StringComparison.Ordinal) ? StepAction.Reload : StepAction.Run;
                var from = string.Join(", ", graph.ImpactedBy(e.To).Where(x => sinks.Contains(x.From)).Select(x => graph.Nodes[x.From].Name).Distinct());
                p.Add(phase, action, NodeKind.Hook, hook.Name, $"{hook.Detail} (after {from} changed)", credential);
            }
    }

    /// <summary>One <c>deliver</c> step per host that receives one of <paramref name="sinks"/> (manifest order): the rotation
    /// goes on to retire the old version (or, in phase one, to switch signing) only once that host's agent has confirmed
    /// what the server renders for it now.</summary>
    private static void AddDeliveries(PlanWriter p, KeywardManifest manifest, RotationPhase phase, List<int> sinks, string? credential)
    {
        if (manifest.HostSinks.Count == 0) return;
        var names = sinks.Select(s => p.Graph.Nodes[s].Name).ToHashSet(StringComparer.Ordinal);
        foreach (var h in manifest.Hosts)
        {
            var mine = manifest.SinksOfHost(h.Name).Where(s => names.Contains(s.Name)).Select(s => s.Name).ToList();
            if (mine.Count == 0) continue;
            p.Add(phase, StepAction.Deliver, NodeKind.Host, h.Name,
                $"wait until the agent on {h.Name} confirms {string.Join(", ", mine)} as the server renders {(mine.Count == 1 ? "it" : "them")} now", credential);
        }
    }

    private static void AddVerifications(PlanWriter p, CredentialGraph graph, RotationPhase phase, IEnumerable<string> credentials, List<int> sinks)
    {
        foreach (var s in sinks)
            p.Add(phase, StepAction.Verify, NodeKind.Sink, graph.Nodes[s].Name, "the file on disk carries the new fingerprints");
        var seen = new HashSet<int>();
        foreach (var c in credentials)
        {
            if (graph.Find(NodeKind.Credential, c) is not { } n) continue;
            foreach (var e in graph.ImpactOf(n.Id))
            {
                var to = graph.Nodes[e.To];
                if (to.Kind is not (NodeKind.Check or NodeKind.Service) || e.Kind == EdgeKind.PublicHalfOf || !seen.Add(to.Id)) continue;
                p.Add(phase, StepAction.Verify, to.Kind, to.Name, to.Kind == NodeKind.Check ? to.Detail : $"{to.Name} works with the new credentials", c);
            }
        }
    }

    private static List<string> Unchanged(KeywardManifest manifest, CredentialGraph graph, List<PlannedRotation> rotations, HashSet<string> changing)
    {
        var list = new List<string>();
        var keys = manifest.Credentials.OfType<NixSigningKeyCredential>().Where(k => !changing.Contains(k.Name)).ToList();
        foreach (var k in keys.Take(10))
            list.Add($"the cache public key of {k.Name} ({k.KeyName}) is unchanged");
        if (keys.Count > 10) list.Add($"the public keys of {keys.Count - 10} other cache signing keys are unchanged");
        var signers = new List<string>();
        foreach (var r in rotations)
            if (manifest.FindCredential(r.Credential) is AtticTokenCredential t && !changing.Contains(t.SignedBy) && !signers.Contains(t.SignedBy))
                signers.Add(t.SignedBy);
        foreach (var s in signers)
        {
            var stay = SignedTokens(graph, s).Count(t => !changing.Contains(t));
            list.Add($"{s} is unchanged; the {stay} other token(s) it signed stay valid");
        }
        if (rotations.All(r => r.Rule == RotationRule.CacheSigningKey))
            foreach (var c in manifest.Credentials)
                if (c is SecretCredential or RsaKeyCredential && SignedTokens(graph, c.Name).Count > 0 && !changing.Contains(c.Name))
                    list.Add($"{c.Name} and every token it signed are unchanged");
        if (rotations.Any(r => r.Rule == RotationRule.StorageCredential))
            list.Add("no public key or token changes (storage plane only)");
        var others = manifest.Credentials.Count(c => !changing.Contains(c.Name));
        list.Add($"{others} of {manifest.Credentials.Count} credentials are unchanged");
        return list;
    }

    private static string StageDetail(Credential c, StoreFacts facts)
    {
        var current = facts.Active(c.Name);
        var next = current is null ? "version 1" : $"version {current.Version + 1} (replacing {current.Version})";
        return c switch
        {
            SecretCredential s => $"generate {s.Bytes} random bytes as {next}",
            RsaKeyCredential r => $"generate a {r.Bits}-bit RSA key as {next}",
            AtticTokenCredential t => $"sign a new token for {t.Subject} with the active {t.SignedBy} as {next}",
            _ => $"generate {next}",
        };
    }

    private static string ReImportDetail(KeywardManifest manifest, ExternalCredential x) => (ApiRotation.For(manifest, x), x.Source) switch
    {
        (ApiRotationKind.Coder, _) =>
            "create the next token through Coder's API with the current one (POST users/me/keys/tokens, lifetime within tokenconfig), validate it; the old one is deleted when retired",
        (ApiRotationKind.Gitea, _) =>
            "create the next token through Gitea's API with Basic auth and the admin's password (POST users/{user}/tokens, the declared scopes plus read:user), validate it; the old one is deleted when retired",
        (ApiRotationKind.GiteaWithoutPassword, FileSource f) =>
            $"Gitea's API creates a token only with the user's password, which the service does not declare: create a new token by hand (`gitea admin user generate-access-token`), write it to {f.Path}, then Keyward re-imports it",
        (_, var source) => ReImportFromSource(x, source),
    };

    private static string ReImportFromSource(ExternalCredential x, ExternalSource? source) => source switch
    {
        FileSource f => $"create a new {x.Provider.Name()} credential at the provider, write it to {f.Path}, then Keyward re-imports it",
        EnvSource e => $"create a new {x.Provider.Name()} credential at the provider, export it as ${e.Variable}, then Keyward re-imports it",
        JsonMapSource j => $"create a new {x.Provider.Name()} credential at the provider, put it under \"{j.Key}\" in {j.Path}, then Keyward re-imports it",
        SopsSource o => $"create a new {x.Provider.Name()} credential at the provider, set it with `sops set {o.Path} '[\"{o.Key}\"]' '\"NEW\"'`, then Keyward re-imports it",
        _ => $"no source: `keyward bootstrap` creates a new {x.Provider.Name()} token",
    };

    private static string RetireDetail(KeywardManifest manifest, Credential c, StoreFacts facts, bool exposed, DateTimeOffset now)
    {
        var old = facts.Active(c.Name);
        var which = old is null ? "the old version" : $"version {old.Version}";
        var overlap = manifest.EffectivePolicy(c).Overlap;
        if (exposed || overlap is null || c is ExternalCredential)
            return c is AtticTokenCredential ? $"{which} is retired and revoked in the ledger" : $"{which} is retired";
        return $"{which} stays the previous version (still valid) until {Stamp(now + overlap.Value.Value)} (overlap {overlap.Value.Text}), then is retired";
    }

    private static string Stamp(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    private static KeywardException Unknown(string name) =>
        ErrorCodes.NotInManifest.Exception($"no credential named '{name}' in the manifest");

    private sealed class PlanWriter(CredentialGraph graph)
    {
        public List<PlanStep> Steps { get; } = [];
        // A step is one per (phase, action, target) and per credential: two cache keys rolled over together share sinks,
        // hooks and hosts, and each key's publication must be re-rendered, reloaded and confirmed after that key is staged.
        private readonly HashSet<(RotationPhase, StepAction, NodeKind, string, string?)> _seen = [];

        public CredentialGraph Graph => graph;

        public void Add(RotationPhase phase, StepAction action, NodeKind kind, string target, string detail, string? credential = null)
        {
            if (!_seen.Add((phase, action, kind, target, credential))) return;
            Steps.Add(new PlanStep(Steps.Count + 1, phase, action, kind, target, detail, credential));
        }
    }
}
