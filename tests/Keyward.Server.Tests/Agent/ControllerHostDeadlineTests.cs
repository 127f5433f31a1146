using System.Diagnostics;
using Keyward.Core.Manifest;
using Keyward.Engine.Agent;
using Keyward.Store;
using Keyward.Core.Store;

namespace Keyward.Server.Tests.Agent;

/// <summary>
/// Issue 12: <c>rotation.hostDeadline</c> for the rotations serve's controller runs. A policy rotation (maxAge) of a secret
/// delivered to a host pauses for that host; the controller waits for it as <c>keyward rotate</c> does — the same
/// <see cref="Engine.Rotation.HostPauseWait"/>, beside its passes, without the state lock — and at the deadline ends as the
/// CLI does (KW0815 naming the host, the journal open in awaiting-hosts, the old version not retired), while its passes and
/// checks go on meanwhile; a host that confirms in time lets the rotation commit at once, not at the next pass.
/// Everything runs on the fake clock (the host's agent never connects: its confirmation is written as the server would).
/// </summary>
public sealed class ControllerHostDeadlineTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    // The public half of an ssh-ed25519 host key (made with ssh-keygen for this test; nobody holds the private half here).
    private const string RunnerKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEXd13xTYMnSBRGzShxClsbqITIbbpWDpbceMMfEeb6v root@runner-1";

    private static readonly string Manifest = ServerHarness.Manifest.Replace("credentials:\n", $$"""
        hosts:
          runner-1: { sshKey: "{{RunnerKey}}" }
        credentials:
          fleet-secret:
            kind: secret
            bytes: 32
            owner: fleet
            purpose: read by the runners
            rotation: { maxAge: 1d, hostDeadline: 10m }

        """, StringComparison.Ordinal).Replace("sinks:\n", """
        sinks:
          fleet-file:
            hosts: [runner-1]
            path: /etc/fleet/secret
            format: raw
            mode: "0600"
            credential: fleet-secret

        """, StringComparison.Ordinal);

    /// <summary>The first pass creates everything; a day later the next pass starts the policy rotation, which pauses for
    /// runner-1. Returns the open journal's id and when the pause began.</summary>
    private static async Task<(long Journal, DateTimeOffset Paused)> PausedRotationAsync(ServerHarness h)
    {
        Assert.True(await h.PassAsync(), string.Join("\n", h.Status.Snapshot.Problems));
        h.Fake!.Advance(TimeSpan.FromDays(1) + TimeSpan.FromMinutes(1));
        var paused = h.Time.GetUtcNow();
        Assert.True(await h.PassAsync(), string.Join("\n", h.Status.Snapshot.Problems)); // the pass returns: it does not wait in it
        Assert.Equal(1, h.Status.Rotations[("fleet-secret", "awaiting-hosts")]);
        await using var s = await h.OpenAsync();
        var journal = Assert.Single(await s.Store.OpenJournalsAsync(Ct));
        Assert.Equal("awaiting-hosts", journal.Status);
        Assert.Equal(journal.Id, h.Pass.WaitingForHosts);
        return (journal.Id, paused);
    }

    /// <summary>Moves the fake clock on in small steps, giving the wait real time to read the store, until
    /// <paramref name="done"/> holds (at most 2 minutes of real time).</summary>
    private static async Task AdvanceUntilAsync(ServerHarness h, Func<bool> done, TimeSpan step)
    {
        var limit = Stopwatch.StartNew();
        while (!done())
        {
            Assert.True(limit.Elapsed < TimeSpan.FromMinutes(2), "the controller's wait for hosts did not end");
            h.Fake!.Advance(step);
            await Task.Delay(10, Ct);
        }
    }

    [Fact]
    public async Task A_host_that_never_confirms_ends_the_controllers_rotation_at_its_deadline_as_the_cli_does_and_passes_go_on()
    {
        await using var h = await new ServerHarness(manifest: Manifest).StartAsync();
        var (journal, paused) = await PausedRotationAsync(h);

        // Meanwhile the server keeps serving: the state lock is free (agents' reports and bundles need it), passes run and
        // check every credential, /metrics answers. The rotation is still waiting, not given up.
        await using (var other = await StateDirectory.OpenForWriteAsync(h.State, StateLockOptions.Default, TimeProvider.System, Ct))
            Assert.NotNull(await other.Store.GetActiveAsync("db-password", Ct));
        h.Fake!.Advance(TimeSpan.FromMinutes(5));
        Assert.True(await h.PassAsync(), string.Join("\n", h.Status.Snapshot.Problems));
        Assert.Equal(h.Time.GetUtcNow(), h.Status.Snapshot.At);
        Assert.Contains(h.Status.Snapshot.Reports, r => r.Name == "db-password" && r.Conditions.Any(c => c.Type == "Ready" && c.Status == Keyward.Engine.Checks.ConditionStatus.True));
        Assert.Contains("keyward_rotation_total{credential=\"fleet-secret\",result=\"awaiting-hosts\"} 1", await h.MetricsAsync(), StringComparison.Ordinal);
        Assert.Equal(journal, h.Pass.WaitingForHosts);
        Assert.DoesNotContain(h.Warnings, w => w.StartsWith("KW0815", StringComparison.Ordinal));

        // At the deadline (10m after the pause began), the wait ends with the CLI's error.
        await AdvanceUntilAsync(h, () => h.Pass.WaitingForHosts is null, TimeSpan.FromSeconds(5));
        Assert.True(h.Time.GetUtcNow() >= paused + TimeSpan.FromMinutes(10), $"ended at {h.Time.GetUtcNow():O}, paused at {paused:O}");
        var warning = Assert.Single(h.Warnings, w => w.StartsWith("KW0815", StringComparison.Ordinal));
        Assert.Equal($"KW0815 rotation journal {journal} is paused: host(s) runner-1 (fleet-file) did not confirm the new version within 10m", warning);
        Assert.Equal(1, h.Status.Rotations[("fleet-secret", "host-deadline")]);
        Assert.Contains("keyward_rotation_total{credential=\"fleet-secret\",result=\"host-deadline\"} 1", await h.MetricsAsync(), StringComparison.Ordinal);
        await using (var s = await h.OpenAsync())
        {
            Assert.Equal("awaiting-hosts", Assert.Single(await s.Store.OpenJournalsAsync(Ct)).Status);
            var versions = await s.Store.GetVersionsAsync("fleet-secret", Ct);
            // The new version is active on the authority; the old one is not retired (the deliver step comes before the retire).
            Assert.Equal(VersionState.Active, versions.Single(v => v.Version == 2).State);
            Assert.Equal(VersionState.Previous, versions.Single(v => v.Version == 1).State);
        }

        // After the deadline the passes check the pause again, as `rotate --resume` would, without waiting or warning again.
        h.Fake.Advance(TimeSpan.FromMinutes(5));
        Assert.True(await h.PassAsync(), string.Join("\n", h.Status.Snapshot.Problems));
        Assert.Null(h.Pass.WaitingForHosts);
        Assert.Single(h.Warnings, w => w.StartsWith("KW0815", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_host_that_confirms_within_the_deadline_lets_the_controllers_rotation_commit_before_the_next_pass()
    {
        await using var h = await new ServerHarness(manifest: Manifest).StartAsync();
        var (_, paused) = await PausedRotationAsync(h);
        var passes = h.Status.Passes;

        // runner-1's agent reports the file the server renders for it now (what serve records when a report arrives).
        var manifest = ManifestLoader.Load(h.ManifestPath).OrThrow();
        await using (var s = await StateDirectory.OpenForWriteAsync(h.State, StateLockOptions.Default, TimeProvider.System, Ct))
        {
            using var bundle = await HostBundleBuilder.BuildAsync(s.Store, manifest, "runner-1", h.Time.GetUtcNow(), Ct);
            var report = new AgentReport("test", [new SinkReport("fleet-file", Assert.Single(bundle.Sinks).Fingerprint, "written", null)]);
            foreach (var record in HostConfirmations.FromReport(manifest, "runner-1", report, h.Time.GetUtcNow()))
                await s.Store.PutSinkAsync(record, Ct);
        }

        await AdvanceUntilAsync(h, () => h.Status.Rotations.ContainsKey(("fleet-secret", "committed")), TimeSpan.FromSeconds(1));
        Assert.True(h.Time.GetUtcNow() - paused < TimeSpan.FromMinutes(1), $"committed {h.Time.GetUtcNow() - paused} after the pause");
        Assert.Equal(passes, h.Status.Passes); // by the wait, not by a pass
        Assert.Null(h.Pass.WaitingForHosts);
        await using (var s = await h.OpenAsync())
        {
            Assert.Empty(await s.Store.OpenJournalsAsync(Ct));
            Assert.Equal(2, (await s.Store.GetActiveAsync("fleet-secret", Ct))!.Version);
            Assert.Contains(await s.Store.ReadAuditAsync(null, Ct), a => a.Event.Action == "host-confirmed" && a.Event.Actor == "serve");
        }
        Assert.DoesNotContain(h.Warnings, w => w.StartsWith("KW0815", StringComparison.Ordinal));
    }
}
