using System.Diagnostics;
using System.Text.RegularExpressions;
using Microsoft.Data.Sqlite;

namespace Keyward.Cli.Tests;

/// <summary>
/// Issue 11's "done when" with a real process: <c>keyward serve -f examples/homelab/keyward.yaml --state … --listen
/// 127.0.0.1:0</c> runs on the embedded store (no PostgreSQL), and a short-validity token in a test manifest is renewed
/// by the loop with nobody typing; SIGTERM ends it with exit code 0 and a consistent state (audit chain intact, no open
/// journal). Every wait is bounded; nothing asserts on elapsed time.
/// </summary>
[Trait("Category", "Interop")]
public sealed partial class ServeProcessTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("kw-serve-proc-").FullName;
    private static readonly string Dll = Path.Combine(AppContext.BaseDirectory, "keyward.dll");
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    private sealed class Served : IDisposable
    {
        public required Process Process { get; init; }
        public required Uri Address { get; init; }
        public required System.Text.StringBuilder Err { get; init; }

        public void Dispose()
        {
            if (!Process.HasExited) Process.Kill(entireProcessTree: true);
            Process.Dispose();
        }
    }

    private static ProcessStartInfo Keyward(params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["DOTNET_TieredPGO"] = "0";
        psi.Environment.Remove("KEYWARD_STATE");
        return psi;
    }

    [GeneratedRegex(@"serving on (http://\S+)")]
    private static partial Regex ServingOn();

    private static async Task<Served> StartAsync(params string[] args)
    {
        var p = Process.Start(Keyward(["serve", .. args]))!;
        var err = new System.Text.StringBuilder();
        var address = new TaskCompletionSource<Uri>(TaskCreationOptions.RunContinuationsAsynchronously);
        p.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null) { address.TrySetException(new InvalidOperationException("serve exited: " + err)); return; }
            lock (err) err.AppendLine(e.Data);
            if (ServingOn().Match(e.Data) is { Success: true } m) address.TrySetResult(new Uri(m.Groups[1].Value));
        };
        p.OutputDataReceived += (_, _) => { };
        p.BeginErrorReadLine();
        p.BeginOutputReadLine();
        var uri = await address.Task.WaitAsync(TimeSpan.FromMinutes(2), Ct); // a bound, not an assertion
        return new Served { Process = p, Address = uri, Err = err };
    }

    private static async Task<int> TerminateAsync(Served served)
    {
        using (var kill = Process.Start(new ProcessStartInfo("kill", ["-TERM", served.Process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))!)
            await kill.WaitForExitAsync(Ct);
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        limit.CancelAfter(TimeSpan.FromMinutes(2));
        await served.Process.WaitForExitAsync(limit.Token);
        return served.Process.ExitCode;
    }

    private static async Task<(int Code, string Out)> RunAsync(params string[] args)
    {
        using var p = Process.Start(Keyward(args))!;
        var o = p.StandardOutput.ReadToEndAsync(Ct);
        var e = p.StandardError.ReadToEndAsync(Ct);
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        limit.CancelAfter(TimeSpan.FromMinutes(2));
        await p.WaitForExitAsync(limit.Token);
        return (p.ExitCode, await o + await e);
    }

    /// <summary>A manifest with one short-lived Attic token (so serve renews it on its own) and its token file.</summary>
    private string ShortTokenManifest(string validity, string renewBefore)
    {
        var manifest = Path.Combine(_dir, "keyward.yaml");
        File.WriteAllText(manifest, $$"""
            apiVersion: keyward/v1
            credentials:
              signer: { kind: secret, bytes: 48, owner: attic, purpose: signs tokens }
              short-token:
                kind: attic-token
                signedBy: signer
                subject: ci
                validity: {{validity}}
                renewBefore: {{renewBefore}}
                owner: ci
                purpose: push
                caches: { main: [pull] }
            sinks:
              token-file: { path: /run/keyward/short.token, format: raw, mode: "0600", credential: short-token }
            """);
        return manifest;
    }

    [Fact]
    public async Task Serve_on_a_unix_socket_in_a_missing_directory_exits_2_with_KW1208_and_a_hint()
    {
        var manifest = ShortTokenManifest("1d", "1h");
        var (code, output) = await RunAsync("serve", "-f", manifest, "--state", Path.Combine(_dir, "state"),
            "--listen", "unix:" + Path.Combine(_dir, "missing", "gate.sock"));
        Assert.Equal(2, code);
        Assert.Contains("error[KW1208]", output, StringComparison.Ordinal);
        Assert.Contains("hint: ", output, StringComparison.Ordinal);
        var (emptyCode, emptyOutput) = await RunAsync("serve", "-f", manifest, "--state", Path.Combine(_dir, "state"), "--listen", "unix:");
        Assert.Equal(2, emptyCode);
        Assert.Contains("error[KW1201]", emptyOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Serve_killed_with_SIGKILL_leaves_a_stale_socket_the_next_serve_replaces_and_SIGTERM_removes()
    {
        var manifest = ShortTokenManifest("1d", "1h");
        var state = Path.Combine(_dir, "state");
        var socket = Path.Combine(_dir, "gate.sock");
        string[] args = ["-f", manifest, "--state", state, "--root", Path.Combine(_dir, "root"), "--no-hooks",
            "--listen", "127.0.0.1:0", "--listen", "unix:" + socket];
        using (var first = await StartAsync(args))
        {
            Assert.Equal("""{"status":"ok"}""", await HealthzOverSocketAsync(socket));
            first.Process.Kill();
            await first.Process.WaitForExitAsync(Ct);
        }
        Assert.True(File.Exists(socket), "SIGKILL left no socket file: the stale case is not exercised");
        using var second = await StartAsync(args);
        Assert.Equal("""{"status":"ok"}""", await HealthzOverSocketAsync(socket));
        Assert.Equal(0, await TerminateAsync(second));
        Assert.False(File.Exists(socket), "SIGTERM left the socket file behind");
    }

    private static async Task<string> HealthzOverSocketAsync(string path)
    {
        using var http = new HttpClient(new SocketsHttpHandler
        {
            ConnectCallback = async (_, ct) =>
            {
                var s = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
                try
                {
                    await s.ConnectAsync(new System.Net.Sockets.UnixDomainSocketEndPoint(path), ct);
                    return new System.Net.Sockets.NetworkStream(s, ownsSocket: true);
                }
                catch
                {
                    s.Dispose();
                    throw;
                }
            },
        })
        { BaseAddress = new Uri("http://localhost/"), Timeout = TimeSpan.FromSeconds(30) };
        return await http.GetStringAsync(new Uri("/healthz", UriKind.Relative), Ct);
    }

    [Fact]
    public async Task Serve_renews_a_short_lived_token_by_itself_and_SIGTERM_exits_0_with_the_state_consistent()
    {
        var manifest = ShortTokenManifest("8s", "5s");
        var state = Path.Combine(_dir, "state");
        using var served = await StartAsync("-f", manifest, "--state", state, "--root", Path.Combine(_dir, "root"), "--no-hooks",
            "--listen", "127.0.0.1:0", "--interval", "1s");
        using var http = new HttpClient { BaseAddress = served.Address, Timeout = TimeSpan.FromSeconds(30) };
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        deadline.CancelAfter(TimeSpan.FromMinutes(2));
        while (true)
        {
            Assert.False(deadline.IsCancellationRequested, "no renewal within the bound\n" + served.Err);
            var metrics = await http.GetStringAsync(new Uri("/metrics", UriKind.Relative), Ct);
            if (metrics.Contains("keyward_rotation_total{credential=\"short-token\",result=\"renewed\"}", StringComparison.Ordinal)) break;
            await Task.Delay(200, Ct);
        }
        Assert.Equal(0, await TerminateAsync(served));

        var verify = await RunAsync("audit", "verify", "--state", state);
        Assert.True(verify.Code == 0, verify.Out);
        var list = await RunAsync("list", "--state", state, "--json");
        Assert.True(list.Code == 0, list.Out);
        Assert.Contains("short-token", list.Out, StringComparison.Ordinal);
        // No journal left open and the lock released: a CLI apply right after runs (KW0029 or KW0317 otherwise).
        var apply = await RunAsync("apply", "-f", manifest, "--state", state, "--root", Path.Combine(_dir, "root"), "--no-hooks");
        Assert.True(apply.Code == 0, apply.Out);
    }

    [Fact]
    public async Task Serve_runs_the_homelab_example_on_the_embedded_store_and_stops_cleanly_on_SIGTERM()
    {
        var state = Path.Combine(_dir, "state");
        using var served = await StartAsync("-f", Path.Combine(CliHarness.RepoRoot, "examples", "homelab", "keyward.yaml"), "--state", state,
            "--root", Path.Combine(_dir, "root"), "--no-hooks", "--listen", "127.0.0.1:0", "--interval", "1h");
        using var http = new HttpClient { BaseAddress = served.Address, Timeout = TimeSpan.FromSeconds(30) };
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        deadline.CancelAfter(TimeSpan.FromMinutes(3));
        while (true)
        {
            Assert.False(deadline.IsCancellationRequested, "the first pass did not finish within the bound\n" + served.Err);
            var metrics = await http.GetStringAsync(new Uri("/metrics", UriKind.Relative), Ct);
            if (metrics.Contains("keyward_controller_passes_total 1", StringComparison.Ordinal)) break;
            await Task.Delay(200, Ct);
        }
        Assert.True(File.Exists(Path.Combine(_dir, "root", "run", "keyward", "atticd.env")));
        using (var ready = await http.GetAsync(new Uri("/readyz", UriKind.Relative), Ct))
            Assert.Equal(System.Net.HttpStatusCode.OK, ready.StatusCode);
        Assert.Equal(0, await TerminateAsync(served));
        var verify = await RunAsync("audit", "verify", "--state", state);
        Assert.True(verify.Code == 0, verify.Out);
    }

    /// <summary>
    /// Issue 11's fault: kill -9 of a serve process while it renews tokens on its own (a journaled rotation every
    /// second or so), at a random moment, several times. After each kill the next serve takes over the same state —
    /// finishing or abandoning a journal the dead one left open — and in the end: the audit chain is intact, every
    /// version of the token was minted once (one ledger entry per version, versions without gaps), and nothing is left
    /// open (a CLI apply runs). KEYWARD_STRESS_LOOPS sets the number of kills (3 by default).
    /// </summary>
    [Fact]
    public async Task Serve_killed_with_SIGKILL_while_renewing_leaves_a_state_the_next_serve_finishes_with_nothing_minted_twice()
    {
        var manifest = ShortTokenManifest("4s", "3s");
        var state = Path.Combine(_dir, "state");
        var root = Path.Combine(_dir, "root");
        string[] serve = ["-f", manifest, "--state", state, "--root", root, "--no-hooks", "--listen", "127.0.0.1:0", "--interval", "1s"];
        var loops = int.TryParse(Environment.GetEnvironmentVariable("KEYWARD_STRESS_LOOPS"), out var n) && n > 0 ? n : 3;
        var random = new Random(20261202);
        for (var i = 0; i < loops; i++)
        {
            using var served = await StartAsync(serve);
            using var http = new HttpClient { BaseAddress = served.Address, Timeout = TimeSpan.FromSeconds(30) };
            // At least one pass first (so the state exists), then a random moment inside the renewal loop.
            await WaitForPassesAsync(http, served, 1);
            await Task.Delay(random.Next(0, 1500), Ct);
            served.Process.Kill(); // SIGKILL: no drain, no cleanup
            await served.Process.WaitForExitAsync(Ct);
        }

        using (var last = await StartAsync(serve))
        {
            using var http = new HttpClient { BaseAddress = last.Address, Timeout = TimeSpan.FromSeconds(30) };
            var renewedBefore = Renewed(await http.GetStringAsync(new Uri("/metrics", UriKind.Relative), Ct));
            // The survivor keeps renewing: the state it inherited is usable, not stuck on a dead leader's journal.
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(Ct);
            deadline.CancelAfter(TimeSpan.FromMinutes(2));
            while (Renewed(await http.GetStringAsync(new Uri("/metrics", UriKind.Relative), Ct)) <= renewedBefore)
            {
                Assert.False(deadline.IsCancellationRequested, "no renewal after the kills within the bound\n" + last.Err);
                await Task.Delay(200, Ct);
            }
            Assert.Equal(0, await TerminateAsync(last));
        }

        var verify = await RunAsync("audit", "verify", "--state", state);
        Assert.True(verify.Code == 0, verify.Out);
        var tokens = await RunAsync("tokens", "short-token", "--state", state, "--json");
        Assert.True(tokens.Code == 0, tokens.Out);
        var json = tokens.Out[tokens.Out.IndexOf('[', StringComparison.Ordinal)..];
        using var doc = System.Text.Json.JsonDocument.Parse(json[..(json.LastIndexOf(']') + 1)]);
        var versions = doc.RootElement.EnumerateArray().Select(t => t.GetProperty("version").GetInt32()).ToList();
        Assert.True(versions.Count >= loops, tokens.Out);
        Assert.Equal(versions.Count, versions.Distinct().Count()); // one token per version: none minted twice
        Assert.Equal(Enumerable.Range(1, versions.Max()), versions.Order()); // and no version lost its ledger entry
        var apply = await RunAsync("apply", "-f", manifest, "--state", state, "--root", root, "--no-hooks");
        Assert.True(apply.Code == 0, apply.Out);
    }

    /// <summary>
    /// Issue 11's fault: PostgreSQL crashes (pg_ctl -m immediate) under a running serve and comes back. Serve keeps
    /// running: /readyz says the store is unreachable while it is down, /healthz stays up; once PostgreSQL is back the
    /// controller leads again and renews as before, and SIGTERM still exits 0 with the audit chain intact. A private
    /// cluster (tests/postgres-cluster.sh), so the crash cannot disturb other tests' databases.
    /// </summary>
    [Fact]
    public async Task Serve_on_PostgreSQL_survives_a_PostgreSQL_crash_and_restart_and_leads_again()
    {
        Assert.SkipWhen(string.IsNullOrEmpty(Environment.GetEnvironmentVariable("KEYWARD_TEST_POSTGRES")),
            "KEYWARD_TEST_POSTGRES is not set: no PostgreSQL to test against (test.sh starts one; see docs/store.md)");
        var script = Path.Combine(CliHarness.RepoRoot, "tests", "postgres-cluster.sh");
        var cluster = Path.Combine(Path.GetTempPath(), "kw-pg-crash-" + Guid.NewGuid().ToString("N")[..8]);
        var started = await ShellAsync(script, "start", cluster);
        Assert.True(started.Code == 0, started.Out);
        var admin = started.Out.Trim().Split('\n')[^1];
        try
        {
            // The role may create databases but not tables in `postgres` (PostgreSQL 15): a database of its own.
            var port = System.Text.RegularExpressions.Regex.Match(admin, @"Port=(\d+)").Groups[1].Value;
            var created = await ShellAsync("-c", $"psql -h 127.0.0.1 -p {port} -U keyward_test -d postgres -qAt -v ON_ERROR_STOP=1 -c 'CREATE DATABASE keyward;' </dev/null");
            Assert.True(created.Code == 0, created.Out);
            var connection = admin.Replace("Database=postgres", "Database=keyward", StringComparison.Ordinal);
            var manifest = ShortTokenManifest("4s", "3s");
            var state = Path.Combine(_dir, "state");
            // Serve never initialises a PostgreSQL store itself: the replica that did would be its only recipient.
            var init = await RunAsync("init", "--state", state, "--store", connection);
            Assert.True(init.Code == 0, init.Out);
            using var served = await StartAsync("-f", manifest, "--state", state, "--store", connection, "--root", Path.Combine(_dir, "root"),
                "--no-hooks", "--listen", "127.0.0.1:0", "--interval", "1s");
            using var http = new HttpClient { BaseAddress = served.Address, Timeout = TimeSpan.FromSeconds(30) };
            await WaitForAsync(http, served, m => Renewed(m) >= 1 && m.Contains("keyward_controller_leader 1", StringComparison.Ordinal), "a first renewal as leader");

            var crashed = await ShellAsync(script, "crash", cluster);
            Assert.True(crashed.Code == 0, crashed.Out);
            using (var health = await http.GetAsync(new Uri("/healthz", UriKind.Relative), Ct)) Assert.Equal(System.Net.HttpStatusCode.OK, health.StatusCode);
            using (var ready = await http.GetAsync(new Uri("/readyz", UriKind.Relative), Ct))
            {
                Assert.Equal(System.Net.HttpStatusCode.ServiceUnavailable, ready.StatusCode);
                Assert.Contains("KW0322", await ready.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
            }
            Assert.False(served.Process.HasExited, served.Err.ToString());

            var resumed = await ShellAsync(script, "resume", cluster);
            Assert.True(resumed.Code == 0, resumed.Out);
            var before = Renewed(await http.GetStringAsync(new Uri("/metrics", UriKind.Relative), Ct));
            await WaitForAsync(http, served, m => Renewed(m) > before && m.Contains("keyward_controller_leader 1", StringComparison.Ordinal), "a renewal as leader after the restart");
            using (var ready = await http.GetAsync(new Uri("/readyz", UriKind.Relative), Ct)) Assert.Equal(System.Net.HttpStatusCode.OK, ready.StatusCode);
            Assert.Equal(0, await TerminateAsync(served));
            var verify = await RunAsync("audit", "verify", "--state", state, "--store", connection);
            Assert.True(verify.Code == 0, verify.Out);
        }
        finally
        {
            await ShellAsync(script, "stop", cluster);
        }
    }

    /// <summary>
    /// Issue 11's fault: the state directory's file system fills up (a 4 MiB tmpfs, then a file that takes the rest)
    /// under a running serve. The process stays up and says why its passes fail; the token file on disk is never half
    /// written; once space is freed the loop renews again, and SIGTERM exits 0 with the audit chain intact. Needs root
    /// (to mount the tmpfs), as CI has; skipped otherwise.
    /// </summary>
    [Fact]
    public async Task Serve_on_a_full_state_file_system_keeps_running_and_recovers_when_space_returns()
    {
        Assert.SkipUnless(Environment.UserName == "root", "mounting a tmpfs needs root (CI runs as root)");
        var mount = Path.Combine(_dir, "small");
        Directory.CreateDirectory(mount);
        var mounted = await ShellAsync("-c", $"mount -t tmpfs -o size=4m,mode=0700 tmpfs '{mount}'");
        Assert.SkipWhen(mounted.Code != 0, "cannot mount a tmpfs here: " + mounted.Out);
        try
        {
            var manifest = ShortTokenManifest("4s", "3s");
            var state = Path.Combine(mount, "state");
            var root = Path.Combine(mount, "root");
            using var served = await StartAsync("-f", manifest, "--state", state, "--root", root, "--no-hooks", "--listen", "127.0.0.1:0", "--interval", "1s");
            using var http = new HttpClient { BaseAddress = served.Address, Timeout = TimeSpan.FromSeconds(30) };
            await WaitForAsync(http, served, m => Renewed(m) >= 1, "a first renewal");

            // Take every free block: the next renewal has nowhere to write its journal, store rows or token file.
            var filler = Path.Combine(mount, "filler");
            var filled = await ShellAsync("-c", $"dd if=/dev/zero of='{filler}' bs=64k 2>/dev/null; true");
            Assert.True(new FileInfo(filler).Length > 0, filled.Out);
            var failing = Renewed(await http.GetStringAsync(new Uri("/metrics", UriKind.Relative), Ct));
            using (var deadline = CancellationTokenSource.CreateLinkedTokenSource(Ct))
            {
                deadline.CancelAfter(TimeSpan.FromMinutes(2));
                while (!served.Err.ToString().Contains("the file system is full", StringComparison.Ordinal)
                       && !served.Err.ToString().Contains("No space left on device", StringComparison.Ordinal))
                {
                    Assert.False(deadline.IsCancellationRequested, "serve never said the disk was full\n" + served.Err);
                    Assert.False(served.Process.HasExited, "serve exited on a full disk\n" + served.Err);
                    await Task.Delay(200, Ct);
                }
            }
            using (var health = await http.GetAsync(new Uri("/healthz", UriKind.Relative), Ct)) Assert.Equal(System.Net.HttpStatusCode.OK, health.StatusCode);
            var token = File.ReadAllText(Path.Combine(root, "run", "keyward", "short.token")).Trim();
            Assert.Equal(3, token.Split('.').Length); // whole, never half written
            Assert.DoesNotContain("   at ", served.Err.ToString(), StringComparison.Ordinal);

            File.Delete(filler);
            var before = Renewed(await http.GetStringAsync(new Uri("/metrics", UriKind.Relative), Ct));
            await WaitForAsync(http, served, m => Renewed(m) > Math.Max(before, failing), "a renewal once space was back");
            Assert.Equal(0, await TerminateAsync(served));
            var verify = await RunAsync("audit", "verify", "--state", state);
            Assert.True(verify.Code == 0, verify.Out);
            var apply = await RunAsync("apply", "-f", manifest, "--state", state, "--root", root, "--no-hooks");
            Assert.True(apply.Code == 0, apply.Out);
        }
        finally
        {
            await ShellAsync("-c", $"umount -l '{mount}'");
        }
    }

    private static async Task<(int Code, string Out)> ShellAsync(params string[] args)
    {
        var psi = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var o = p.StandardOutput.ReadToEndAsync(Ct);
        var e = p.StandardError.ReadToEndAsync(Ct);
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        limit.CancelAfter(TimeSpan.FromMinutes(2));
        await p.WaitForExitAsync(limit.Token);
        return (p.ExitCode, await o + await e);
    }

    private static async Task WaitForAsync(HttpClient http, Served served, Func<string, bool> done, string what)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        deadline.CancelAfter(TimeSpan.FromMinutes(2));
        while (true)
        {
            Assert.False(deadline.IsCancellationRequested, $"no {what} within the bound\n" + served.Err);
            Assert.False(served.Process.HasExited, "serve exited\n" + served.Err);
            if (done(await http.GetStringAsync(new Uri("/metrics", UriKind.Relative), Ct))) return;
            await Task.Delay(200, Ct);
        }
    }

    private static async Task WaitForPassesAsync(HttpClient http, Served served, int passes)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        deadline.CancelAfter(TimeSpan.FromMinutes(2));
        while (true)
        {
            Assert.False(deadline.IsCancellationRequested, "no controller pass within the bound\n" + served.Err);
            var metrics = await http.GetStringAsync(new Uri("/metrics", UriKind.Relative), Ct);
            var line = metrics.Split('\n').FirstOrDefault(l => l.StartsWith("keyward_controller_passes_total ", StringComparison.Ordinal));
            if (line is not null && double.Parse(line.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture) >= passes) return;
            await Task.Delay(100, Ct);
        }
    }

    private static double Renewed(string metrics) =>
        metrics.Split('\n').Where(l => l.StartsWith("keyward_rotation_total{credential=\"short-token\",result=\"renewed\"}", StringComparison.Ordinal))
            .Select(l => double.Parse(l.Split(' ')[^1], System.Globalization.CultureInfo.InvariantCulture)).DefaultIfEmpty(0).Sum();
}
