using System.Globalization;
using Keyward.Core.Store;
using Keyward.Core.Attic;
using Keyward.Core.Errors;
using Keyward.Core.Graph;
using Keyward.Core.Manifest;
using Keyward.Core.Rotation;
using Keyward.Core.Time;

namespace Keyward.Bench;

/// <summary>Plans a rotation in generated graphs: 10% signing secrets and cache keys, 50% tokens, 40% sinks.
/// Prints one markdown row per size: graph build, plan of a JWT-secret rotation, plan of a cache-key rollover.</summary>
internal static class PlanBench
{
    public static Task<int> Run(string[] args)
    {
        var sizes = args.Length > 0 ? args.Select(a => int.Parse(a, CultureInfo.InvariantCulture)).ToArray() : [10_000, 100_000, 1_000_000];
        Console.WriteLine("| nodes | credentials | sinks | edges | build graph (ms) | plan secret rotation (ms) | plan cache-key rollover (ms) | build+plan per 1k nodes (ms) |");
        Console.WriteLine("|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var n in sizes)
        {
            var m = Generate(n);
            var now = new DateTimeOffset(2025, 6, 1, 0, 0, 0, TimeSpan.Zero);
            CredentialGraph g = GraphBuilder.Build(m);
            var runs = n >= 1_000_000 ? 3 : 7;
            var build = Measure.MedianMs(runs, () => g = GraphBuilder.Build(m));
            var secret = Measure.MedianMs(runs, () => RotationPlanner.Plan(m, g, StoreFacts.Empty, new RotationIntent(["secret-0"]), now));
            var key = Measure.MedianMs(runs, () => RotationPlanner.Plan(m, g, StoreFacts.Empty, new RotationIntent(["key-0"]), now));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {g.Nodes.Count:N0} | {m.Credentials.Count:N0} | {m.Sinks.Count:N0} | {g.Edges.Count:N0} | {build:F1} | {secret:F3} | {key:F3} | {(build + secret) / (g.Nodes.Count / 1000.0):F3} |"));
        }
        return Task.FromResult(0);
    }

    /// <summary>n nodes: n/20 secrets, n/20 nix keys, n/2 tokens (10 per secret), 2n/5 sinks (4 of every 5 tokens get a
    /// sink; every nix key gets a trust-list sink shared by... one sink each), hooks shared by 100 sinks.</summary>
    private static KeywardManifest Generate(int n)
    {
        var l = new SourceLocation("bench.yaml", 1, 1);
        var secrets = n / 20;
        var keys = n / 20;
        var tokens = n / 2;
        var sinks = n - secrets - keys - tokens;
        var creds = new List<Credential>(secrets + keys + tokens);
        for (var i = 0; i < secrets; i++) creds.Add(new SecretCredential($"secret-{i}", "o", "p", null, [], l, 64, ValueEncoding.Base64));
        for (var i = 0; i < keys; i++) creds.Add(new NixSigningKeyCredential($"key-{i}", "o", "p", null, [], l, $"cache-{i}-1"));
        var grants = new[] { new CacheGrant(CacheNamePattern.Parse("main"), [AtticPermission.Pull], l) };
        var validity = HumanDuration.Parse("30d");
        for (var i = 0; i < tokens; i++)
            creds.Add(new AtticTokenCredential($"token-{i}", "o", "p", null, [], l, $"secret-{i % secrets}", $"sub-{i}", validity, null, grants, null, []));
        var list = new List<Sink>(sinks);
        var hooks = new List<Hook>();
        for (var i = 0; i < sinks; i++)
        {
            if (i % 100 == 0) hooks = [new RestartUnitHook($"unit-{i / 100}.service", l)];
            if (i < keys)
                list.Add(new Sink($"sink-{i}", $"/run/k/{i}.conf", SinkFormat.NixConf, null, null, 0x1a4, 0x1ed, null, [], hooks,
                    new NixConfOptions([], [$"key-{i}"], null, []), null, null, l));
            else
                list.Add(new Sink($"sink-{i}", $"/run/k/{i}.env", SinkFormat.Env, null, null, 0x180, 0x1c0, null,
                    [new SinkEntry("T", $"token-{(i - keys) % tokens}", ValueEncoding.Raw, EntryValue.Value, null, null, null, l)], hooks, null, null, null, l));
        }
        return new KeywardManifest("bench.yaml", [], new Dictionary<CredentialKind, RotationPolicy>(), creds, list, []);
    }
}
