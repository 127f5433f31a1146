using System.CommandLine;
using Keyward.Core.Errors;
using Keyward.Core.Manifest;
using Keyward.Engine.Checks;
using Keyward.Services;
using Keyward.Services.Http;
using Keyward.Engine.Reconcile;

namespace Keyward.Cli.Commands;

/// <summary><c>keyward reconcile [-f FILE] [--dry-run]</c>: bring every declared Attic cache to its declared shape.</summary>
internal static class ReconcileCommand
{
    public static Command Build(CliContext context)
    {
        var file = CliOptions.ManifestFile();
        var json = CliOptions.Json();
        var dryRun = new Option<bool>("--dry-run") { Description = "Print the drift, send no write" };
        var cmd = new Command("reconcile", "Create absent Attic caches and patch drifted ones to the manifest's shape") { file, json, dryRun };
        cmd.SetAction(async (parse, ct) =>
        {
            var manifest = ManifestInput.Load(context, parse, file);
            var services = CacheReconciliation.Declared(manifest);
            var o = context.Console.Out;
            if (services.Count == 0)
            {
                o.WriteLine("no Attic caches declared");
                return 0;
            }
            // Writes to the live caches are serialised with every other writer of this state; a dry run only reads.
            await using var state = parse.GetValue(dryRun)
                ? await StateInput.OpenAsync(context, parse, ct).ConfigureAwait(false)
                : await StateInput.OpenForWriteAsync(context, parse, "reconcile", ct).ConfigureAwait(false);
            using var http = ServiceHttp.CreateClient();
            var clients = new ServiceClients(http, ServiceHttpOptions.Default, context.Time);
            var reconciliation = new CacheReconciliation(state.Store, clients, Engine.EngineOptions.DefaultActor());
            var results = new List<CacheReconcileResult>();
            foreach (var service in services)
                results.AddRange(await reconciliation.ServiceAsync(service, parse.GetValue(dryRun), parse.GetValue(json) ? null : r => Print(o, r), ct).ConfigureAwait(false));
            if (parse.GetValue(json))
                CliJson.WriteLine(o, results.Select(r => new ReconcileJson(
                    r.Service,
                    r.Cache,
                    r.Action.ToString(),
                    [.. r.Drift.Select(d => new DriftJson(d.Field, d.Live, d.Declared))],
                    r.Notes)).ToArray(), CliJson.Context.ReconcileJsonArray);
            return 0;
        });
        return cmd;
    }

    internal static void Print(TextWriter o, CacheReconcileResult r)
    {
        var verb = r.Action switch
        {
            ReconcileAction.UpToDate => "no drift",
            ReconcileAction.Created => "created",
            ReconcileAction.Patched => "patched",
            ReconcileAction.WouldCreate => "would create (dry run)",
            _ => "would patch (dry run)",
        };
        o.WriteLine($"--- {r.Service}/{r.Cache} (live)");
        o.WriteLine($"+++ {r.Service}/{r.Cache} (manifest)");
        foreach (var line in r.DiffLines()) o.WriteLine(line);
        foreach (var n in r.Notes) o.WriteLine($"note: {n}");
        o.WriteLine($"{r.Service}/{r.Cache}: {verb}");
    }
}
