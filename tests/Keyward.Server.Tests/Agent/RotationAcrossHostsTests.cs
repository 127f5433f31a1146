using System.Diagnostics;
using System.Text.RegularExpressions;
using Keyward.Core.Graph;
using Keyward.Core.Manifest;
using Keyward.Core.Rotation;
using Keyward.Crypto.Ssh;
using Keyward.Engine;
using Keyward.Engine.Agent;
using Keyward.Engine.Apply;
using Keyward.Engine.Rotation;
using Keyward.Sinks.Hooks;
using Keyward.Store;
using Keyward.Core.Store;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Time.Testing;

namespace Keyward.Server.Tests.Agent;

/// <summary>
/// Issue 12, item 4, on loopback: one in-process <c>keyward serve</c>, three runners whose agents (real ssh-keygen host keys)
/// receive a nix.conf trusting the cache key, and the journaled rotation executor in between. A cache-key rollover waits
/// at its deliver step until every runner has confirmed the new trust list, names the one that has not, keeps the old key
/// signing meanwhile, and completes once that runner comes back.
/// </summary>
[Trait("Category", "Interop")]
public sealed partial class RotationAcrossHostsTests : IAsyncLifetime
{
    private static readonly string[] Runners = ["runner-1", "runner-2", "runner-3"];
    private readonly string _dir = Directory.CreateTempSubdirectory("keyward-hosts-rotation-").FullName;
    private readonly Dictionary<string, string> _keys = new(StringComparer.Ordinal);
    private WebApplication? _app;
    private Uri _server = null!;
    private KeywardManifest _manifest = null!;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private string ManifestPath => Path.Combine(_dir, "keyward.yaml");
    private string StatePath => Path.Combine(_dir, "state");
    private string Authority => Path.Combine(_dir, "authority");
    private string Root(string host) => Path.Combine(_dir, "hosts", host);

    public async ValueTask InitializeAsync()
    {
        foreach (var name in Runners)
        {
            var key = Path.Combine(_dir, "keys", name);
            Directory.CreateDirectory(Path.GetDirectoryName(key)!);
            Run("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", $"root@{name}", "-f", key]);
            _keys[name] = key;
        }
        File.WriteAllText(ManifestPath, $$"""
            apiVersion: keyward/v1
            hosts:
            {{string.Join("\n", Runners.Select(r => $"  {r}: {{ sshKey: \"{File.ReadAllText(_keys[r] + ".pub").Trim()}\" }}"))}}
            credentials:
              cache-key:
                kind: nix-signing-key
                keyName: main-1
                owner: attic
                purpose: signs the main cache
                rotation: { autoContinue: false }
              standalone: { kind: secret, bytes: 32, owner: o, purpose: nothing on a host uses it }
            sinks:
              cache-signing-key: { path: /run/keyward/cache.sk, format: raw, credential: cache-key }
              standalone-file: { path: /run/keyward/standalone, format: raw, credential: standalone }
              runner-nix-conf:
                hosts: [runner-1, runner-2, runner-3]
                path: /etc/nix/keyward-runner.conf
                format: nix-conf
                mode: "0644"
                substituters: ["https://cache.example.org/main"]
                trustedPublicKeys: [cache-key]
            """);
        _manifest = ManifestLoader.Load(ManifestPath).OrThrow();
        await using (var state = await StateDirectory.OpenOrInitAsync(StatePath, [], StateLockOptions.Default, TimeProvider.System, Ct))
        {
            var engine = new ApplyEngine(state.Store, new EngineOptions { Root = Authority, RunHooks = false });
            await engine.ExecuteAsync(await engine.PlanAsync(_manifest, Ct), Ct);
        }
        _app = KeywardServer.Build(new ServeOptions
        {
            ManifestPath = ManifestPath, StateDirectory = StatePath, Listen = [ListenAddress.Parse("127.0.0.1:0")], RunController = false,
        });
        await _app.StartAsync(Ct);
        _server = KeywardServer.BoundAddress(_app);
        foreach (var r in Runners) await AgentOnceAsync(r);
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

