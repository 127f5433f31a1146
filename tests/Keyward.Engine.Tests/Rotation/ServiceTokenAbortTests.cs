using Keyward.Core.Errors;
using Keyward.Core.Manifest;
using Keyward.Core.Rotation;
using Keyward.Core.Secrets;
using Keyward.Core.Store;
using Keyward.Engine.Rotation;
using Keyward.Store;
using Keyward.Sinks.Hooks;
using Microsoft.Extensions.Time.Testing;

namespace Keyward.Engine.Tests.Rotation;

/// <summary><c>rotate --abort</c> of a service-issued token (Coder, Gitea): once the retire step has deleted the old token
/// at its service, the old version is dead and must not be restored; before that step, abort restores it as usual.</summary>
public sealed class ServiceTokenAbortTests : IAsyncDisposable
{
    private static readonly SourceLocation L = new("keyward.yaml", 1, 1);
    private readonly string _root = Directory.CreateTempSubdirectory("kw-svc-abort-").FullName;
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 2, 12, 0, 0, TimeSpan.Zero));
    private readonly KeywardManifest _m;
    private OpenedState? _state;

    public ServiceTokenAbortTests()
    {
        var token = new ExternalCredential("coder-token", "platform", "admin API", null, [], L, ExternalProvider.Coder, null, null, null, null);
        var sink = new Sink("coder-env", Path.Combine(_root, "coder.env"), SinkFormat.Env, null, null, Convert.ToInt32("600", 8), Convert.ToInt32("700", 8), null,
            [new SinkEntry("CODER_SESSION_TOKEN", "coder-token", ValueEncoding.Raw, EntryValue.Value, null, null, null, L)], [], null, null, null, L);
        _m = new KeywardManifest("keyward.yaml", [], new Dictionary<CredentialKind, RotationPolicy>(), [token], [sink], []);
    }

    public async ValueTask DisposeAsync()
    {
        if (_state is not null) await _state.DisposeAsync();
        Directory.Delete(_root, recursive: true);
    }

    private sealed class FakeCoder : IServiceTokenRotator
    {
        public List<string> Deleted { get; } = [];
        public bool Handles(ExternalCredential credential) => true;
        public Task<CreatedServiceToken> CreateAsync(ExternalCredential credential, Secret current, CancellationToken cancellationToken) =>
            Task.FromResult(new CreatedServiceToken(Secret.FromUtf8("tok-2"), null, new Dictionary<string, string>()));
        public Task DeleteAsync(ExternalCredential credential, Secret retired, Secret current, CancellationToken cancellationToken)
        {
            Deleted.Add(retired.RevealString());
            return Task.CompletedTask;
        }
    }

    private sealed class CrashAt(string point) : IFaultInjector
    {
        public void At(string p)
        {
            if (p == point) throw new InjectedFaultException(p);
        }
    }

    private RotationExecutor Executor(FakeCoder coder, IFaultInjector faults) => new(_state!.Store, new RotationExecutorOptions
    {
        Manifest = _m, Time = _time, Actor = "test@host", Faults = faults, ServiceTokens = coder,
        RunHook = (_, _) => Task.FromResult(new HookResult(true, 0, "ok")),
    });

    private async Task<int> RetireOrderAsync()
    {
        var facts = await StoreFacts.ReadAsync(_state!.Store, default);
        return RotationPlanner.Plan(_m, facts, new RotationIntent(["coder-token"], RotationReason.Manual), _time.GetUtcNow())
            .Steps.Single(s => s.Action == StepAction.Retire).Order;
    }

    [Theory]
    [InlineData(true, 2, "tok-2")]   // crashed after the old token was deleted at Coder: the new one stays
    [InlineData(false, 1, "tok-1")]  // crashed before the retire step began: abort restores the old one, still alive at Coder
    public async Task Abort_KeepsTheNewToken_OnlyOnceTheOldOneWasDeletedAtItsService(bool afterRetire, int activeAfterAbort, string onDisk)
    {
        _state = await StateDirectory.InitAsync(Path.Combine(_root, "state"), [], _time, default);
        await _state.Store.PutAsync(new NewVersion("coder-token", "external", Secret.FromUtf8("tok-1"), VersionState.Active, _time.GetUtcNow(), null, "bootstrap",
            new Dictionary<string, string>()), default);
        var retire = await RetireOrderAsync();
        var coder = new FakeCoder();

        await Assert.ThrowsAsync<InjectedFaultException>(() =>
            Executor(coder, new CrashAt(afterRetire ? $"step-{retire}-after" : $"step-{retire - 1}-after")).StartAsync(new RotationIntent(["coder-token"], RotationReason.Manual), default));
        Assert.Equal(afterRetire ? ["tok-1"] : [], coder.Deleted);

        await Executor(coder, new NoFaults()).AbortAsync(default);
        var active = await _state.Store.GetActiveAsync("coder-token", default);
        Assert.Equal(activeAfterAbort, active!.Version);
        Assert.Equal($"CODER_SESSION_TOKEN={onDisk}", (await File.ReadAllTextAsync(Path.Combine(_root, "coder.env"))).Trim());
    }
}
