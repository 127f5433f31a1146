using System.Diagnostics;

namespace Keyward.Bench;

/// <summary>In-process micro-benchmarks for the side-by-side scripts in bench/parts/. Each area adds a
/// file with a static <c>Run(string[] args)</c> and one line in <see cref="Areas"/>. Output is one
/// markdown table row per measurement so bench/run.sh can paste it into docs/benchmarks.md.</summary>
internal static class Program
{
    private static readonly Dictionary<string, Func<string[], Task<int>>> Areas = new(StringComparer.Ordinal)
    {
        ["apply"] = ApplyBench.Run,
        ["check"] = CheckBench.Run,
        ["jwt"] = JwtBench.Run,
        ["manifest"] = ManifestBench.Run,
        ["narinfo"] = NarInfoBench.Run,
        ["store"] = StoreBench.Run,
        ["store-pg"] = StorePgBench.Run,
        ["sinks"] = SinksBench.Run,
        ["plan"] = PlanBench.Run,
        ["serve"] = ServeBench.Run,
        ["agents"] = AgentsBench.Run,
    };

    public static async Task<int> Main(string[] args)
    {
        if (args.Length == 0 || !Areas.TryGetValue(args[0], out var run))
        {
            await Console.Error.WriteLineAsync("usage: Keyward.Bench <" + string.Join('|', Areas.Keys) + "> [args]");
            return 2;
        }
        return await run(args[1..]);
    }
}

/// <summary>Median-of-N timing helper shared by every area.</summary>
internal static class Measure
{
    public static double MedianMs(int runs, Action body)
    {
        body(); // warm-up
        var samples = new double[runs];
        for (var i = 0; i < runs; i++)
        {
            var sw = Stopwatch.StartNew();
            body();
            samples[i] = sw.Elapsed.TotalMilliseconds;
        }
        Array.Sort(samples);
        return samples[runs / 2];
    }
}
