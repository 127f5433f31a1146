using System.Text;
using Keyward.Core.Errors;
using Keyward.Core.Manifest;
using Keyward.Core.Secrets;
using Keyward.Engine.Bootstrap;
using Keyward.Services.Bootstrap;
using Keyward.Services.Coder;
using Keyward.Services.Gitea;
using Keyward.Services.Http;
using Keyward.Services.Tests;
using Keyward.Services.Tests.ContractServers;
using Microsoft.Extensions.Time.Testing;

namespace Keyward.Engine.Tests.Bootstrap;

/// <summary>Bootstrap against the stateful Coder and Gitea contract servers. Waiting is driven through
/// <see cref="BootstrapOptions.Pause"/>: the test advances the fake clock and plays the human between probes, so no test
/// here waits on real time or races the machine (they ran flaky on a busy 2-core box when they did).</summary>
public sealed class BootstrapContractTests : IDisposable
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    private readonly TempDir _dir = new();
    private readonly MemoryStore _store = new();
    private readonly ListLoggerFactory _logs = new();
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 23, 12, 0, 0, TimeSpan.Zero));
    private readonly List<string> _shown = [];
    private readonly List<TimeSpan> _pauses = [];

    public void Dispose() => _dir.Dispose();

    private sealed class RecordingDelivery : ITokenDelivery
    {
        public List<string> Delivered { get; } = [];
        public Task<string> DeliverAsync(string credential, CancellationToken cancellationToken)
        {
            Delivered.Add(credential);
            return Task.FromResult("delivered");
        }
    }

    private readonly RecordingDelivery _delivery = new();

    private static ExternalCredential FileCredential => M.External("coder-admin-token", ExternalProvider.Coder, new FileSource("/secrets/coder-token", M.At));
    private string TokenFile => _dir.Sub("root/secrets/coder-token");
    private string Manifests => _dir.Sub("etc");

    /// <summary>Options that never wait on real time: each pause advances the fake clock, then runs <paramref name="human"/>.</summary>
    private BootstrapOptions Waiting(Action<int>? human = null, TimeSpan? deadline = null) => new()
    {
        Wait = true,
        Deadline = deadline ?? TimeSpan.FromMinutes(30),
        InitialDelay = TimeSpan.FromSeconds(4),
        Instructions = _shown.Add,
        Rerun = "keyward bootstrap coder coder -f /etc/keyward.yaml",
        Pause = (d, _) =>
        {
            _pauses.Add(d);
            _time.Advance(d);
            human?.Invoke(_pauses.Count);
            return Task.CompletedTask;
        },
    };

    private BootstrapMachine Coder(CoderContractServer server, bool withPassword = false, BootstrapOptions? options = null, ExternalCredential? credential = null)
    {
        server.Time = _time;
        var service = M.Service("coder", ServiceKind.Coder, server.Url, "coder-admin-token", adminUser: withPassword ? server.Email : null, adminPassword: withPassword ? "coder-admin-password" : null);
        var client = new CoderClient(new ServiceHttp("coder", server.Url, ErrorShape.Coder, ServiceHttp.CreateClient(), M.FastHttp(), _time));
        var target = new CoderBootstrapTarget(service, client, withPassword ? Secret.FromUtf8(server.Password) : null, TimeSpan.FromDays(30), _time);
        return new BootstrapMachine(target, Store(credential ?? FileCredential), _delivery, _time,
            options ?? new BootstrapOptions { Instructions = _shown.Add, Rerun = "keyward bootstrap coder coder -f /etc/keyward.yaml" }, _logs.CreateLogger("bootstrap"));
    }

    private StoreBootstrapStore Store(ExternalCredential credential) =>
        new(_store, credential, _dir.Sub("state"), Manifests, _time, _dir.Sub("root"), _ => null);

    private string Placeholder() => File.ReadAllText(TokenFile);

    private void Paste(string path, string token)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, token + "\n");
    }

    private async Task<string> ActiveToken() => (await _store.RevealActiveAsync(["coder-admin-token"], Ct))["coder-admin-token"].RevealString();

    [Fact]
    public async Task Fresh_NoUsers_WritesFirstUserInstructions()
    {
        await using var coder = new CoderContractServer { HasFirstUser = false };
        var outcome = await Coder(coder).RunAsync(Ct);
        Assert.Equal(BootstrapState.Fresh, outcome.State);
        Assert.StartsWith(Keyward.Services.Bootstrap.Placeholder.Marker, Placeholder(), StringComparison.Ordinal);
        Assert.Contains($"coder login {coder.Url.AbsoluteUri.TrimEnd('/')} --first-user-username", Placeholder(), StringComparison.Ordinal);
        Assert.Equal(Convert.ToInt32("600", 8), (int)File.GetUnixFileMode(TokenFile));
        Assert.Contains(_store.Audit, a => a.Action == "bootstrap.fresh");
        Assert.Empty(_delivery.Delivered);
    }

    [Fact]
    public async Task Probe_AsksBuildinfoBeforeJudgingAnything()
    {
        await using var coder = new CoderContractServer { HasFirstUser = true };
        await Coder(coder).RunAsync(Ct);
        Assert.Equal("/api/v2/buildinfo", coder.Server.Requests.First().Path);
    }

    [Fact]
    public async Task UserWithoutToken_WritesTokenCreateInstructions_WithTheExactRerunCommand()
    {
        await using var coder = new CoderContractServer { HasFirstUser = true };
        var outcome = await Coder(coder).RunAsync(Ct);
        Assert.Equal(BootstrapState.NoToken, outcome.State);
        Assert.Contains($"coder tokens create --name keyward-bootstrap --lifetime 168h > {TokenFile}", Placeholder(), StringComparison.Ordinal);
        // Bug 7: the placeholder named `keyward bootstrap ... coder-admin-token`, which is not a command.
        Assert.Contains("#   keyward bootstrap coder coder -f /etc/keyward.yaml\n", Placeholder(), StringComparison.Ordinal);
        Assert.DoesNotContain("...", Placeholder(), StringComparison.Ordinal);
        Assert.Empty(await _store.ListVersionsAsync(Ct));
        Assert.Equal(outcome.Instructions, Assert.Single(_shown));
    }

    [Fact]
    public async Task UserWithoutToken_AdminPasswordDeclared_CreatesTokenWithNanosecondLifetimeCappedByTokenconfig()
    {
        await using var coder = new CoderContractServer { HasFirstUser = true };
        var outcome = await Coder(coder, withPassword: true).RunAsync(Ct);
        Assert.Equal(BootstrapState.Valid, outcome.State);
        // 30 days requested, owner cap 168h from tokenconfig: 168h in nanoseconds.
        Assert.Equal(168L * 3600 * 1_000_000_000, Assert.Single(coder.CreatedLifetimes));
        var v = Assert.Single(await _store.ListVersionsAsync(Ct));
        Assert.Equal(("bootstrap", "admin"), (v.Origin, v.Metadata["subject"]));
        Assert.Contains(await ActiveToken(), coder.ValidTokens.Keys);
        Assert.Equal(["coder-admin-token"], _delivery.Delivered);
        Assert.Contains(_store.Audit, a => a.Action == "bootstrap.store" && a.Fingerprint == v.Fingerprint);
        Assert.Equal(_time.GetUtcNow() + TimeSpan.FromHours(168), v.ExpiresAt); // learnt from users/me/keys/tokens
    }

    [Fact]
    public async Task ValidTokenInTheSourceFile_IsStoredAndDelivered_ThenStaysValidWithoutNewVersions()
    {
        await using var coder = new CoderContractServer { HasFirstUser = true };
        var token = coder.NewToken();
        Paste(TokenFile, token);
        var first = await Coder(coder).RunAsync(Ct);
        Assert.Equal(BootstrapState.Valid, first.State);
        Assert.Equal(token, await ActiveToken());
        var second = await Coder(coder).RunAsync(Ct);
        Assert.Equal(BootstrapState.Valid, second.State);
        Assert.Empty(second.Transitions); // valid -> valid is no transition
        Assert.Single(await _store.ListVersionsAsync(Ct));
        Assert.Equal(token + "\n", File.ReadAllText(TokenFile));
    }

    [Fact]
    public async Task NoSource_TokenPastedIntoThePlaceholder_IsFoundStoredAndNotOverwritten()
    {
        // Bug 1: with no source the placeholder went to STATE/bootstrap/NAME.txt, but a token pasted there was never read:
        // the next run said `unknown -> no-token` and overwrote it with a new placeholder.
        await using var coder = new CoderContractServer { HasFirstUser = true };
        var credential = M.External("coder-admin-token", ExternalProvider.Coder);
        var placeholder = _dir.Sub("state/bootstrap/coder-admin-token.txt");
        Assert.Equal(BootstrapState.NoToken, (await Coder(coder, credential: credential).RunAsync(Ct)).State);
        Assert.StartsWith(Keyward.Services.Bootstrap.Placeholder.Marker, File.ReadAllText(placeholder), StringComparison.Ordinal);
        var token = coder.NewToken();
        Paste(placeholder, token);

        var outcome = await Coder(coder, credential: credential).RunAsync(Ct);
        Assert.Equal(BootstrapState.Valid, outcome.State);
        Assert.Equal(token, await ActiveToken());
        Assert.Equal(token + "\n", File.ReadAllText(placeholder));
        Assert.Equal(["coder-admin-token"], _delivery.Delivered);
    }

    [Fact]
    public async Task JsonMapSource_TokenPastedIntoThePlaceholder_IsFound()
    {
        await using var gitea = new GiteaContractServer();
        var credential = M.External("gitea-token", ExternalProvider.Gitea, new JsonMapSource("tokens.json", "gitea.example.org", M.At));
        Directory.CreateDirectory(Manifests);
        File.WriteAllText(Path.Join(Manifests, "tokens.json"), "{\"github.com\": \"ghp_x\"}");
        var service = M.Service("gitea", ServiceKind.Gitea, gitea.Url, "gitea-token", adminUser: "admin");
        var target = new GiteaBootstrapTarget(service, new GiteaClient(new ServiceHttp("gitea", gitea.Url, ErrorShape.Gitea, ServiceHttp.CreateClient(), M.FastHttp(), _time)), null, _time);
        var store = Store(credential);
        Assert.Equal(BootstrapState.NoToken, (await new BootstrapMachine(target, store, _delivery, _time, new BootstrapOptions()).RunAsync(Ct)).State);
        var token = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(20));
        gitea.Tokens[token] = ["read:user"];
        Paste(store.PlaceholderPath, token);

        var outcome = await new BootstrapMachine(target, Store(credential), _delivery, _time, new BootstrapOptions()).RunAsync(Ct);
        Assert.Equal(BootstrapState.Valid, outcome.State);
        Assert.Equal([new BootstrapTransition(BootstrapState.NoToken, BootstrapState.Valid, _time.GetUtcNow(), $"the token placed in {store.PlaceholderPath} is accepted")], outcome.Transitions);
        Assert.Equal(token + "\n", File.ReadAllText(store.PlaceholderPath));
    }

    [Fact]
    public async Task StateKeptBetweenRuns_TransitionsAreReal()
    {
        // Bug 7: every run started from `unknown`.
        await using var coder = new CoderContractServer { HasFirstUser = false };
        Assert.Equal([BootstrapState.Unknown], (await Coder(coder).RunAsync(Ct)).Transitions.Select(t => t.From));
        Assert.Empty((await Coder(coder).RunAsync(Ct)).Transitions);            // still fresh: nothing happened
        coder.HasFirstUser = true;
        var t = Assert.Single((await Coder(coder).RunAsync(Ct)).Transitions);
        Assert.Equal((BootstrapState.Fresh, BootstrapState.NoToken), (t.From, t.To));
        Paste(TokenFile, coder.NewToken());
        t = Assert.Single((await Coder(coder).RunAsync(Ct)).Transitions);
        Assert.Equal((BootstrapState.NoToken, BootstrapState.Valid), (t.From, t.To));
        Assert.Equal(["bootstrap.fresh", "bootstrap.no-token", "bootstrap.store", "bootstrap.valid"],
            _store.Audit.Select(a => a.Action).Where(a => a.StartsWith("bootstrap.", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task RelativeFileSource_ResolvesAgainstTheManifestDirectory()
    {
        // Bug 4: `source: { file: coder-token.txt }` crashed with KW0001 (Directory.CreateDirectory("")).
        await using var coder = new CoderContractServer { HasFirstUser = true };
        var credential = M.External("coder-admin-token", ExternalProvider.Coder, new FileSource("coder-token.txt", M.At));
        var outcome = await Coder(coder, credential: credential).RunAsync(Ct);
        Assert.Equal(BootstrapState.NoToken, outcome.State);
        var path = Path.Join(Manifests, "coder-token.txt");
        Assert.StartsWith(Keyward.Services.Bootstrap.Placeholder.Marker, File.ReadAllText(path), StringComparison.Ordinal);
        Assert.Contains($"> {path}", outcome.Instructions, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StoredTokenRevoked_GoesInvalid_WithNewPlaceholder()
    {
        await using var coder = new CoderContractServer { HasFirstUser = true };
        await _store.PutActive("coder-admin-token", "REVOKED000-aaaaaaaaaaaaaaaaaaaaaa");
        var outcome = await Coder(coder).RunAsync(Ct);
        Assert.Equal(BootstrapState.Invalid, outcome.State);
        Assert.Contains("is refused", Placeholder(), StringComparison.Ordinal);
        Assert.Contains("API key is invalid.", outcome.Transitions.Single().Why, StringComparison.Ordinal);
        Assert.Contains(_store.Audit, a => a.Action == "service.use" && a.Detail == "coder: validate the stored token (bootstrap) -> Invalid");
    }

    [Fact]
    public async Task PlacedTokenRefused_IsLeftInPlace_NotOverwrittenByAPlaceholder()
    {
        await using var coder = new CoderContractServer { HasFirstUser = true };
        Paste(TokenFile, "TYPO000000-aaaaaaaaaaaaaaaaaaaaaa");
        var outcome = await Coder(coder).RunAsync(Ct);
        Assert.Equal(BootstrapState.Invalid, outcome.State);
        Assert.False(outcome.PlaceholderWritten);
        Assert.Equal("TYPO000000-aaaaaaaaaaaaaaaaaaaaaa\n", Placeholder());
        Assert.Contains("leaves it as it is", outcome.Instructions, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Transitions_FreshToNoTokenToValid_WhileWaitingWithBackoff()
    {
        await using var coder = new CoderContractServer { HasFirstUser = false };
        BootstrapMachine? machine = null;
        machine = Coder(coder, options: Waiting(pause =>
        {
            if (pause == 1) { Assert.Equal(BootstrapState.Fresh, machine!.State); coder.HasFirstUser = true; }  // a human created the first user
            if (pause == 3) { Assert.Equal(BootstrapState.NoToken, machine!.State); File.WriteAllText(TokenFile, coder.NewToken()); } // and pasted a token
        }));
        var outcome = await machine.RunAsync(Ct);
        Assert.Equal([BootstrapState.Fresh, BootstrapState.NoToken, BootstrapState.Valid], outcome.Transitions.Select(t => t.To));
        Assert.Equal(["bootstrap.fresh", "bootstrap.no-token", "bootstrap.store", "bootstrap.valid"],
            _store.Audit.Select(a => a.Action).Where(a => a.StartsWith("bootstrap.", StringComparison.Ordinal)));
        Assert.Contains(_logs.Lines, l => l.Contains("fresh -> no-token", StringComparison.Ordinal));
        // Exponential back-off with jitter: each pause in [delay/2, delay], the delay doubling from 4 s.
        Assert.Equal(3, _pauses.Count);
        for (var i = 0; i < _pauses.Count; i++)
            Assert.InRange(_pauses[i].TotalSeconds, 2 * Math.Pow(2, i), 4 * Math.Pow(2, i));
        // Instructions shown once per state while waiting (fresh, no-token), not once per probe.
        Assert.Equal(2, _shown.Count);
        var token = await ActiveToken();
        Assert.DoesNotContain(_logs.Lines, l => l.Contains(token, StringComparison.Ordinal));
        Assert.DoesNotContain(_store.Audit, a => (a.Detail ?? "").Contains(token, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Transition_ValidToInvalid_WhenTheTokenIsRevoked()
    {
        await using var coder = new CoderContractServer { HasFirstUser = true };
        var token = coder.NewToken();
        await _store.PutActive("coder-admin-token", token);
        Assert.Equal(BootstrapState.Valid, (await Coder(coder).RunAsync(Ct)).State);
        coder.ValidTokens.TryRemove(token, out _);
        var outcome = await Coder(coder).RunAsync(Ct);
        Assert.Equal(BootstrapState.Invalid, outcome.State);
        Assert.Equal((BootstrapState.Valid, BootstrapState.Invalid), (outcome.Transitions.Single().From, outcome.Transitions.Single().To));
        Assert.Contains("is refused", Placeholder(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Wait_DeadlinePasses_IsKW1003()
    {
        await using var coder = new CoderContractServer { HasFirstUser = false };
        var machine = Coder(coder, options: Waiting(deadline: TimeSpan.FromSeconds(20)));
        var ex = await Assert.ThrowsAsync<KeywardException>(() => machine.RunAsync(Ct));
        Assert.Equal(ErrorCodes.BootstrapDeadline, ex.First.Code);
        Assert.Equal(TimeSpan.FromSeconds(20), _pauses.Aggregate(TimeSpan.Zero, (a, b) => a + b)); // never waits past the deadline
    }

    [Fact]
    public async Task Wait_ConnectionRefusedThenUnavailableThenUp_KeepsProbingUntilReady()
    {
        // Bug 5: `--wait` gave up after ~2 s with KW0901 against a service still starting, and printed no instructions.
        await using var coder = new CoderContractServer(ContractServer.FreePort()) { HasFirstUser = true, Unavailable = true };
        var machine = Coder(coder, options: Waiting(pause =>
        {
            if (pause == 2) coder.Start();                 // listening, but 503 behind its proxy
            if (pause == 4) coder.Unavailable = false;     // up
            if (pause == 5) File.WriteAllText(TokenFile, coder.NewToken());
        }));
        var outcome = await machine.RunAsync(Ct);
        Assert.Equal(BootstrapState.Valid, outcome.State);
        Assert.Equal(5, _pauses.Count);
        Assert.Equal(2, _shown.Count);                     // "not ready yet" once, then the no-token instructions once
        Assert.Contains("not ready yet (KW0901", _shown[0], StringComparison.Ordinal);
        Assert.Contains("coder tokens create", _shown[1], StringComparison.Ordinal);
    }

    [Fact]
    public async Task NoWait_ConnectionRefused_IsKW0901()
    {
        await using var coder = new CoderContractServer(ContractServer.FreePort());
        var ex = await Assert.ThrowsAsync<KeywardException>(() => Coder(coder).RunAsync(Ct));
        Assert.Equal(ErrorCodes.ServiceUnreachable, ex.First.Code);
    }

    private GiteaBootstrapTarget Gitea(GiteaContractServer gitea, Service service, bool withPassword) =>
        new(service, new GiteaClient(new ServiceHttp("gitea", gitea.Url, ErrorShape.Gitea, ServiceHttp.CreateClient(), M.FastHttp(), _time)),
            withPassword ? Secret.FromUtf8(gitea.Password) : null, _time);

    [Fact]
    public async Task Gitea_NotInstalled_IsFresh_ThenPasswordCreatesTokenWithReadUser()
    {
        await using var gitea = new GiteaContractServer { Installed = false };
        var credential = M.External("gitea-token", ExternalProvider.Gitea);
        var service = M.Service("gitea", ServiceKind.Gitea, gitea.Url, "gitea-token", adminUser: "admin", adminPassword: "gitea-password", scopes: ["write:repository"]);
        var store = Store(credential);
        var machine = new BootstrapMachine(Gitea(gitea, service, true), store, _delivery, _time, new BootstrapOptions(), _logs.CreateLogger("b"));
        Assert.Equal(BootstrapState.Fresh, (await machine.RunAsync(Ct)).State);
        Assert.Contains("INSTALL_LOCK=true", File.ReadAllText(store.PlaceholderPath), StringComparison.Ordinal);

        gitea.Installed = true;
        Assert.Equal(BootstrapState.Valid, (await machine.RunAsync(Ct)).State);
        Assert.Equal(["write:repository", "read:user"], Assert.Single(gitea.CreatedScopes));
        var basic = gitea.Server.Requests.Single(r => r.Method == "POST").Header("Authorization")!;
        Assert.Equal("Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("admin:" + gitea.Password)), basic);
        Assert.DoesNotContain(_logs.Lines, l => l.Contains(gitea.Password, StringComparison.Ordinal));
        Assert.StartsWith("# keyward-bootstrap-placeholder\n# credential: gitea-token\n# state: valid\n", File.ReadAllText(store.PlaceholderPath), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Gitea_InstallerRunning_WithTokenHeld_IsFresh_AndTheTokenIsNotJudged()
    {
        // Bug 6: KW0905 "404 <html>" with an Attic hint; /api/v1/version was never asked.
        await using var gitea = new GiteaContractServer { Installed = false };
        var credential = M.External("gitea-token", ExternalProvider.Gitea);
        await _store.PutActive("gitea-token", Convert.ToHexStringLower(new byte[20]));
        var service = M.Service("gitea", ServiceKind.Gitea, gitea.Url, "gitea-token", adminUser: "admin");
        var outcome = await new BootstrapMachine(Gitea(gitea, service, false), Store(credential), _delivery, _time, new BootstrapOptions()).RunAsync(Ct);
        Assert.Equal(BootstrapState.Fresh, outcome.State);
        Assert.Equal(["/api/v1/version"], gitea.Server.Requests.Select(r => r.Path));
        Assert.Contains("not installed yet", outcome.Instructions, StringComparison.Ordinal);
        Assert.Single(await _store.ListVersionsAsync(Ct)); // the stored token is kept
    }

    [Fact]
    public async Task Gitea_NoPassword_InstructionsNameTheScopes()
    {
        await using var gitea = new GiteaContractServer();
        var credential = M.External("gitea-token", ExternalProvider.Gitea);
        var service = M.Service("gitea", ServiceKind.Gitea, gitea.Url, "gitea-token", adminUser: "admin", scopes: ["write:repository"]);
        var outcome = await new BootstrapMachine(Gitea(gitea, service, false), Store(credential), _delivery, _time, new BootstrapOptions()).RunAsync(Ct);
        Assert.Equal(BootstrapState.NoToken, outcome.State);
        Assert.Contains("--scopes \"write:repository,read:user\"", outcome.Instructions, StringComparison.Ordinal);
    }
}
