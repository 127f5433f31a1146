using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using Keyward.Crypto.Ssh;
using Keyward.Engine.Agent;

namespace Keyward.Bench;

/// <summary>
/// Issue 12's benchmark: N simulated agents in one process long-polling one <c>keyward serve</c>. Each has its own
/// ssh-ed25519 host key (files made by ssh-keygen) and speaks the real protocol: GET challenge, SSHSIG over the challenge
/// text, POST session, GET bundle (first with wait=0, then long polls with since=VERSION), age-decrypt and check the
/// bundle with its own key (<see cref="HostBundle.Open"/>), POST report with the bundle's fingerprints. It writes no files
/// (that is apply's cost, measured elsewhere). Then ROUNDS times it runs the rotate command and times how long until every
/// agent has decrypted a bundle of a new version, and until the command exits (it waits for all confirmations).
/// usage: agents --server URL --keys DIR --count N --rounds R --wait S -- ROTATE-COMMAND…
/// </summary>
internal static class AgentsBench
{
    private sealed class Agent(int index, HostIdentity identity)
    {
        public int Index { get; } = index;
        public HostIdentity Identity { get; } = identity;
        public string? Host;
        public string? Token;
        public volatile string? Version;
        public long ReceivedAt;
        public int Deliveries;
    }

    public static async Task<int> Run(string[] args)
    {
        var split = Array.IndexOf(args, "--");
        var rotate = split >= 0 ? args[(split + 1)..] : [];
        var opts = (split >= 0 ? args[..split] : args).Chunk(2).ToDictionary(p => p[0], p => p[1], StringComparer.Ordinal);
        var server = new Uri(opts["--server"]);
        var count = int.Parse(opts["--count"], CultureInfo.InvariantCulture);
        var rounds = int.Parse(opts.GetValueOrDefault("--rounds", "3"), CultureInfo.InvariantCulture);
        var wait = int.Parse(opts.GetValueOrDefault("--wait", "60"), CultureInfo.InvariantCulture);
        var keys = opts["--keys"];

        var agents = Enumerable.Range(1, count)
            .Select(i => new Agent(i, HostIdentity.Parse(File.ReadAllText(Path.Combine(keys, $"runner-{i}.key"))))).ToArray();
        using var http = new HttpClient(new SocketsHttpHandler
        {
            MaxConnectionsPerServer = int.MaxValue,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
        })
        { BaseAddress = server, Timeout = TimeSpan.FromSeconds(wait + 60) };
        using var stop = new CancellationTokenSource();
        var errors = new ConcurrentQueue<string>();
        var origin = AgentProtocol.Origin(server);

        // Start-up: at most 32 agents authenticate and fetch at once (a fleet's timers are spread out too).
        var startGate = new SemaphoreSlim(32);
        var clock = Stopwatch.StartNew();
        var tasks = agents.Select(a => Task.Run(() => LoopAsync(a))).ToArray();
        while (agents.Any(a => a.Version is null))
        {
            if (errors.TryPeek(out var e)) { await Console.Error.WriteLineAsync(e); return 1; }
            if (clock.Elapsed > TimeSpan.FromMinutes(5)) { await Console.Error.WriteLineAsync($"only {agents.Count(a => a.Version is not null)} of {count} agents started"); return 1; }
            await Task.Delay(50);
        }
        var startup = clock.Elapsed;
        await Task.Delay(2000); // every agent is now parked in a long poll
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"started {count} agents in {startup.TotalSeconds:0.00} s"));
        Console.Out.Flush();
        if (opts.TryGetValue("--ready", out var ready)) await File.WriteAllTextAsync(ready, "ready\n");

        var reachAll = new List<double>();
        var reachP50 = new List<double>();
        var command = new List<double>();
        for (var r = 1; r <= rounds; r++)
        {
            var before = agents.Select(a => a.Version).ToArray();
            var t0 = Stopwatch.GetTimestamp();
            using var proc = Process.Start(new ProcessStartInfo(rotate[0], rotate[1..]) { RedirectStandardOutput = true, RedirectStandardError = true })!;
            var outTask = proc.StandardOutput.ReadToEndAsync();
            var errTask = proc.StandardError.ReadToEndAsync();
            while (agents.Where((a, i) => a.Version == before[i]).Any())
            {
                if (errors.TryPeek(out var e)) { await Console.Error.WriteLineAsync(e); return 1; }
                if (proc.HasExited && proc.ExitCode != 0) { await Console.Error.WriteLineAsync(await outTask + await errTask); return 1; }
                await Task.Delay(5);
            }
            var times = agents.Select(a => Stopwatch.GetElapsedTime(t0, Volatile.Read(ref a.ReceivedAt)).TotalSeconds).Order().ToArray();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"round {r}: every agent has the new bundle after {times[^1]:0.00} s"));
            Console.Out.Flush();
            await proc.WaitForExitAsync();
            var cmd = Stopwatch.GetElapsedTime(t0).TotalSeconds;
            if (proc.ExitCode != 0) { await Console.Error.WriteLineAsync(await outTask + await errTask); return 1; }
            reachAll.Add(times[^1]);
            reachP50.Add(times[times.Length / 2]);
            command.Add(cmd);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"round {r}: first {times[0]:0.00} s, half {times[times.Length / 2]:0.00} s, all {times[^1]:0.00} s; rotate exited after {cmd:0.00} s"));
            Console.Out.Flush();
            await Task.Delay(1000);
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"RESULT reach_all_median={Median(reachAll):0.00} reach_all_max={reachAll.Max():0.00} reach_half_median={Median(reachP50):0.00} rotate_median={Median(command):0.00} startup={startup.TotalSeconds:0.00} deliveries={agents.Sum(a => a.Deliveries)}"));
        await stop.CancelAsync();
        return 0;

        async Task LoopAsync(Agent a)
        {
            await startGate.WaitAsync(stop.Token);
            var released = false;
            try
            {
                while (!stop.IsCancellationRequested)
                {
                    try
                    {
                        if (a.Token is null) await AuthenticateAsync(a);
                        var since = a.Version;
                        var url = $"{AgentProtocol.BundlePath}?wait={(since is null ? 0 : wait)}" + (since is null ? "" : $"&since={Uri.EscapeDataString(since)}");
                        using var request = new HttpRequestMessage(HttpMethod.Get, url);
                        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", a.Token);
                        using var response = await http.SendAsync(request, stop.Token);
                        if (response.StatusCode == HttpStatusCode.NotModified) continue;
                        if (response.StatusCode == HttpStatusCode.Unauthorized) { a.Token = null; continue; }
                        if (!response.IsSuccessStatusCode)
                            throw new HttpRequestException($"GET bundle: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync(stop.Token)}");
                        var bytes = await response.Content.ReadAsByteArrayAsync(stop.Token);
                        using var bundle = HostBundle.Open(bytes, a.Identity.AgeIdentities, a.Host!);
                        var reports = bundle.Sinks.Select(s => new SinkReport(s.Name, s.Fingerprint, "written", null)).ToList();
                        using (var content = JsonContent.Create(new AgentReport(bundle.Version, reports), AgentJson.Default.AgentReport))
                        using (var post = new HttpRequestMessage(HttpMethod.Post, AgentProtocol.ReportPath) { Content = content })
                        {
                            post.Headers.Authorization = new AuthenticationHeaderValue("Bearer", a.Token);
                            using var reported = await http.SendAsync(post, stop.Token);
                            if (!reported.IsSuccessStatusCode)
                                throw new HttpRequestException($"POST report: {(int)reported.StatusCode} {await reported.Content.ReadAsStringAsync(stop.Token)}");
                        }
                        Volatile.Write(ref a.ReceivedAt, Stopwatch.GetTimestamp());
                        a.Deliveries++;
                        a.Version = bundle.Version;
                        if (!released) { released = true; startGate.Release(); }
                    }
                    catch (Exception e) when (e is not OperationCanceledException || !stop.IsCancellationRequested)
                    {
                        errors.Enqueue($"agent {a.Index}: {e.GetType().Name}: {e.Message}");
                        return;
                    }
                }
            }
            catch (OperationCanceledException)
            {
            }
            finally
            {
                if (!released) startGate.Release();
            }
        }

        async Task AuthenticateAsync(Agent a)
        {
            using var response = await http.GetAsync($"{AgentProtocol.ChallengePath}?key={Uri.EscapeDataString(a.Identity.PublicText)}", stop.Token);
            response.EnsureSuccessStatusCode();
            var challenge = (await response.Content.ReadFromJsonAsync(AgentJson.Default.ChallengeResponse, stop.Token))!;
            var signature = a.Identity.Sign(AgentProtocol.Namespace, AgentProtocol.ChallengeText(challenge.Host, challenge.Nonce, origin, AgentProtocol.NoChannel));
            using var content = JsonContent.Create(new SessionRequest(challenge.Nonce, origin, AgentProtocol.NoChannel, signature, null), AgentJson.Default.SessionRequest);
            using var session = await http.PostAsync(AgentProtocol.SessionPath, content, stop.Token);
            session.EnsureSuccessStatusCode();
            var s = (await session.Content.ReadFromJsonAsync(AgentJson.Default.SessionResponse, stop.Token))!;
            a.Host = s.Host;
            a.Token = s.Token;
        }
    }

    private static double Median(List<double> v)
    {
        var s = v.Order().ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }
}
