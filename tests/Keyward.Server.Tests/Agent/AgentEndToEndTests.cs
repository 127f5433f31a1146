using Microsoft.Extensions.DependencyInjection;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using Keyward.Core.Errors;
using Keyward.Core.Manifest;
using Keyward.Crypto.Ssh;
using Keyward.Engine;
using Keyward.Engine.Agent;
using Keyward.Engine.Apply;
using Keyward.Server.Endpoints;
using Keyward.Store;
using Keyward.Core.Store;
using Microsoft.AspNetCore.Builder;

namespace Keyward.Server.Tests.Agent;

/// <summary>
/// End to end on loopback: one in-process <c>keyward serve</c>, three agents with ssh-ed25519 host keys made by the real
/// ssh-keygen, each writing under its own --root; then the attacks of issue 12 and a scan of every log for secrets.
/// </summary>
[Trait("Category", "Interop")]
public sealed class AgentEndToEndTests : IAsyncLifetime
{
    private const string GitHubToken = "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";
    private readonly string _dir = Directory.CreateTempSubdirectory("keyward-agent-e2e-").FullName;
    private readonly Dictionary<string, (string Private, string Public)> _keys = new(StringComparer.Ordinal);
    private readonly List<string> _log = [];
    private WebApplication? _app;
    private Uri _server = null!;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private string ManifestPath => Path.Combine(_dir, "keyward.yaml");
    private string AgeIdentityPath => Path.Combine(_dir, "age-host.key");
    private string _ageRecipient = "";
    private string StatePath => Path.Combine(_dir, "state");
    private string Root(string host) => Path.Combine(_dir, "hosts", host);

