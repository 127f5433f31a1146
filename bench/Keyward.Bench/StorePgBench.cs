using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using Keyward.Core.Store;
using Keyward.Core.Secrets;
using Keyward.Store;
using Keyward.Store.Postgres;
using Npgsql;

namespace Keyward.Bench;

/// <summary>
/// The store contract on PostgreSQL and on SQLite, side by side, in one process: put N credentials (one transaction),
/// list, decrypt all, append N audit entries (one transaction), verify the chain, and single operations each in its
/// own transaction. Fresh store per run (a new state directory; a new database). Usage:
/// <c>store-pg ADMIN_CONN [N] [runs]</c> (ADMIN_CONN: a role that may CREATE DATABASE).
/// Prints markdown rows: | operation | N | SQLite median ms | PostgreSQL median ms | PostgreSQL / SQLite |.
/// </summary>
internal static class StorePgBench
{
    public static async Task<int> Run(string[] args)
    {
        if (args.Length == 0)
        {
            await Console.Error.WriteLineAsync("usage: store-pg ADMIN_CONN [N] [runs]");
            return 2;
        }
        var admin = args[0];
        var n = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 2000;
        var runs = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 5;
        var root = Directory.CreateTempSubdirectory("kw-store-pg-bench-").FullName;
        var sqlite = new Dictionary<string, List<double>>(StringComparer.Ordinal);
        var postgres = new Dictionary<string, List<double>>(StringComparer.Ordinal);
        try
        {
            for (var run = 0; run <= runs; run++) // run 0 warms up and is discarded
            {
                await using (var state = await StateDirectory.InitAsync(Path.Combine(root, $"sqlite-{run}"), [], TimeProvider.System, CancellationToken.None))
                    await MeasureAsync(state.Store, n, run == 0 ? null : sqlite);
                var db = "kw_bench_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));
                await ExecAsync(admin, $"CREATE DATABASE {db};");
                try
                {
                    var connection = PostgresConnection.Parse(new NpgsqlConnectionStringBuilder(admin) { Database = db }.ConnectionString);
                    await using var state = await PostgresState.OpenOrInitAsync(Path.Combine(root, $"pg-{run}"), connection, [], StateLockOptions.Default, TimeProvider.System, CancellationToken.None);
                    await MeasureAsync(state.Store, n, run == 0 ? null : postgres);
                }
                finally
                {
                    await ExecAsync(admin, $"DROP DATABASE IF EXISTS {db} WITH (FORCE);");
                }
            }
            Console.WriteLine("| operation | N | SQLite median ms | PostgreSQL median ms | PostgreSQL / SQLite |");
            Console.WriteLine("|---|---:|---:|---:|---:|");
            foreach (var name in sqlite.Keys)
            {
                var a = Median(sqlite[name]);
                var b = Median(postgres[name]);
                var items = name.Contains(" N ", StringComparison.Ordinal) ? n.ToString("N0", CultureInfo.InvariantCulture) : "1";
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {name} | {items} | {a:F1} | {b:F1} | {b / a:F1}x |"));
            }
            return 0;
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    private static double Median(List<double> list)
    {
        list.Sort();
        return list[list.Count / 2];
    }

    private static async Task ExecAsync(string admin, string sql)
    {
        await using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(admin) { Pooling = false }.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    private static async Task MeasureAsync(ICredentialStore store, int n, Dictionary<string, List<double>>? into)
    {
        var ct = CancellationToken.None;
        var now = TimeProvider.System.GetUtcNow();
        var values = Enumerable.Range(0, n).Select(_ => Secret.Random(32)).ToArray();
        var metadata = new Dictionary<string, string> { ["owner"] = "bench" };
        void Add(string name, double ms)
        {
            if (into is null) return;
            if (!into.TryGetValue(name, out var list)) into[name] = list = [];
            list.Add(ms);
        }

        var sw = Stopwatch.StartNew();
        await using (var tx = await store.BeginAsync(ct))
        {
            for (var i = 0; i < n; i++)
                await store.PutAsync(new NewVersion($"cred-{i:D7}", "secret", values[i], VersionState.Active, now, null, "generated", metadata), ct);
            await tx.CommitAsync(ct);
        }
        Add("put N credentials, one transaction", sw.Elapsed.TotalMilliseconds);

        sw.Restart();
        var listed = await store.ListVersionsAsync(ct);
        Add("list N versions (one query)", sw.Elapsed.TotalMilliseconds);

        sw.Restart();
        var revealed = await store.RevealActiveAsync(listed.Select(v => v.Name), ct);
        Add("reveal N active values (one query)", sw.Elapsed.TotalMilliseconds);
        if (revealed.Count != n) throw new InvalidOperationException("reveal lost values");

        sw.Restart();
        await using (var tx = await store.BeginAsync(ct))
        {
            for (var i = 0; i < n; i++)
                await store.AppendAuditAsync(new AuditEvent(now, "bench@host", "mint", listed[i].Name, 1, listed[i].Fingerprint, null), ct);
            await tx.CommitAsync(ct);
        }
        Add("append N audit entries, one transaction", sw.Elapsed.TotalMilliseconds);

        sw.Restart();
        if ((await store.VerifyAuditAsync(ct)).Count != 0) throw new InvalidOperationException("audit chain broken");
        Add("verify the audit chain of N entries", sw.Elapsed.TotalMilliseconds);

        sw.Restart();
        await store.PutAsync(new NewVersion("single", "secret", values[0], VersionState.Active, now, null, "generated", metadata), ct);
        Add("one put in its own transaction", sw.Elapsed.TotalMilliseconds);

        sw.Restart();
        using (await store.RevealAsync("single", 1, ct)) Add("one reveal", sw.Elapsed.TotalMilliseconds);

        sw.Restart();
        await store.AppendAuditAsync(new AuditEvent(now, "bench@host", "mint", "single", 1, null, null), ct);
        Add("one audit append in its own transaction", sw.Elapsed.TotalMilliseconds);
    }
}
