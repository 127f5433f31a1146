using System.Diagnostics;
using System.Globalization;
using Keyward.Server;
using Keyward.Server.Controller;
using Microsoft.Extensions.DependencyInjection;

namespace Keyward.Bench;

/// <summary><c>serve MANIFEST WORKDIR</c>: the controller pass of <c>keyward serve</c> over a generated manifest with
/// nothing due (after a first pass that created everything), split into the part under the state lock (rotation, apply,
/// reconcile) and the checks; and <c>GET /metrics</c> over loopback. One markdown row.</summary>
internal static class ServeBench
{
    public static async Task<int> Run(string[] args)
    {
        var manifest = Path.GetFullPath(args[0]);
        var work = Path.GetFullPath(args[1]);
        var options = new ServeOptions
        {
            ManifestPath = manifest,
            StateDirectory = Path.Combine(work, "state"),
            Root = Path.Combine(work, "root"),
            Listen = ListenAddress.Parse("127.0.0.1:0"),
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
        Console.WriteLine("| active credentials | first pass (s) | nothing-due pass (ms) | under the lock: rotation+apply+reconcile (ms) | checks (ms) | sinks rewritten by the no-op passes | /metrics scrape (ms) | /metrics size (KiB) |");
        Console.WriteLine("|---:|---:|---:|---:|---:|---:|---:|---:|");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"| {credentials:N0} | {first:F1} | {Median(totals):F0} | {Median(writes):F0} | {Median(checks):F0} | {repaired} | {Median(scrape):F1} | {bytes / 1024.0:F0} |"));
        return 0;
    }

    private static double Median(List<double> xs)
    {
        xs.Sort();
        return xs[xs.Count / 2];
    }
}
