using System.CommandLine;
using System.Text.Json;
using Keyward.Core.Errors;
using Keyward.Core.Manifest;
using Keyward.Core.Secrets;
using Keyward.Crypto.Nix;
using Keyward.Services.Checks;
using Keyward.Services.Http;
using Keyward.Services.Reconcile;

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
            var services = manifest.Services.Where(s => s.Kind == ServiceKind.Attic && s.Caches.Count > 0).ToArray();
            var o = context.Console.Out;
            if (services.Length == 0)
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
            var results = new List<CacheReconcileResult>();
            foreach (var service in services)
            {
                var admin = await ValueAsync(state.Store, service.Token, $"service '{service.Name}' needs an admin token (token: CREDENTIAL) to reconcile", ct).ConfigureAwait(false);
                var reconciler = new AtticReconciler(clients.Attic(service));
                foreach (var cache in service.Caches)
                {
                    Secret? key = null;
                    string? publicKey = null;
                    if (cache.SigningKey is { } keyName)
                    {
                        key = await ValueAsync(state.Store, keyName, $"cache '{cache.Name}' declares signing key '{keyName}'", ct).ConfigureAwait(false);
                        using var parsed = NixSecretKey.Parse(key);
                        publicKey = parsed.PublicKey.ToString();
                    }
                    var r = await reconciler.ReconcileAsync(service, cache, admin, key, publicKey, parse.GetValue(dryRun), ct).ConfigureAwait(false);
                    results.Add(r);
                    if (!parse.GetValue(json)) Print(o, r);
                }
            }
            if (parse.GetValue(json))
                o.WriteLine(JsonSerializer.Serialize(results.Select(r => new ReconcileJson(
                    r.Service,
                    r.Cache,
                    r.Action.ToString(),
                    [.. r.Drift.Select(d => new DriftJson(d.Field, d.Live, d.Declared))],
                    r.Notes)).ToArray(), CliJson.Context.ReconcileJsonArray));
            return 0;
        });
        return cmd;
    }

    private static async Task<Secret> ValueAsync(Store.Contract.ICredentialStore store, string? name, string why, CancellationToken ct)
    {
        if (name is null) throw ErrorCodes.ServiceCredentialMissing.Exception(why);
        var values = await store.RevealActiveAsync([name], ct).ConfigureAwait(false);
        return values.TryGetValue(name, out var v) ? v
            : throw ErrorCodes.ServiceCredentialMissing.Exception($"{why}, but '{name}' has no active version");
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
