using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Keyward.Server.Metrics;

namespace Keyward.Server.Tests;

/// <summary>The real peers (Debian <c>prometheus</c>, which test.sh installs): promtool lints the real /metrics output and
/// unit-tests the shipped alert rules, and a real Prometheus scrapes serve on loopback.</summary>
[Trait("Category", "Interop")]
public sealed class PrometheusInteropTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static string RepoRoot
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Keyward.slnx"))) dir = dir.Parent;
            return dir?.FullName ?? throw new InvalidOperationException("repository root not found");
        }
    }

    private static string Tool(string name) => File.Exists($"/usr/bin/{name}") ? $"/usr/bin/{name}"
        : throw new InvalidOperationException($"{name} is not installed (test.sh installs the Debian prometheus package)");

    private static async Task<(int Code, string Out)> RunAsync(string file, string? stdin, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        if (stdin is not null) await p.StandardInput.WriteAsync(stdin);
        p.StandardInput.Close();
        var o = p.StandardOutput.ReadToEndAsync(Ct);
        var e = p.StandardError.ReadToEndAsync(Ct);
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        limit.CancelAfter(TimeSpan.FromMinutes(2));
        await p.WaitForExitAsync(limit.Token);
        return (p.ExitCode, await o + await e);
    }

    [Fact]
    public async Task Promtool_finds_nothing_to_lint_in_the_real_metrics_output()
    {
        await using var h = await new ServerHarness().StartAsync();
        Assert.True(await h.PassAsync());
        var metrics = await h.MetricsAsync();
        foreach (var family in new[] { "keyward_credential_expiration_timestamp_seconds{credential=\"push-token\",kind=\"attic-token\"}",
                     "keyward_credential_ready_status{credential=\"signer\",condition=\"True\"}", "keyward_sink_drift{sink=\"token-file\"}",
                     "keyward_controller_leader 1", "keyward_controller_last_run_timestamp_seconds", "# TYPE keyward_rotation_total counter" })
            Assert.Contains(family, metrics, StringComparison.Ordinal);
        var (code, output) = await RunAsync(Tool("promtool"), metrics, "check", "metrics");
        Assert.True(code == 0, output + "\n" + metrics);
    }

    [Fact]
    public async Task Promtool_passes_the_shipped_rules_and_their_unit_tests()
    {
        var dir = Path.Combine(RepoRoot, "deploy", "prometheus");
        var check = await RunAsync(Tool("promtool"), null, "check", "rules", Path.Combine(dir, "keyward-rules.yaml"));
        Assert.True(check.Code == 0, check.Out);
        // The test file asserts: 6 days ahead fires KeywardCredentialExpiresSoon, 8 days ahead does not; expired,
        // failing check and a controller silent for three intervals fire.
        var test = await RunAsync(Tool("promtool"), null, "test", "rules", Path.Combine(dir, "keyward-rules.test.yaml"));
        Assert.True(test.Code == 0, test.Out);
    }

    [Fact]
    public void Label_values_are_escaped_and_a_family_cannot_be_written_twice()
    {
        var sb = new System.Text.StringBuilder();
        var w = new MetricsWriter(sb);
        w.Family("keyward_test", MetricType.Gauge, "a test").Sample(1.5, ("name", "a\"b\\c\nd"));
        Assert.Equal("# HELP keyward_test a test\n# TYPE keyward_test gauge\nkeyward_test{name=\"a\\\"b\\\\c\\nd\"} 1.5\n", sb.ToString());
        Assert.Throws<InvalidOperationException>(() => w.Family("keyward_test", MetricType.Gauge, "again"));
    }

    [Fact]
    public async Task A_real_prometheus_scrapes_serve_and_answers_a_query_for_a_keyward_metric()
    {
        await using var h = await new ServerHarness().StartAsync();
        Assert.True(await h.PassAsync());
        var target = h.Http.BaseAddress!;
        var dir = Directory.CreateTempSubdirectory("kw-prom-").FullName;
        var port = FreePort();
        File.WriteAllText(Path.Combine(dir, "prometheus.yml"), $"""
            global: {"{"} scrape_interval: 1s, evaluation_interval: 1s {"}"}
            scrape_configs:
              - job_name: keyward
                static_configs: [{"{"} targets: ["127.0.0.1:{target.Port}"] {"}"}]
            """);
        var psi = new ProcessStartInfo(Tool("prometheus")) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { $"--config.file={Path.Combine(dir, "prometheus.yml")}", $"--storage.tsdb.path={Path.Combine(dir, "data")}",
                     $"--web.listen-address=127.0.0.1:{port}", "--log.level=warn" })
            psi.ArgumentList.Add(a);
        using var prometheus = Process.Start(psi)!;
        prometheus.OutputDataReceived += (_, _) => { };
        prometheus.ErrorDataReceived += (_, _) => { };
        prometheus.BeginOutputReadLine();
        prometheus.BeginErrorReadLine();
        try
        {
            using var api = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(10) };
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(Ct);
            deadline.CancelAfter(TimeSpan.FromMinutes(2));
            string? value = null;
            while (value is null)
            {
                Assert.False(deadline.IsCancellationRequested, "Prometheus did not report the keyward target up with its metrics in time");
                Assert.False(prometheus.HasExited, "prometheus exited");
                value = await QueryAsync(api, "keyward_credential_expiration_timestamp_seconds{credential=\"push-token\"}");
                if (value is null) await Task.Delay(200, Ct);
            }
            Assert.Equal(h.Time.GetUtcNow().AddHours(2).ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture), value);
            using var targets = JsonDocument.Parse(await api.GetStringAsync(new Uri("/api/v1/targets", UriKind.Relative), Ct));
            Assert.Contains(targets.RootElement.GetProperty("data").GetProperty("activeTargets").EnumerateArray(),
                t => t.GetProperty("health").GetString() == "up" && t.GetProperty("labels").GetProperty("job").GetString() == "keyward");
        }
        finally
        {
            prometheus.Kill(entireProcessTree: true);
            await prometheus.WaitForExitAsync(CancellationToken.None);
            Directory.Delete(dir, recursive: true);
        }
    }

    private static async Task<string?> QueryAsync(HttpClient api, string query)
    {
        try
        {
            using var doc = JsonDocument.Parse(await api.GetStringAsync(new Uri("/api/v1/query?query=" + Uri.EscapeDataString(query), UriKind.Relative), Ct));
            var result = doc.RootElement.GetProperty("data").GetProperty("result");
            return result.GetArrayLength() == 0 ? null : result[0].GetProperty("value")[1].GetString();
        }
        catch (HttpRequestException)
        {
            return null; // not listening yet
        }
        catch (TaskCanceledException) when (!Ct.IsCancellationRequested)
        {
            return null;
        }
    }

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }
}