    [Fact]
    public async Task CacheKeyRollover_PausesForTheOfflineRunner_NamesIt_AndCompletesWhenItComesBack()
    {
        Assert.All(Runners, r => Assert.Equal(["main-1"], Trusted(r)));
        var plan = RotationPlanner.Plan(_manifest, StoreFacts.Empty, new RotationIntent(["cache-key"]), DateTimeOffset.UnixEpoch);
        var phaseOneDeliver = plan.Steps.Where(s => s.Phase == RotationPhase.PublishTrust && s.Action == StepAction.Deliver).ToList();
        Assert.Equal(Runners, phaseOneDeliver.Select(s => s.Target));
        Assert.All(phaseOneDeliver, s => Assert.Equal(NodeKind.Host, s.TargetKind));
        Assert.True(phaseOneDeliver.Max(s => s.Order) < plan.Steps.Where(s => s.Phase == RotationPhase.SwitchSigning).Min(s => s.Order),
            "phase one's deliver steps must come before the cache switches to the new key");
        var retire = plan.Steps.Single(s => s.Action == StepAction.Retire);
        Assert.All(plan.Steps.Where(s => s.Phase == RotationPhase.SwitchSigning && s.Action == StepAction.Deliver), s => Assert.True(s.Order < retire.Order));

        // Phase one publishes old + new; no runner has confirmed yet, so the rotation pauses and names all three.
        var started = await RotateAsync(e => e.StartAsync(new RotationIntent(["cache-key"]), Ct));
        Assert.Equal(RotationState.AwaitingHosts, started.State);
        Assert.Equal(Runners, started.Hosts.Select(h => h.Host));

        // Two runners come; runner-3 stays offline.
        await AgentOnceAsync("runner-1");
        await AgentOnceAsync("runner-2");
        Assert.Equal(["main-1", "main-2"], Trusted("runner-1"));
        Assert.Equal(["main-1"], Trusted("runner-3"));

        // The CLI's wait (outside the lock) ends at its deadline on the fake clock, naming runner-3 alone.
        var missing = await WaitOnFakeClockAsync(TimeSpan.FromMinutes(2));
        Assert.Equal("runner-3", Assert.Single(missing).Host);
        Assert.Equal(["runner-nix-conf"], missing[0].Sinks);
        var paused = await RotateAsync(e => e.ResumeAsync(false, Ct));
        Assert.Equal(RotationState.AwaitingHosts, paused.State);
        Assert.Equal("runner-3", Assert.Single(paused.Hosts).Host);
        Assert.Contains(paused.Log, l => l.Contains("waiting for host(s) to confirm: runner-3 (runner-nix-conf)", StringComparison.Ordinal));
        await using (var read = await StateDirectory.OpenAsync(StatePath, TimeProvider.System, Ct))
        {
            Assert.Equal("awaiting-hosts", Assert.Single(await read.Store.OpenJournalsAsync(Ct)).Status);
            var versions = await read.Store.GetVersionsAsync("cache-key", Ct);
            Assert.Equal(VersionState.Active, versions.Single(v => v.Version == 1).State); // the cache has not switched
            Assert.Equal(VersionState.Staged, versions.Single(v => v.Version == 2).State);
            Assert.Single(await read.Store.ReadAuditAsync(null, Ct), a => a.Event.Action == "awaiting-hosts"); // once per pause, not per check
            // serve's controller checks a paused rotation again on every pass.
            var decision = await RolloverContinuation.DecideAsync(read.Store, _manifest, DateTimeOffset.UtcNow, Ct);
            Assert.Equal(OpenRotationAction.Resume, decision.Action);
        }
        Assert.StartsWith("main-1:", File.ReadAllText(Path.Combine(Authority, "run/keyward/cache.sk")), StringComparison.Ordinal);

        // runner-3 comes back: the wait ends at once and phase one completes.
        await AgentOnceAsync("runner-3");
        Assert.Empty(await WaitOnFakeClockAsync(TimeSpan.FromMinutes(2)));
        Assert.Equal(RotationState.AwaitingContinue, (await RotateAsync(e => e.ResumeAsync(false, Ct))).State);

        // Phase two switches signing and drops main-1 from the trust lists; the old key is retired only once every runner
        // has the list without it. A pause inside phase two resumes with a plain --resume.
        var phaseTwo = await RotateAsync(e => e.ResumeAsync(true, Ct));
        Assert.Equal(RotationState.AwaitingHosts, phaseTwo.State);
        Assert.Equal(Runners, phaseTwo.Hosts.Select(h => h.Host));
        Assert.StartsWith("main-2:", File.ReadAllText(Path.Combine(Authority, "run/keyward/cache.sk")), StringComparison.Ordinal);
        await using (var read = await StateDirectory.OpenAsync(StatePath, TimeProvider.System, Ct))
            Assert.NotEqual(VersionState.Retired, (await read.Store.GetVersionsAsync("cache-key", Ct)).Single(v => v.Version == 1).State);
        foreach (var r in Runners) await AgentOnceAsync(r);
        Assert.All(Runners, r => Assert.Equal(["main-2"], Trusted(r)));
        Assert.Equal(RotationState.Committed, (await RotateAsync(e => e.ResumeAsync(false, Ct))).State);

        await using (var read = await StateDirectory.OpenAsync(StatePath, TimeProvider.System, Ct))
        {
            Assert.Empty(await read.Store.OpenJournalsAsync(Ct));
            Assert.Equal(VersionState.Retired, (await read.Store.GetVersionsAsync("cache-key", Ct)).Single(v => v.Version == 1).State);
            var audit = await read.Store.ReadAuditAsync(null, Ct);
            Assert.Contains(audit, a => a.Event.Action == "host-confirmed" && a.Event.Detail!.Contains("host runner-3", StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task AWrongFingerprintOrAFailedWrite_IsNotAConfirmation()
    {
        var started = await RotateAsync(e => e.StartAsync(new RotationIntent(["cache-key"]), Ct));
        Assert.Equal(RotationState.AwaitingHosts, started.State);
        await AgentOnceAsync("runner-1");
        await AgentOnceAsync("runner-2");

        // runner-3 reports the fingerprint of the file it had before the rollover, then a failed write of the right one —
        // through the same mapping the server applies to a report.
        string before, now;
        await using (var read = await StateDirectory.OpenAsync(StatePath, TimeProvider.System, Ct))
        {
            before = (await read.Store.ListSinksAsync(Ct)).Single(r => r.Name == HostConfirmations.RecordName("runner-3", "runner-nix-conf")).ContentFingerprint;
            using var bundle = await HostBundleBuilder.BuildAsync(read.Store, _manifest, "runner-3", DateTimeOffset.UtcNow, Ct);
            now = Assert.Single(bundle.Sinks).Fingerprint;
        }
        Assert.NotEqual(before, now);
        foreach (var report in new[] { new SinkReport("runner-nix-conf", before, "current", null), new SinkReport("runner-nix-conf", now, "failed", "disk full") })
        {
            await using (var state = await StateDirectory.OpenForWriteAsync(StatePath, StateLockOptions.Default, TimeProvider.System, Ct))
                foreach (var record in HostConfirmations.FromReport(_manifest, "runner-3", new AgentReport("v", [report]), DateTimeOffset.UtcNow))
                    await state.Store.PutSinkAsync(record, Ct);
            var outcome = await RotateAsync(e => e.ResumeAsync(false, Ct));
            Assert.Equal(RotationState.AwaitingHosts, outcome.State);
            Assert.Equal("runner-3", Assert.Single(outcome.Hosts).Host);
        }

        // The right fingerprint, written: confirmed.
        await using (var state = await StateDirectory.OpenForWriteAsync(StatePath, StateLockOptions.Default, TimeProvider.System, Ct))
            foreach (var record in HostConfirmations.FromReport(_manifest, "runner-3", new AgentReport("v", [new SinkReport("runner-nix-conf", now, "written", null)]), DateTimeOffset.UtcNow))
                await state.Store.PutSinkAsync(record, Ct);
        Assert.Equal(RotationState.AwaitingContinue, (await RotateAsync(e => e.ResumeAsync(false, Ct))).State);
    }

    [Fact]
    public async Task ARotationThatTouchesNoHostSink_HasNoDeliverStep_AndCommitsInOneRun()
    {
        var plan = RotationPlanner.Plan(_manifest, StoreFacts.Empty, new RotationIntent(["standalone"]), DateTimeOffset.UnixEpoch);
        Assert.DoesNotContain(plan.Steps, s => s.Action == StepAction.Deliver || s.TargetKind == NodeKind.Host);

        var outcome = await RotateAsync(e => e.StartAsync(new RotationIntent(["standalone"]), Ct));

        Assert.Equal(RotationState.Committed, outcome.State);
        Assert.Empty(outcome.Hosts);
        Assert.DoesNotContain(outcome.Log, l => l.Contains("deliver", StringComparison.Ordinal));
    }

    /// <summary>One executor run under the state lock, as <c>keyward rotate</c> holds it.</summary>
    private async Task<RotationOutcome> RotateAsync(Func<RotationExecutor, Task<RotationOutcome>> run)
    {
        await using var state = await StateDirectory.OpenForWriteAsync(StatePath, StateLockOptions.Default, TimeProvider.System, Ct);
        return await run(new RotationExecutor(state.Store, new RotationExecutorOptions
        {
            Manifest = _manifest,
            Root = Authority,
            Actor = "test@authority",
            RunHook = (_, _) => Task.FromResult(new HookResult(true, 0, "skipped")),
        }));
    }

    /// <summary><see cref="RotationExecutor.WaitForHostsAsync"/> on a fake clock: the clock is moved on while it waits, so
    /// reaching the deadline takes no real time.</summary>
    private async Task<IReadOnlyList<HostGap>> WaitOnFakeClockAsync(TimeSpan deadline)
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var waiting = RotationExecutor.WaitForHostsAsync(c => StateDirectory.OpenAsync(StatePath, TimeProvider.System, c), _manifest,
            clock.GetUtcNow() + deadline, clock, Ct);
        var limit = Stopwatch.StartNew();
        while (!waiting.IsCompleted)
        {
            Assert.True(limit.Elapsed < TimeSpan.FromMinutes(2), "the wait did not end at its deadline");
            clock.Advance(TimeSpan.FromSeconds(5));
            await Task.Delay(5, Ct); // lets the waiter's store read run; the deadline is on the fake clock
        }
        return await waiting;
    }

    private async Task AgentOnceAsync(string host)
    {
        using var identity = HostIdentity.Parse(File.ReadAllText(_keys[host]));
        using var agent = new AgentRunner(new AgentOptions
        {
            Server = _server,
            Identity = identity,
            StateDirectory = Path.Combine(_dir, "agent-state", host),
            Engine = new EngineOptions { Root = Root(host), RunHooks = false },
        });
        Assert.Equal(0, await agent.RunOnceAsync(Ct));
    }

    /// <summary>The key names in the runner's trusted-public-keys line, in order.</summary>
    private string[] Trusted(string host)
    {
        var text = File.ReadAllText(Path.Combine(Root(host), "etc/nix/keyward-runner.conf"));
        var line = text.Split('\n').Single(l => l.StartsWith("trusted-public-keys", StringComparison.Ordinal));
        return [.. KeyName().Matches(line).Select(m => m.Groups[1].Value)];
    }

    [GeneratedRegex(@"(main-\d+):[A-Za-z0-9+/=]+")]
    private static partial Regex KeyName();

    private static void Run(string tool, IEnumerable<string> args)
    {
        Assert.True(File.Exists(tool), $"{tool} is missing (test.sh installs openssh-client)");
        var psi = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEnd();
        Assert.True(p.WaitForExit(60_000), $"{tool} did not finish");
        Assert.True(p.ExitCode == 0, $"{tool} failed ({p.ExitCode}): {stderr}");
    }
}
