using System.Diagnostics;
using System.Globalization;
using System.Text;
using Keyward.Core.Manifest;

namespace Keyward.Bench;

/// <summary>
/// <c>manifest prepare FILE N</c>: writes a manifest with N secrets and N env sinks (the shape of the issue-2 apply
/// benchmark). <c>manifest run FILE [RUNS]</c>: times <see cref="ManifestLoader.Load"/> (first call in the process, then
/// the median of RUNS) against a bare YamlDotNet event scan of the same text, the floor any YAML-based loader pays.
/// Prints key=value lines.
/// </summary>
internal static class ManifestBench
{
    public static Task<int> Run(string[] args)
    {
        if (args.Length >= 3 && args[0] == "prepare") return Task.FromResult(Prepare(args[1], int.Parse(args[2], CultureInfo.InvariantCulture)));
        if (args.Length >= 2 && args[0] == "run") return Task.FromResult(Time(args[1], args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 5));
        Console.Error.WriteLine("usage: Keyward.Bench manifest prepare FILE N | manifest run FILE [RUNS]");
        return Task.FromResult(2);
    }

    private static int Prepare(string file, int n)
    {
        var sb = new StringBuilder("apiVersion: keyward/v1\ncredentials:\n");
        for (var i = 0; i < n; i++)
            sb.Append(CultureInfo.InvariantCulture, $"  secret-{i}: {{ kind: secret, bytes: 32, owner: bench, purpose: benchmark secret {i} }}\n");
        sb.Append("sinks:\n");
        for (var i = 0; i < n; i++)
            sb.Append(CultureInfo.InvariantCulture, $"  sink-{i}: {{ path: /run/keyward/d{i % 100}/s{i}.env, format: env, mode: \"0600\", entries: {{ SECRET_{i}: secret-{i} }} }}\n");
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(file))!);
        File.WriteAllText(file, sb.ToString());
        return 0;
    }

    private static int Time(string file, int runs)
    {
        var sw = Stopwatch.StartNew();
        var first = ManifestLoader.Load(file);
        var coldMs = sw.Elapsed.TotalMilliseconds;
        if (first.HasErrors)
        {
            Console.Error.WriteLine(string.Join("\n", first.Errors));
            return 1;
        }
        var text = File.ReadAllText(file);
        var loadMs = Measure.MedianMs(runs, () => ManifestLoader.Load(file));
        var scanMs = Measure.MedianMs(runs, () =>
        {
            var parser = new YamlDotNet.Core.Parser(new StringReader(text));
            while (parser.MoveNext()) { }
        });
        var inv = CultureInfo.InvariantCulture;
        Console.WriteLine($"entries={first.Manifest!.Credentials.Count + first.Manifest.Sinks.Count}");
        Console.WriteLine(string.Create(inv, $"keyward_cold_ms={coldMs:F0}"));
        Console.WriteLine(string.Create(inv, $"keyward_ms={loadMs:F0}"));
        Console.WriteLine(string.Create(inv, $"yaml_scan_ms={scanMs:F0}"));
        Console.WriteLine(string.Create(inv, $"ratio_vs_scan={loadMs / scanMs:F1}"));
        return 0;
    }
}