    public async ValueTask InitializeAsync()
    {
        foreach (var name in new[] { "runner-1", "runner-2", "deploy", "intruder" })
        {
            var key = Path.Combine(_dir, "keys", name);
            Directory.CreateDirectory(Path.GetDirectoryName(key)!);
            Run("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", $"root@{name}", "-f", key]);
            _keys[name] = (key, File.ReadAllText(key + ".pub").Trim());
        }
        var ageIdentity = Crypto.Age.X25519Identity.Generate();
        _ageRecipient = ageIdentity.Recipient;
        using (var secret = ageIdentity.ToSecret())
            File.WriteAllBytes(AgeIdentityPath, secret.Reveal().ToArray());
        File.WriteAllText(Path.Combine(_dir, "tokens.json"), $$"""{ "github.com": "{{GitHubToken}}" }""");
        WriteManifest(includeDeploy: true);
        // The authority's state, made the way `keyward apply` makes it.
        var manifest = ManifestLoader.Load(ManifestPath).OrThrow();
        await using (var state = await StateDirectory.OpenOrInitAsync(StatePath, [], StateLockOptions.Default, TimeProvider.System, Ct))
        {
            var engine = new ApplyEngine(state.Store, new EngineOptions { Root = Path.Combine(_dir, "authority"), RunHooks = false });
            await engine.ExecuteAsync(await engine.PlanAsync(manifest, Ct), Ct);
        }
        _app = KeywardServer.Build(new ServeOptions { ManifestPath = ManifestPath, StateDirectory = StatePath, Listen = [ListenAddress.Parse("127.0.0.1:0")] });
        await _app.StartAsync(Ct);
        _server = KeywardServer.BoundAddress(_app);
    }

    public async ValueTask DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.StopAsync(CancellationToken.None);
            await _app.DisposeAsync();
        }
        Directory.Delete(_dir, recursive: true);
    }

    private void WriteManifest(bool includeDeploy)
    {
        var deployHost = includeDeploy ? $"  deploy: {{ sshKey: \"{_keys["deploy"].Public}\" }}\n" : "";
        var deploySink = includeDeploy ? """
              git-credentials:
                host: deploy
                path: /home/deploy/.git-credentials
                format: git-credentials
                mode: "0600"
                directoryMode: "0700"
                tokens: [github-token]
                onChange: { command: [touch, "/dev/null"] }
            """ : "";
        File.WriteAllText(ManifestPath, $$"""
            apiVersion: keyward/v1
            hosts:
              runner-1: { sshKey: "{{_keys["runner-1"].Public}}" }
              runner-2: { sshKey: "{{_keys["runner-2"].Public}}" }
              age-host: { ageRecipient: {{_ageRecipient}} }
            {{deployHost}}
            credentials:
              attic-jwt-secret: { kind: secret, bytes: 64, owner: o, purpose: p }
              ci-push-token:
                kind: attic-token
                signedBy: attic-jwt-secret
                subject: ci-runner
                validity: 30d
                owner: ci
                purpose: push
                caches: { main: [pull, push] }
              github-token:
                kind: external
                provider: github
                host: github.com
                username: deploy-bot
                owner: platform
                purpose: repositories
                source: { jsonMap: tokens.json, key: github.com }
            sinks:
              atticd-env:
                path: /run/keyward/atticd.env
                format: env
                entries: { ATTIC_SERVER_TOKEN_HS256_SECRET_BASE64: { credential: attic-jwt-secret, encoding: base64 } }
              runner-netrc:
                hosts: [runner-1, runner-2]
                path: /etc/nix/keyward-netrc
                format: netrc
                mode: "0600"
                entries: { cache.example.org: ci-push-token }
              runner-nix-conf:
                hosts: [runner-1, runner-2]
                path: /etc/nix/keyward-runner.conf
                format: nix-conf
                substituters: ["https://cache.example.org/main"]
                netrcFile: /etc/nix/keyward-netrc
              push-token: { host: age-host, format: raw, path: /run/keyward/push.token, mode: "0400", credential: ci-push-token }
            {{deploySink}}
            """);
    }

    private HostIdentity Identity(string host) => HostIdentity.Parse(File.ReadAllText(_keys[host].Private));

    private AgentRunner Agent(string host, HostIdentity identity, HttpMessageHandler? handler = null, string? keyOf = null) => new(new AgentOptions
    {
        Server = _server,
        Identity = identity,
        StateDirectory = Path.Combine(_dir, "agent-state", host),
        Engine = new EngineOptions { Root = Root(host), RunHooks = false },
        Handler = handler,
        Wait = TimeSpan.FromSeconds(5),
        Log = line => { lock (_log) _log.Add($"{host}: {line}"); },
    });

    private static string[] FilesUnder(string root) => Directory.Exists(root)
        ? [.. Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories).Select(f => "/" + Path.GetRelativePath(root, f)).Order(StringComparer.Ordinal)]
        : [];

    [Fact]
    public async Task ThreeAgents_EachGetExactlyTheirFiles_AcceptedByGitAndCurl_AndNothingSecretIsLogged()
    {
        foreach (var host in new[] { "runner-1", "runner-2", "deploy" })
        {
            using var identity = Identity(host);
            using var agent = Agent(host, identity);
            Assert.Equal(0, await agent.RunOnceAsync(Ct));
        }
        Assert.Equal(["/etc/nix/keyward-netrc", "/etc/nix/keyward-runner.conf"], FilesUnder(Root("runner-1")));
        Assert.Equal(["/etc/nix/keyward-netrc", "/etc/nix/keyward-runner.conf"], FilesUnder(Root("runner-2")));
        Assert.Equal(["/home/deploy/.git-credentials"], FilesUnder(Root("deploy")));
        Assert.Equal(File.ReadAllBytes(Path.Combine(Root("runner-1"), "etc/nix/keyward-netrc")), File.ReadAllBytes(Path.Combine(Root("runner-2"), "etc/nix/keyward-netrc")));
        Assert.Equal(Convert.ToInt32("600", 8), (int)File.GetUnixFileMode(Path.Combine(Root("deploy"), "home/deploy/.git-credentials")));
        Assert.Equal(Convert.ToInt32("700", 8), (int)File.GetUnixFileMode(Path.Combine(Root("deploy"), "home/deploy")));

        // The real tools read what the agents wrote.
        var fill = Run("/usr/bin/git", ["-c", "credential.helper=", "-c", $"credential.helper=store --file {Path.Combine(Root("deploy"), "home/deploy/.git-credentials")}", "credential", "fill"],
            "protocol=https\nhost=github.com\n\n", new() { ["HOME"] = _dir, ["GIT_CONFIG_NOSYSTEM"] = "1", ["GIT_TERMINAL_PROMPT"] = "0" });
        Assert.Contains($"password={GitHubToken}", fill, StringComparison.Ordinal);
        var token = (await SecretsAsync())["ci-push-token"];
        var authorization = await CurlAuthorizationAsync(Path.Combine(Root("runner-1"), "etc/nix/keyward-netrc"));
        Assert.StartsWith("Basic ", authorization, StringComparison.Ordinal);
        Assert.EndsWith(":" + token, Encoding.UTF8.GetString(Convert.FromBase64String(authorization["Basic ".Length..].Trim())), StringComparison.Ordinal);

        // Status, audit and metrics name the hosts.
        using var http = new HttpClient { BaseAddress = _server };
        using (var anonymous = await http.GetAsync(AgentProtocol.HostsPath, Ct))
            Assert.Equal(System.Net.HttpStatusCode.Unauthorized, anonymous.StatusCode); // host status is for operators
        await using (var state = await StateDirectory.OpenAsync(StatePath, TimeProvider.System, Ct))
        {
            var op = await new Engine.Operators.OperatorTokens(state.Store, new Engine.EngineOptions()).CreateAsync("ops", TimeSpan.FromDays(1), Ct);
            http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", op.Token.RevealString());
        }
        var hosts = await http.GetFromJsonAsync(AgentProtocol.HostsPath, AgentJson.Default.HostsResponse, Ct);
        var ran = hosts!.Hosts.Where(h => h.Host != "age-host").ToList();
        Assert.Equal(3, ran.Count);
        Assert.All(ran, h => Assert.All(h.Sinks, s => Assert.False(s.Stale, $"{h.Host}/{s.Sink} is stale: {s.State} {s.Message}")));
        Assert.All(ran, h => Assert.NotNull(h.LastSeen));
        // A host whose agent never came is stale and never seen.
        var absent = hosts.Hosts.Single(h => h.Host == "age-host");
        Assert.Null(absent.LastSeen);
        Assert.True(Assert.Single(absent.Sinks).Stale);
        var metrics = new StringWriter();
        _app!.Services.GetRequiredService<AgentEndpoints.AgentArea>().Metrics.Write(metrics); // this server's area, not the last one built in the process
        Assert.Contains("keyward_agent_last_seen_timestamp_seconds{host=\"deploy\"}", metrics.ToString(), StringComparison.Ordinal);
        Assert.Contains("keyward_host_sink_stale{host=\"runner-2\",sink=\"runner-netrc\"} 0", metrics.ToString(), StringComparison.Ordinal);
        IReadOnlyList<AuditRecord> audit;
        await using (var state = await StateDirectory.OpenAsync(StatePath, TimeProvider.System, Ct))
            audit = await state.Store.ReadAuditAsync(null, Ct);
        Assert.Contains(audit, a => a.Event.Actor == "agent:deploy" && a.Event.Action == "deliver" && a.Event.Credential == "git-credentials");
        Assert.Contains(audit, a => a.Event.Actor == "agent:runner-2" && a.Event.Action == "deliver" && a.Event.Credential == "runner-netrc");

        // Nothing secret in any log: the agents' lines, the status, the metrics, the audit's texts.
        var everything = string.Join("\n", _log) + (await http.GetStringAsync(AgentProtocol.HostsPath, Ct)) + metrics + string.Join("\n", audit.Select(a => a.Event.ToString()));
        foreach (var (name, value) in await SecretsAsync())
        {
            Assert.DoesNotContain(value, everything, StringComparison.Ordinal);
            Assert.DoesNotContain(Convert.ToBase64String(Encoding.UTF8.GetBytes(value)), everything, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Attacks_ReplayOtherKeyUnknownKeyOtherHostsSinkTamperingAndAForeignBundle_AreAllRefused()
    {
        using var http = new HttpClient { BaseAddress = _server };
        var origin = AgentProtocol.Origin(_server);
        async Task<ChallengeResponse> ChallengeAsync(string host)
        {
            var r = await http.GetAsync($"{AgentProtocol.ChallengePath}?key={Uri.EscapeDataString(_keys[host].Public)}", Ct);
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
            return (await r.Content.ReadFromJsonAsync(AgentJson.Default.ChallengeResponse, Ct))!;
        }
        Task<HttpResponseMessage> SessionAsync(SessionRequest request) =>
            http.PostAsJsonAsync(AgentProtocol.SessionPath, request, AgentJson.Default.SessionRequest, Ct);
        SessionRequest Signed(ChallengeResponse c, string signer)
        {
            using var id = Identity(signer);
            return new SessionRequest(c.Nonce, origin, AgentProtocol.NoChannel, id.Sign(AgentProtocol.Namespace, AgentProtocol.ChallengeText(c.Host, c.Nonce, origin, AgentProtocol.NoChannel)), null);
        }

        // An unknown key gets no challenge.
        var unknown = await http.GetAsync($"{AgentProtocol.ChallengePath}?key={Uri.EscapeDataString(_keys["intruder"].Public)}", Ct);
        Assert.Equal(HttpStatusCode.Unauthorized, unknown.StatusCode);

        // A response signed by another key: 401.
        var c1 = await ChallengeAsync("runner-1");
        Assert.Equal("runner-1", c1.Host);
        Assert.Equal(HttpStatusCode.Unauthorized, (await SessionAsync(Signed(c1, "deploy"))).StatusCode);
        // ... and that nonce is spent: the right signature now is a replay.
        Assert.Equal(HttpStatusCode.Unauthorized, (await SessionAsync(Signed(c1, "runner-1"))).StatusCode);

        // A valid response works once; replayed, it is refused.
        var c2 = await ChallengeAsync("runner-1");
        var good = Signed(c2, "runner-1");
        var first = await SessionAsync(good);
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        var replay = await SessionAsync(good);
        Assert.Equal(HttpStatusCode.Unauthorized, replay.StatusCode);
        Assert.Contains("already used", await replay.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        // Signed for another server (the origin is in the signed bytes): refused.
        var c3 = await ChallengeAsync("runner-1");
        using (var id = Identity("runner-1"))
        {
            var elsewhere = new SessionRequest(c3.Nonce, "http://evil.example:80", AgentProtocol.NoChannel,
                id.Sign(AgentProtocol.Namespace, AgentProtocol.ChallengeText("runner-1", c3.Nonce, "http://evil.example:80", AgentProtocol.NoChannel)), null);
            Assert.Equal(HttpStatusCode.Unauthorized, (await SessionAsync(elsewhere)).StatusCode);
        }
        var session = (await first.Content.ReadFromJsonAsync(AgentJson.Default.SessionResponse, Ct))!;

        // Asking for another host's sink by name gets the caller's own bundle, which runner-1 can open and deploy's key cannot.
        using var ask = new HttpRequestMessage(HttpMethod.Get, $"{AgentProtocol.BundlePath}?host=deploy&sink=git-credentials");
        ask.Headers.Authorization = new("Bearer", session.Token);
        var answer = await http.SendAsync(ask, Ct);
        Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        var runnerBundle = await answer.Content.ReadAsByteArrayAsync(Ct);
        using (var id = Identity("runner-1"))
        using (var opened = HostBundle.Open(runnerBundle, id.AgeIdentities, "runner-1"))
            Assert.Equal(["runner-netrc", "runner-nix-conf"], opened.Sinks.Select(s => s.Name).Order(StringComparer.Ordinal));
        using (var id = Identity("deploy"))
            Assert.Equal(ErrorCodes.AgentBundleRefused, Assert.Throws<KeywardException>(() => HostBundle.Open(runnerBundle, id.AgeIdentities, "deploy")).First.Code);
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync("/api/v1/agent/sinks/git-credentials", Ct)).StatusCode);

        // A tampered ciphertext is refused (age's payload authentication), whatever byte changed.
        foreach (var at in new[] { runnerBundle.Length - 20, runnerBundle.Length / 2 })
        {
            var tampered = (byte[])runnerBundle.Clone();
            tampered[at] ^= 0x01;
            using var id = Identity("runner-1");
            Assert.Equal(ErrorCodes.AgentBundleRefused, Assert.Throws<KeywardException>(() => HostBundle.Open(tampered, id.AgeIdentities, "runner-1")).First.Code);
        }

        // A server that answers runner-2's agent with runner-1's bundle: refused, nothing written.
        using (var id2 = Identity("runner-2"))
        using (var agent = Agent("runner-2", id2, new SwapBundle(runnerBundle)))
        {
            var refused = await Assert.ThrowsAsync<KeywardException>(() => agent.RunOnceAsync(Ct));
            Assert.Equal(ErrorCodes.AgentBundleRefused, refused.First.Code);
        }
        Assert.Empty(FilesUnder(Root("runner-2")));
        // The same bundle re-encrypted to runner-2 but naming runner-1 is refused by name (a server holding both keys).
        using (var id1 = Identity("runner-1"))
        using (var plain = HostBundle.Open(runnerBundle, id1.AgeIdentities, "runner-1"))
        using (var id2 = Identity("runner-2"))
        {
            var resealed = plain.Seal(_keys["runner-2"].Public);
            Assert.Contains("for host 'runner-1'", Assert.Throws<KeywardException>(() => HostBundle.Open(resealed, id2.AgeIdentities, "runner-2")).First.Message, StringComparison.Ordinal);
        }

        // A host removed from the manifest is refused at once, session or not.
        using (var idDeploy = Identity("deploy"))
        using (var deployAgent = Agent("deploy", idDeploy))
            Assert.Equal(0, await deployAgent.RunOnceAsync(Ct));
        var cd = await ChallengeAsync("deploy");
        var deploySession = (await (await SessionAsync(Signed(cd, "deploy"))).Content.ReadFromJsonAsync(AgentJson.Default.SessionResponse, Ct))!;
        WriteManifest(includeDeploy: false);
        using var again = new HttpRequestMessage(HttpMethod.Get, AgentProtocol.BundlePath);
        again.Headers.Authorization = new("Bearer", deploySession.Token);
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.SendAsync(again, Ct)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync($"{AgentProtocol.ChallengePath}?key={Uri.EscapeDataString(_keys["deploy"].Public)}", Ct)).StatusCode);
    }

    [Fact]
    public async Task WatchingAgents_ReceiveARotationOfTheToken_AndAnOfflineAgentKeepsItsFiles()
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var identities = new[] { "runner-1", "runner-2" }.Select(h => (h, Identity(h))).ToList();
        var agents = identities.Select(x => Agent(x.h, x.Item2)).ToList();
        var watching = agents.Select(a => a.WatchAsync(cts.Token)).ToList();
        string Netrc(string host) => File.Exists(Path.Combine(Root(host), "etc/nix/keyward-netrc")) ? File.ReadAllText(Path.Combine(Root(host), "etc/nix/keyward-netrc")) : "";
        var before = (await SecretsAsync())["ci-push-token"];
        await Until(() => Netrc("runner-1").Contains(before, StringComparison.Ordinal) && Netrc("runner-2").Contains(before, StringComparison.Ordinal));

        // A rotation: a new active version of the token in the store (as `keyward rotate` leaves it).
        const string rotated = "keyward-rotated-token-value-for-the-test";
        await using (var state = await StateDirectory.OpenOrInitAsync(StatePath, [], StateLockOptions.Default, TimeProvider.System, Ct))
            await state.Store.PutAsync(new NewVersion("ci-push-token", "attic-token", Core.Secrets.Secret.FromUtf8(rotated), VersionState.Active, DateTimeOffset.UtcNow, null, "test", new Dictionary<string, string>()), Ct);
        await Until(() => Netrc("runner-1").Contains(rotated, StringComparison.Ordinal) && Netrc("runner-2").Contains(rotated, StringComparison.Ordinal));

        await cts.CancelAsync();
        foreach (var w in watching)
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => w).WaitAsync(TimeSpan.FromMinutes(2), Ct).ContinueWith(_ => { }, Ct);
        foreach (var a in agents) a.Dispose();

        // Offline: the server is gone; the files stay and the agent says how stale they are.
        await _app!.StopAsync(Ct);
        using var id = Identity("runner-1");
        using var offline = Agent("runner-1", id);
        var e = await Assert.ThrowsAsync<KeywardException>(() => offline.RunOnceAsync(Ct));
        Assert.Equal(ErrorCodes.AgentServerUnreachable, e.First.Code);
        Assert.Contains("stay in place", e.First.Message, StringComparison.Ordinal);
        Assert.Contains(rotated, Netrc("runner-1"), StringComparison.Ordinal);
        foreach (var (_, i) in identities) i.Dispose();
    }

    [Fact]
    public async Task AnAgeRecipientHost_AuthenticatesByDecryptingTheChallenge_AndGetsItsFile()
    {
        using var identity = HostIdentity.Parse(File.ReadAllText(AgeIdentityPath));
        Assert.Null(identity.SshKey);
        using var agent = Agent("age-host", identity);
        Assert.Equal(0, await agent.RunOnceAsync(Ct));
        Assert.Equal(["/run/keyward/push.token"], FilesUnder(Root("age-host")));
        Assert.Equal((await SecretsAsync())["ci-push-token"], File.ReadAllText(Path.Combine(Root("age-host"), "run/keyward/push.token")));

        // Answering the sealed challenge with anything but its nonce is refused.
        using var http = new HttpClient { BaseAddress = _server };
        var c = (await http.GetFromJsonAsync($"{AgentProtocol.ChallengePath}?key={Uri.EscapeDataString(_ageRecipient)}", AgentJson.Default.ChallengeResponse, Ct))!;
        Assert.NotNull(c.Sealed);
        var wrong = await http.PostAsJsonAsync(AgentProtocol.SessionPath,
            new SessionRequest(c.Nonce, AgentProtocol.Origin(_server), AgentProtocol.NoChannel, null, "not-the-nonce"), AgentJson.Default.SessionRequest, Ct);
        Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
    }

    /// <summary>Polls a condition with a generous deadline (a busy 2-core machine): never a timing assertion.</summary>
    private static async Task Until(Func<bool> condition)
    {
        var deadline = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(deadline.Elapsed < TimeSpan.FromMinutes(2), "the agents did not receive the bundle within 2 minutes");
            await Task.Delay(50, Ct);
        }
    }

    private async Task<Dictionary<string, string>> SecretsAsync()
    {
        await using var state = await StateDirectory.OpenAsync(StatePath, TimeProvider.System, Ct);
        var values = await state.Store.RevealActiveAsync(["attic-jwt-secret", "ci-push-token", "github-token"], Ct);
        var result = values.ToDictionary(v => v.Key, v => Encoding.UTF8.GetString(v.Value.Reveal()), StringComparer.Ordinal);
        foreach (var v in values.Values) v.Dispose();
        return result;
    }

    /// <summary>Passes everything to the real server but answers the bundle request with another host's bundle.</summary>
    private sealed class SwapBundle(byte[] foreign) : DelegatingHandler(new SocketsHttpHandler())
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var response = await base.SendAsync(request, cancellationToken);
            if (request.RequestUri!.AbsolutePath == AgentProtocol.BundlePath && response.IsSuccessStatusCode)
                response.Content = new ByteArrayContent(foreign);
            return response;
        }
    }

    /// <summary>curl --netrc-file against a loopback socket standing in for cache.example.org: the Authorization it sends.</summary>
    private static async Task<string> CurlAuthorizationAsync(string netrc)
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var serve = Task.Run(async () =>
        {
            using var client = await listener.AcceptTcpClientAsync(Ct);
            using var stream = client.GetStream();
            var buffer = new byte[8192];
            var text = new StringBuilder();
            while (!text.ToString().Contains("\r\n\r\n", StringComparison.Ordinal))
            {
                var n = await stream.ReadAsync(buffer, Ct);
                if (n == 0) break;
                text.Append(Encoding.ASCII.GetString(buffer, 0, n));
            }
            await stream.WriteAsync("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"u8.ToArray(), Ct);
            return text.ToString();
        }, Ct);
        Run("/usr/bin/curl", ["-sS", "--noproxy", "*", "--netrc-file", netrc, "--connect-to", $"cache.example.org:80:127.0.0.1:{port}", "http://cache.example.org/nix-cache-info"]);
        var request = await serve.WaitAsync(TimeSpan.FromMinutes(1), Ct);
        var line = request.Split("\r\n").FirstOrDefault(l => l.StartsWith("Authorization:", StringComparison.OrdinalIgnoreCase));
        Assert.True(line is not null, "curl sent no Authorization from the netrc file");
        return line["Authorization:".Length..].Trim();
    }

    private static string Run(string tool, IEnumerable<string> args, string? stdin = null, Dictionary<string, string?>? env = null)
    {
        Assert.True(File.Exists(tool), $"{tool} is missing (test.sh installs openssh-client, git and curl)");
        var psi = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var (k, v) in env ?? []) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        if (stdin is not null) p.StandardInput.Write(stdin);
        p.StandardInput.Close();
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEnd();
        Assert.True(p.WaitForExit(60_000), $"{tool} did not finish");
        Assert.True(p.ExitCode == 0, $"{tool} {string.Join(' ', args)} failed ({p.ExitCode}): {stderr}");
        return stdout.Result;
    }
}
