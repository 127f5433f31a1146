using Keyward.Core.Errors;
using Keyward.Core.Manifest;
using Keyward.Core.Secrets;
using Keyward.Services.Bootstrap;
using Keyward.Services.Coder;
using Keyward.Services.Gitea;
using Keyward.Services.Http;
using Keyward.Services.Tests.ContractServers;
using Microsoft.Extensions.Time.Testing;

namespace Keyward.Services.Tests;

public sealed class BootstrapContractTests : IDisposable
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    private readonly TempDir _dir = new();
    private readonly MemoryStore _store = new();
    private readonly ListLoggerFactory _logs = new();
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 23, 12, 0, 0, TimeSpan.Zero));

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

    private ExternalCredential Credential => M.External("coder-admin-token", ExternalProvider.Coder, new FileSource("/secrets/coder-token", M.At));
    private string TokenFile => _dir.Sub("root/secrets/coder-token");

    private BootstrapMachine Coder(CoderContractServer server, bool withPassword = false, BootstrapOptions? options = null)
    {
        var service = M.Service("coder", ServiceKind.Coder, server.Url, "coder-admin-token", adminUser: withPassword ? server.Email : null, adminPassword: withPassword ? "coder-admin-password" : null);
        var client = new CoderClient(new ServiceHttp("coder", server.Url, ErrorShape.Coder, ServiceHttp.CreateClient(), M.FastHttp(), _time));
        var target = new CoderBootstrapTarget(service, client, withPassword ? Secret.FromUtf8(server.Password) : null, TimeSpan.FromDays(30), _time);
        var store = new StoreBootstrapStore(_store, Credential, _dir.Sub("state"), _time, _dir.Sub("root"));
        return new BootstrapMachine(target, store, _delivery, _time, options ?? new BootstrapOptions(), _logs.CreateLogger("bootstrap"));
    }

    private string Placeholder() => File.ReadAllText(TokenFile);

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
    public async Task UserWithoutToken_WritesTokenCreateInstructions()
    {
        await using var coder = new CoderContractServer { HasFirstUser = true };
        var outcome = await Coder(coder).RunAsync(Ct);
        Assert.Equal(BootstrapState.NoToken, outcome.State);
        Assert.Contains($"coder tokens create --name keyward-bootstrap --lifetime 168h > /secrets/coder-token", Placeholder(), StringComparison.Ordinal);
        Assert.Empty(await _store.ListVersionsAsync(Ct));
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
        Assert.Contains(coder.ValidTokens.Keys, k => (_store.RevealAsync(v.Name, v.Version, Ct).Result.RevealString()) == k);
        Assert.Equal(["coder-admin-token"], _delivery.Delivered);
        Assert.Contains(_store.Audit, a => a.Action == "bootstrap.store" && a.Fingerprint == v.Fingerprint);
    }

    [Fact]
    public async Task ValidTokenInTheSourceFile_IsStoredAndDelivered_ThenStaysValidWithoutNewVersions()
    {
        await using var coder = new CoderContractServer { HasFirstUser = true };
        var token = coder.NewToken();
        Directory.CreateDirectory(Path.GetDirectoryName(TokenFile)!);
        File.WriteAllText(TokenFile, token + "\n");
        var first = await Coder(coder).RunAsync(Ct);
        Assert.Equal(BootstrapState.Valid, first.State);
        Assert.Equal(token, (await _store.RevealActiveAsync(["coder-admin-token"], Ct))["coder-admin-token"].RevealString());
        var second = await Coder(coder).RunAsync(Ct);
        Assert.Equal(BootstrapState.Valid, second.State);
        Assert.Single(await _store.ListVersionsAsync(Ct));
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
    }

    [Fact]
    public async Task Transitions_FreshToNoTokenToValid_WhileWaitingWithBackoff()
    {
        await using var coder = new CoderContractServer { HasFirstUser = false };
        var machine = Coder(coder, options: new BootstrapOptions { Wait = true, Deadline = TimeSpan.FromMinutes(30), InitialDelay = TimeSpan.FromSeconds(4) });
        var run = machine.RunAsync(Ct);
        await WaitFor(() => machine.State == BootstrapState.Fresh);
        coder.HasFirstUser = true;                       // a human created the first user
        await Advance(run, () => machine.State == BootstrapState.NoToken);
        File.WriteAllText(TokenFile, coder.NewToken());  // a human pasted a token over the placeholder
        await Advance(run, () => machine.State == BootstrapState.Valid);
        var outcome = await run;
        Assert.Equal([BootstrapState.Fresh, BootstrapState.NoToken, BootstrapState.Valid], outcome.Transitions.Select(t => t.To));
        Assert.Equal(["bootstrap.fresh", "bootstrap.no-token", "bootstrap.store", "bootstrap.valid"],
            _store.Audit.Select(a => a.Action).Where(a => a.StartsWith("bootstrap.", StringComparison.Ordinal)).Distinct());
        Assert.Contains(_logs.Lines, l => l.Contains("fresh -> no-token", StringComparison.Ordinal));
        var token = (await _store.RevealActiveAsync(["coder-admin-token"], Ct))["coder-admin-token"].RevealString();
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
        var machine = Coder(coder);
        Assert.Equal(BootstrapState.Invalid, (await machine.RunAsync(Ct)).State);
        Assert.Contains("is refused", Placeholder(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Wait_DeadlinePasses_IsKW1003()
    {
        await using var coder = new CoderContractServer { HasFirstUser = false };
        var machine = Coder(coder, options: new BootstrapOptions { Wait = true, Deadline = TimeSpan.FromSeconds(20), InitialDelay = TimeSpan.FromSeconds(4) });
        var run = machine.RunAsync(Ct);
        for (var i = 0; i < 50 && !run.IsCompleted; i++)
        {
            await Task.Delay(20, Ct);
            _time.Advance(TimeSpan.FromSeconds(5));
        }
        var ex = await Assert.ThrowsAsync<KeywardException>(() => run);
        Assert.Equal(ErrorCodes.BootstrapDeadline, ex.First.Code);
    }

    [Fact]
    public async Task Gitea_NotInstalled_IsFresh_ThenPasswordCreatesTokenWithReadUser()
    {
        await using var gitea = new GiteaContractServer { Installed = false };
        var credential = M.External("gitea-token", ExternalProvider.Gitea);
        var service = M.Service("gitea", ServiceKind.Gitea, gitea.Url, "gitea-token", adminUser: "admin", adminPassword: "gitea-password", scopes: ["write:repository"]);
        GiteaBootstrapTarget Target() => new(service, new GiteaClient(new ServiceHttp("gitea", gitea.Url, ErrorShape.Gitea, ServiceHttp.CreateClient(), M.FastHttp(), _time)),
            Secret.FromUtf8(gitea.Password), _time);
        var store = new StoreBootstrapStore(_store, credential, _dir.Sub("state"), _time);
        var machine = new BootstrapMachine(Target(), store, _delivery, _time, new BootstrapOptions(), _logs.CreateLogger("b"));
        Assert.Equal(BootstrapState.Fresh, (await machine.RunAsync(Ct)).State);
        Assert.Contains("INSTALL_LOCK=true", File.ReadAllText(store.PlaceholderPath), StringComparison.Ordinal);

        gitea.Installed = true;
        Assert.Equal(BootstrapState.Valid, (await machine.RunAsync(Ct)).State);
        Assert.Equal(["write:repository", "read:user"], Assert.Single(gitea.CreatedScopes));
        var basic = gitea.Server.Requests.Single(r => r.Method == "POST").Header("Authorization")!;
        Assert.Equal("Basic " + GiteaClient.BasicValue("admin", gitea.Password), basic);
        Assert.DoesNotContain(_logs.Lines, l => l.Contains(gitea.Password, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Gitea_NoPassword_InstructionsNameTheScopes()
    {
        await using var gitea = new GiteaContractServer();
        var credential = M.External("gitea-token", ExternalProvider.Gitea);
        var service = M.Service("gitea", ServiceKind.Gitea, gitea.Url, "gitea-token", adminUser: "admin", scopes: ["write:repository"]);
        var target = new GiteaBootstrapTarget(service, new GiteaClient(new ServiceHttp("gitea", gitea.Url, ErrorShape.Gitea, ServiceHttp.CreateClient(), M.FastHttp(), _time)), null, _time);
        var store = new StoreBootstrapStore(_store, credential, _dir.Sub("state"), _time);
        var outcome = await new BootstrapMachine(target, store, _delivery, _time, new BootstrapOptions()).RunAsync(Ct);
        Assert.Equal(BootstrapState.NoToken, outcome.State);
        Assert.Contains("--scopes \"write:repository,read:user\"", outcome.Instructions, StringComparison.Ordinal);
    }

    private static async Task WaitFor(Func<bool> condition)
    {
        for (var i = 0; i < 500 && !condition(); i++) await Task.Delay(10);
        Assert.True(condition());
    }

    private async Task Advance(Task run, Func<bool> condition)
    {
        for (var i = 0; i < 200 && !condition() && !run.IsCompleted; i++)
        {
            _time.Advance(TimeSpan.FromSeconds(10));
            await Task.Delay(20);
        }
        Assert.True(condition());
    }
}
