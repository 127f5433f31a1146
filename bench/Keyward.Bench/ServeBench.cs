using System.Diagnostics;
using System.Globalization;
using Keyward.Server;
using Keyward.Server.Controller;
using Microsoft.Extensions.DependencyInjection;

namespace Keyward.Bench;

/// <summary><c>serve MANIFEST WORKDIR [--store CONN]</c>: the controller pass of <c>keyward serve</c> over a generated
/// manifest with nothing due (after a first pass that created everything), split into the part under the state lock
/// (rotation, apply, reconcile) and the checks; and <c>GET /metrics</c> over loopback. One markdown row. Without
/// <c>--store</c> the rows are in the embedded SQLite store in WORKDIR/state; with it, in that PostgreSQL database (as
/// <c>keyward serve --store</c>; the identity stays in WORKDIR/state), which must be empty or hold this WORKDIR's rows.
/// A WORKDIR kept from an earlier run is reused: its first pass then has nothing to create.</summary>
internal static class ServeBench
{
    public static async Task<int> Run(string[] args)
    {
        var store = args.Length >= 4 && args[2] == "--store" ? Keyward.Store.Postgres.PostgresConnection.Parse(args[3]) : null;
        if (args.Length is not (2 or 4) || (args.Length == 4 && store is null))
        {
            await Console.Error.WriteLineAsync("usage: serve MANIFEST WORKDIR [--store CONN]");
            return 2;
        }
        var manifest = Path.GetFullPath(args[0]);
        var work = Path.GetFullPath(args[1]);
        var options = new ServeOptions
        {
            ManifestPath = manifest,
            StateDirectory = Path.Combine(work, "state"),
            Root = Path.Combine(work, "root"),
            StoreConnection = store,
            Listen = [ListenAddress.Parse("127.0.0.1:0")],
            RunHooks = false,
            RunController = false,
        };
        await using var app = KeywardServer.Build(options);
        await app.StartAsync();
        var pass = app.Services.GetRequiredService<ControllerPass>();
        var status = app.Services.GetRequiredService<ControllerStatus>();
        var sw = Stopwatch.StartNew();
        await pass.RunAsync(CancellationToken.None);
        var first = sw.Elapsed.TotalSeconds;
        var credentials = status.Snapshot.Active.Count;

        var totals = new List<double>();
        var writes = new List<double>();
        var checks = new List<double>();
        for (var i = 0; i < 5; i++)
        {
            sw.Restart();
            await pass.RunAsync(CancellationToken.None);
            totals.Add(sw.Elapsed.TotalMilliseconds);
            writes.Add(status.LastSplit.WriteSteps.TotalMilliseconds);
            checks.Add(status.LastSplit.Checks.TotalMilliseconds);
        }
        var repaired = status.SinkRepairs.Values.Sum();

        using var http = new HttpClient { BaseAddress = KeywardServer.BoundAddress(app) };
        var bytes = (await http.GetStringAsync(new Uri("/metrics", UriKind.Relative))).Length;
        var scrape = new List<double>();
        for (var i = 0; i < 21; i++)
        {
            sw.Restart();
            _ = await http.GetStringAsync(new Uri("/metrics", UriKind.Relative));
            scrape.Add(sw.Elapsed.TotalMilliseconds);
        }
        await app.StopAsync();
        Console.WriteLine("| store | active credentials | first pass (s) | nothing-due pass (ms) | under the lock: rotation+apply+reconcile (ms) | checks (ms) | sinks rewritten by the no-op passes | /metrics scrape (ms) | /metrics size (KiB) |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"| {(store is null ? "SQLite" : "PostgreSQL")} | {credentials:N0} | {first:F1} | {Median(totals):F0} | {Median(writes):F0} | {Median(checks):F0} | {repaired} | {Median(scrape):F1} | {bytes / 1024.0:F0} |"));
        return 0;
    }

    private static double Median(List<double> xs)
    {
        xs.Sort();
        return xs[xs.Count / 2];
    }
}
