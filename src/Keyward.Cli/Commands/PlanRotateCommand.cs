using System.CommandLine;
using Keyward.Core.Graph;
using Keyward.Core.Rotation;

namespace Keyward.Cli.Commands;

/// <summary><c>keyward plan rotate NAME…</c> and <c>keyward plan exposed NAME… [--broad]</c> (subcommands of the lead's <c>plan</c>).</summary>
internal static class PlanRotateCommand
{
    public static IEnumerable<Command> Build(CliContext context)
    {
        yield return BuildRotate(context);
        yield return BuildExposed(context);
    }

    private static Command BuildRotate(CliContext context)
    {
        var file = CliOptions.ManifestFile();
        var json = CliOptions.Json();
        var names = new Argument<string[]>("name") { Description = "Credentials to rotate", Arity = ArgumentArity.OneOrMore };
        var exposed = new Option<string[]>("--exposed") { Description = "What leaked: refuse a rotation broader than this exposure needs", AllowMultipleArgumentsPerToken = true };
        var broad = new Option<bool>("--broad") { Description = "Allow a rotation broader than the exposure needs" };
        var cmd = new Command("rotate", "Show what rotating credentials touches, in execution order, and what does not change") { names, file, json, exposed, broad };
        cmd.SetAction(async (parse, ct) =>
        {
            var manifest = ManifestInput.Load(context, parse, file);
            var ex = parse.GetValue(exposed) ?? [];
            var intent = new RotationIntent(parse.GetValue(names)!, ex.Length > 0 ? RotationReason.Exposed : RotationReason.Manual, ex.Length > 0 ? ex : null, parse.GetValue(broad));
            var facts = await GraphCommand.FactsAsync(context, parse, ct).ConfigureAwait(false);
            var plan = RotationPlanner.Plan(manifest, facts, intent, context.Time.GetUtcNow());
            Print(context, plan, parse.GetValue(json), manifest);
            return 0;
        });
        return cmd;
    }

    private static Command BuildExposed(CliContext context)
    {
        var file = CliOptions.ManifestFile();
        var json = CliOptions.Json();
        var names = new Argument<string[]>("name") { Description = "Credentials that leaked", Arity = ArgumentArity.OneOrMore };
        var broad = new Option<bool>("--broad") { Description = "Also rotate the signer of a leaked token (when the secret may have leaked the same way)" };
        var cmd = new Command("exposed", "Propose the narrowest rotation that contains a leak") { names, file, json, broad };
        cmd.SetAction(async (parse, ct) =>
        {
            var manifest = ManifestInput.Load(context, parse, file);
            var intent = RotationPlanner.NarrowestFor(manifest, parse.GetValue(names)!, parse.GetValue(broad));
            var facts = await GraphCommand.FactsAsync(context, parse, ct).ConfigureAwait(false);
            var plan = RotationPlanner.Plan(manifest, facts, intent, context.Time.GetUtcNow());
            if (!parse.GetValue(json))
            {
                context.Console.Out.WriteLine($"narrowest rotation for the exposure of {string.Join(", ", intent.Exposed!)}: rotate {string.Join(", ", intent.Credentials)}");
                context.Console.Out.WriteLine($"run: keyward rotate {string.Join(' ', intent.Credentials)} --exposed {string.Join(' ', intent.Exposed!)}{(intent.Broad ? " --broad" : "")}");
                context.Console.Out.WriteLine();
            }
            Print(context, plan, parse.GetValue(json), manifest);
            return 0;
        });
        return cmd;
    }

    internal static void Print(CliContext context, RotationPlan plan, bool json, Core.Manifest.KeywardManifest? manifest = null)
    {
        var o = context.Console.Out;
        var hosts = HostsReached(plan, manifest);
        if (json)
        {
            CliJson.WriteLine(o, new RotationPlanJson(
                plan.At,
                plan.Intent.Reason.Name(),
                plan.Intent.Exposed,
                plan.IsTwoPhase,
                [.. plan.Rotations.Select(r => new RotationJson(r.Credential, r.Kind, r.Rule.Name(), r.Why, r.Derived))],
                [.. plan.Steps.Select(s => new RotationStepJson(s.Order, s.Phase.Name(), s.Action.Name(), s.TargetKind.Name(), s.Target, s.Detail))],
                plan.Unchanged,
                plan.Notes,
                [.. hosts.Select(h => new RotationHostJson(h.Host, h.Sinks))]), CliJson.Context.RotationPlanJson);
            return;
        }
        foreach (var r in plan.Rotations)
        {
            o.WriteLine($"{r.Credential} ({r.Kind}): {r.Why}");
            if (r.Derived.Count > 0) o.WriteLine($"  re-mints {r.Derived.Count} token(s) it signed: {string.Join(", ", r.Derived)}");
        }
        o.WriteLine();
        RotationPhase? phase = null;
        foreach (var s in plan.Steps)
        {
            if (plan.IsTwoPhase && s.Phase != phase)
            {
                phase = s.Phase;
                o.WriteLine(s.Phase switch
                {
                    RotationPhase.PublishTrust => "phase 1 — publish the new public key next to the old one, then wait:",
                    RotationPhase.SwitchSigning => "phase 2 (`keyward rotate --continue`) — switch signing, retire the old key:",
                    _ => "single phase:",
                });
            }
            o.WriteLine($"  {s.Order,3}. {s.Action.Name(),-20} {s.TargetKind.Name(),-10} {s.Target}  — {s.Detail}");
        }
        if (hosts.Count > 0)
        {
            o.WriteLine();
            o.WriteLine("hosts (their agents receive the new files):");
            foreach (var (host, sinks) in hosts) o.WriteLine($"  - {host}: {string.Join(", ", sinks)}");
        }
        o.WriteLine();
        o.WriteLine("unchanged:");
        foreach (var u in plan.Unchanged) o.WriteLine($"  - {u}");
        if (plan.Notes.Count > 0)
        {
            o.WriteLine("notes:");
            foreach (var n in plan.Notes) o.WriteLine($"  - {n}");
        }
    }

    /// <summary>The hosts whose sinks the plan re-renders, each with those sinks, in manifest order.</summary>
    internal static List<(string Host, List<string> Sinks)> HostsReached(RotationPlan plan, Core.Manifest.KeywardManifest? manifest)
    {
        if (manifest is null || manifest.HostSinks.Count == 0) return [];
        var touched = plan.Steps.Where(s => s.TargetKind == Core.Graph.NodeKind.Sink).Select(s => s.Target).ToHashSet(StringComparer.Ordinal);
        return manifest.Hosts
            .Select(h => (h.Name, manifest.SinksOfHost(h.Name).Where(s => touched.Contains(s.Name)).Select(s => s.Name).ToList()))
            .Where(x => x.Item2.Count > 0).ToList();
    }
}
