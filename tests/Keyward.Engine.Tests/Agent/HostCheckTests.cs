using Keyward.Core.Manifest;
using Keyward.Core.Secrets;
using Keyward.Engine.Agent;
using Keyward.Engine.Checks;
using Keyward.Services;
using Keyward.Store;
using Keyward.Core.Store;
using Microsoft.Extensions.Time.Testing;

namespace Keyward.Engine.Tests.Agent;

/// <summary><c>keyward check</c> reports one condition set per host once the store holds agents' confirmations (the
/// records the server writes when a report arrives, written here through the same <see cref="HostConfirmations.FromReport"/>):
/// a host whose agent confirmed what the server renders now is Verified; a new version it has not confirmed, or a host
/// that never reported, fails; confirming again makes it pass.</summary>
public sealed class HostCheckTests : IAsyncDisposable
{
    private const string R1 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOsCyxd30V4V79+Eabrhe6xoLVHQcMm61Yb1xrwCeUem";
    private const string R2 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINyjAiU/kxduccuSaoyCcgo9KBDjB7RzOvx17K6fcqFl";
    private readonly string _dir = Directory.CreateTempSubdirectory("kw-host-check-").FullName;
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
    private readonly HttpClient _http = new();

    public async ValueTask DisposeAsync()
    {
        await Task.Yield();
        _http.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    private async Task<Dictionary<string, CheckReport>> CheckAsync(OpenedState state, KeywardManifest manifest)
    {
        var reports = await CheckPass.RunAsync(state, manifest, new ServiceClients(_http, Services.Http.ServiceHttpOptions.Default, _time),
            new CheckOptions { Root = Path.Combine(_dir, "root") }, new EngineOptions { Root = Path.Combine(_dir, "root"), RunHooks = false, Time = _time }, default);
        return reports.Where(r => r.Kind == SubjectKind.Host).ToDictionary(r => r.Name, StringComparer.Ordinal);
    }

    private static Condition Of(CheckReport r, string type) => r.Conditions.Single(c => c.Type == type);

    /// <summary>What the server stores when <paramref name="host"/>'s agent reports having written its current bundle.</summary>
    private async Task ConfirmAsync(OpenedState state, KeywardManifest manifest, string host)
    {
        using var bundle = await HostBundleBuilder.BuildAsync(state.Store, manifest, host, _time.GetUtcNow(), default);
        var report = new AgentReport(bundle.Version, [.. bundle.Sinks.Select(s => new SinkReport(s.Name, s.Fingerprint, "written", null))]);
        foreach (var r in HostConfirmations.FromReport(manifest, host, report, _time.GetUtcNow()))
            await state.Store.PutSinkAsync(r, default);
    }

    private async Task PutTokenAsync(OpenedState state) =>
        await state.Store.PutAsync(new NewVersion("tok", "secret", Secret.Random(32), VersionState.Active, _time.GetUtcNow(), null, "test",
            new Dictionary<string, string>()), default);

    [Fact]
    public async Task AHostThatHasNotConfirmedTheCurrentVersion_FailsItsCondition_UntilItConfirms()
    {
        var path = Path.Combine(_dir, "keyward.yaml");
        File.WriteAllText(path, $$"""
            apiVersion: keyward/v1
            hosts:
              runner-1: { sshKey: "{{R1}}" }
              runner-2: { sshKey: "{{R2}}" }
            credentials:
              tok: { kind: secret, owner: o, purpose: p }
            sinks:
              runner-token: { hosts: [runner-1, runner-2], path: /etc/keyward/tok, format: raw, credential: tok }
            """);
        var manifest = ManifestLoader.Load(path).OrThrow();
        await using var state = await StateDirectory.InitAsync(Path.Combine(_dir, "state"), [], _time, CancellationToken.None);
        await PutTokenAsync(state);

        // No confirmation in the store yet: check says nothing about hosts (no server has heard from an agent).
        Assert.Empty(await CheckAsync(state, manifest));

        await ConfirmAsync(state, manifest, "runner-1");
        var hosts = await CheckAsync(state, manifest);
        Assert.Equal(["runner-1", "runner-2"], hosts.Keys.Order());
        Assert.Equal(ConditionStatus.True, Of(hosts["runner-1"], ConditionTypes.Verified).Status);
        Assert.Equal(ConditionStatus.True, Of(hosts["runner-1"], ConditionTypes.Ready).Status);
        Assert.False(hosts["runner-1"].Failed);
        Assert.Equal("NeverReported", Of(hosts["runner-2"], ConditionTypes.Ready).Reason);
        Assert.True(hosts["runner-2"].Failed);

        // Break reality: a new version of tok that runner-1's agent has not received.
        _time.Advance(TimeSpan.FromHours(1));
        await PutTokenAsync(state);
        hosts = await CheckAsync(state, manifest);
        var verified = Of(hosts["runner-1"], ConditionTypes.Verified);
        Assert.Equal(ConditionStatus.False, verified.Status);
        Assert.Equal("Stale", verified.Reason);
        Assert.Contains("runner-token", verified.Message, StringComparison.Ordinal);
        Assert.True(hosts["runner-1"].Failed);

        // The agent receives and confirms it: the condition passes again.
        _time.Advance(TimeSpan.FromMinutes(1));
        await ConfirmAsync(state, manifest, "runner-1");
        hosts = await CheckAsync(state, manifest);
        Assert.Equal(ConditionStatus.True, Of(hosts["runner-1"], ConditionTypes.Verified).Status);
        Assert.False(hosts["runner-1"].Failed);
    }
}
