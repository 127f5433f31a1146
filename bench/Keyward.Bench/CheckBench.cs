using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Keyward.Core.Store;
using Keyward.Core.Errors;
using Keyward.Core.Manifest;
using Keyward.Core.Secrets;
using Keyward.Engine.Checks;
using Keyward.Services;
using Keyward.Services.Http;

namespace Keyward.Bench;

/// <summary><c>check [N] [bounds…]</c>: N external Gitea tokens checked against a local HTTP server imitating
/// <c>GET /api/v1/user</c>, with several concurrency bounds; the floor is N raw GETs with the same bound.</summary>
internal static class CheckBench
{
    public static async Task<int> Run(string[] args)
    {
        var n = args.Length > 0 ? int.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture) : 1000;
        var bounds = args.Length > 1 ? args[1..].Select(a => int.Parse(a, System.Globalization.CultureInfo.InvariantCulture)).ToArray() : [8, 32, 128];
        using var server = new TinyServer();
        var at = new SourceLocation("bench.yaml", 1, 1);
        var credentials = Enumerable.Range(0, n).Select(i => (Credential)new ExternalCredential($"token-{i}", "bench", "bench", null, [], at,
            ExternalProvider.Gitea, null, null, null, null)).ToArray();
        var manifest = new KeywardManifest("bench.yaml", [], new Dictionary<CredentialKind, RotationPolicy>(), credentials, [],
            [new Service("gitea", ServiceKind.Gitea, server.Url, null, [], null, null, [], at)]);
        var state = new BenchState(credentials.Select(c => c.Name));
        using var http = ServiceHttp.CreateClient();

        Console.WriteLine($"| what | bound | median wall (ms) | per credential (µs) | vs raw GETs |");
        Console.WriteLine("|---|---:|---:|---:|---:|");
        foreach (var bound in bounds)
        {
            var raw = await MedianAsync(5, async () =>
                await Parallel.ForEachAsync(Enumerable.Range(0, n), new ParallelOptions { MaxDegreeOfParallelism = bound }, async (i, ct) =>
                {
                    using var req = new HttpRequestMessage(HttpMethod.Get, new Uri(server.Url, "api/v1/user"));
                    req.Headers.TryAddWithoutValidation("Authorization", "token " + i);
                    using var r = await http.SendAsync(req, ct);
                    await r.Content.ReadAsStringAsync(ct);
                }));
            var failed = 0;
            var keyward = await MedianAsync(5, async () =>
            {
                var clients = new ServiceClients(http, ServiceHttpOptions.Default, TimeProvider.System);
                var reports = await new CheckRunner(manifest, state, clients, new CheckOptions { MaxConcurrency = bound }).RunAsync(CancellationToken.None);
                failed = reports.Count(r => r.Failed);
            });
            if (failed > 0) throw new InvalidOperationException($"{failed} checks failed in the benchmark");
            Console.WriteLine($"| raw HttpClient GETs (floor) | {bound} | {raw:0} | {raw * 1000 / n:0} | 1.00 |");
            Console.WriteLine($"| keyward check, {n} credentials | {bound} | {keyward:0} | {keyward * 1000 / n:0} | {keyward / raw:0.00} |");
        }
        return 0;
    }

    private static async Task<double> MedianAsync(int runs, Func<Task> body)
    {
        await body();
        var samples = new double[runs];
        for (var i = 0; i < runs; i++)
        {
            var sw = Stopwatch.StartNew();
            await body();
            samples[i] = sw.Elapsed.TotalMilliseconds;
        }
        Array.Sort(samples);
        return samples[runs / 2];
    }

    /// <summary>Check state in memory: every credential has an active version.</summary>
    private sealed class BenchState(IEnumerable<string> names) : ICheckState
    {
        private readonly Dictionary<string, CredentialVersion> _active = names.ToDictionary(n => n,
            n => new CredentialVersion(n, 1, "external", VersionState.Active, DateTimeOffset.UnixEpoch, null, "fp", "bench", new Dictionary<string, string>()), StringComparer.Ordinal);

        public Task<IReadOnlyDictionary<string, CredentialVersion>> ActiveVersionsAsync(CancellationToken cancellationToken) =>
            Task.FromResult<IReadOnlyDictionary<string, CredentialVersion>>(_active);

        public Task<IReadOnlyDictionary<string, Secret>> RevealActiveAsync(IReadOnlyCollection<string> names, CancellationToken cancellationToken) =>
            Task.FromResult<IReadOnlyDictionary<string, Secret>>(names.ToDictionary(n => n, n => Secret.FromUtf8("t-" + n), StringComparer.Ordinal));

        public Task LearnExpiryAsync(CredentialVersion version, DateTimeOffset expiresAt, string source, CancellationToken cancellationToken) => Task.CompletedTask;

        public Task<IReadOnlyDictionary<string, IReadOnlyDictionary<string, ConditionMemory>>> LoadConditionsAsync(CancellationToken cancellationToken) =>
            Task.FromResult<IReadOnlyDictionary<string, IReadOnlyDictionary<string, ConditionMemory>>>(new Dictionary<string, IReadOnlyDictionary<string, ConditionMemory>>());

        public Task SaveConditionsAsync(IReadOnlyList<CheckReport> reports, CancellationToken cancellationToken) => Task.CompletedTask;

        public Task RecordUsesAsync(IReadOnlyList<Keyward.Services.ServiceUse> uses, CancellationToken cancellationToken) => Task.CompletedTask;
    }

    /// <summary>A keep-alive HTTP/1.1 responder on loopback answering Gitea's /api/v1/user.</summary>
    private sealed class TinyServer : IDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly CancellationTokenSource _stop = new();
        private const string Body = "{\"id\":1,\"login\":\"bench-user\"}";
        private static readonly byte[] Response = Encoding.ASCII.GetBytes(
            $"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {Body.Length}\r\n\r\n{Body}");

        public TinyServer()
        {
            _listener.Start(1024);
            Url = new Uri($"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}/");
            _ = Task.Run(AcceptAsync);
        }

        public Uri Url { get; }

        private async Task AcceptAsync()
        {
            while (!_stop.IsCancellationRequested)
            {
                TcpClient c;
                try { c = await _listener.AcceptTcpClientAsync(_stop.Token); }
                catch (OperationCanceledException) { return; }
                catch (SocketException) { return; }
                _ = Task.Run(() => ServeAsync(c));
            }
        }

        private async Task ServeAsync(TcpClient client)
        {
            using (client)
            {
                var stream = client.GetStream();
                var buffer = new byte[8192];
                var pending = new StringBuilder();
                try
                {
                    while (true)
                    {
                        var read = await stream.ReadAsync(buffer, _stop.Token);
                        if (read == 0) return;
                        pending.Append(Encoding.ASCII.GetString(buffer, 0, read));
                        int end;
                        while ((end = pending.ToString().IndexOf("\r\n\r\n", StringComparison.Ordinal)) >= 0)
                        {
                            pending.Remove(0, end + 4);
                            await stream.WriteAsync(Response, _stop.Token);
                        }
                    }
                }
                catch (Exception ex) when (ex is IOException or OperationCanceledException or SocketException) { }
            }
        }

        public void Dispose()
        {
            _stop.Cancel();
            _listener.Stop();
            _stop.Dispose();
        }
    }
}
