using System.Diagnostics;
using System.Globalization;
using Keyward.Core.Store;
using Keyward.Core.Secrets;
using Keyward.Store;

namespace Keyward.Bench;

/// <summary>
/// The embedded store: writing N credentials in one transaction (fresh state each run, fsync included), listing them in one
/// query, decrypting them all, appending N audit entries and verifying the chain. Usage: <c>store [N] [runs]</c>.
/// Prints markdown table rows: | operation | N | median ms | per item µs |.
/// </summary>
internal static class StoreBench
{
    public static async Task<int> Run(string[] args)
    {
        var n = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 10_000;
        var runs = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 5;
        var root = Directory.CreateTempSubdirectory("kw-store-bench-").FullName;
        var ct = CancellationToken.None;
        var time = TimeProvider.System;
        var now = time.GetUtcNow();
        try
        {
            var samples = new Dictionary<string, List<double>>(StringComparer.Ordinal);
            void Add(string name, double ms)
            {
                if (!samples.TryGetValue(name, out var list)) samples[name] = list = [];
                list.Add(ms);
            }

            for (var run = 0; run <= runs; run++) // run 0 warms up and is discarded
            {
                var dir = Path.Combine(root, $"run-{run}");
                var sw = Stopwatch.StartNew();
                await using var state = await StateDirectory.InitAsync(dir, [], time, ct);
                var init = sw.Elapsed.TotalMilliseconds;
                var store = state.Store;
                var values = Enumerable.Range(0, n).Select(_ => Secret.Random(32)).ToArray();
                var metadata = new Dictionary<string, string> { ["owner"] = "bench" };

                sw.Restart();
                await using (var tx = await store.BeginAsync(ct))
                {
                    for (var i = 0; i < n; i++)
                    {
                        await store.PutAsync(new NewVersion($"cred-{i:D7}", "secret", values[i], VersionState.Active, now, null, "generated", metadata), ct);
                    }
                    await tx.CommitAsync(ct);
                }
                var put = sw.Elapsed.TotalMilliseconds;

                sw.Restart();
                var listed = await store.ListVersionsAsync(ct);
                var list = sw.Elapsed.TotalMilliseconds;

                sw.Restart();
                var revealed = await store.RevealActiveAsync(listed.Select(v => v.Name), ct);
                var reveal = sw.Elapsed.TotalMilliseconds;
                if (revealed.Count != n) throw new InvalidOperationException("reveal lost values");

                sw.Restart();
                await using (var tx = await store.BeginAsync(ct))
                {
                    for (var i = 0; i < n; i++)
                    {
                        await store.AppendAuditAsync(new AuditEvent(now, "bench@host", "mint", listed[i].Name, 1, listed[i].Fingerprint, null), ct);
                    }
                    await tx.CommitAsync(ct);
                }
                var audit = sw.Elapsed.TotalMilliseconds;

                sw.Restart();
                var problems = await store.VerifyAuditAsync(ct);
                var verify = sw.Elapsed.TotalMilliseconds;
                if (problems.Count != 0) throw new InvalidOperationException("audit chain broken");

                sw.Restart();
                await store.PutAsync(new NewVersion("single", "secret", values[0], VersionState.Active, now, null, "generated", metadata), ct);
                var single = sw.Elapsed.TotalMilliseconds;

                if (run == 0) continue;
                Add("init (identity, data key, schema)", init);
                Add("put N credentials, one transaction", put);
                Add("list N versions (one query)", list);
                Add("decrypt N active values", reveal);
                Add("append N audit entries, one transaction", audit);
                Add("verify the audit chain of N entries", verify);
                Add("one put in its own transaction (fsync)", single);
            }

            Console.WriteLine("| operation | N | median ms | µs per item |");
            Console.WriteLine("|---|---:|---:|---:|");
            foreach (var (name, list) in samples)
            {
                list.Sort();
                var median = list[list.Count / 2];
                var items = name.Contains(" N ", StringComparison.Ordinal) ? n : 1;
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {name} | {(items == 1 ? "1" : n.ToString("N0", CultureInfo.InvariantCulture))} | {median:F1} | {median * 1000 / items:F1} |"));
            }
            return 0;
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }
}
