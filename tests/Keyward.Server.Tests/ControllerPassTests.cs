using Keyward.Server.Controller;
using Keyward.Core.Store;
using Microsoft.Extensions.Time.Testing;

namespace Keyward.Server.Tests;

/// <summary>The controller pass, driven by hand on a fake clock: it does what apply does (mint, renew, repair) with
/// actor <c>serve</c>, keeps the last good manifest, and backs a failing service off without stopping the rest.</summary>
public sealed class ControllerPassTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_token_renewal_falls_due_on_the_clock_and_the_pass_renews_it_audited_as_serve()
    {
        await using var h = await new ServerHarness().StartAsync();
        Assert.True(await h.PassAsync(), string.Join("\n", h.Status.Snapshot.Problems));
        var token = Path.Combine(h.Root, "run/keyward/push.token");
        var first = File.ReadAllText(token);
        await using (var s = await h.OpenAsync())
            Assert.Equal(1, (await s.Store.GetActiveAsync("push-token", Ct))!.Version);

        // Inside renewBefore (1h of a 2h validity): nobody types anything, the next pass re-mints.
        h.Fake!.Advance(TimeSpan.FromMinutes(61));
        Assert.True(await h.PassAsync(), string.Join("\n", h.Status.Snapshot.Problems));
        await using (var s = await h.OpenAsync())
        {
            Assert.Equal(2, (await s.Store.GetActiveAsync("push-token", Ct))!.Version);
            var audit = await s.Store.ReadAuditAsync(null, Ct);
            Assert.Contains(audit, a => a.Event.Actor == "serve" && a.Event.Action == "mint" && a.Event.Credential == "push-token" && a.Event.Version == 2);
            Assert.All(audit.Where(a => a.Event.Action == "mint"), a => Assert.Equal("serve", a.Event.Actor));
        }
        Assert.NotEqual(first, File.ReadAllText(token));
        Assert.Equal(1, h.Status.Rotations[("push-token", "renewed")]);
        Assert.Contains("keyward_rotation_total{credential=\"push-token\",result=\"renewed\"} 1", await h.MetricsAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_drifted_sink_is_repaired_by_the_next_pass_and_counted()
    {
        await using var h = await new ServerHarness().StartAsync();
        Assert.True(await h.PassAsync());
        var env = Path.Combine(h.Root, "etc/app/app.env");
        var good = File.ReadAllText(env);
        File.WriteAllText(env, "DB_PASSWORD=tampered\n");
        h.Fake!.Advance(TimeSpan.FromMinutes(1));
        Assert.True(await h.PassAsync());
        Assert.Equal(good, File.ReadAllText(env));
        Assert.Equal(1, h.Status.SinkRepairs["app-env"]);
        var metrics = await h.MetricsAsync();
        Assert.Contains("keyward_sink_drift{sink=\"app-env\"} 0", metrics, StringComparison.Ordinal);
        Assert.Contains("keyward_sink_repairs_total{sink=\"app-env\"} 1", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Metrics_rendered_once_per_pass_show_the_next_pass_a_renewal_and_a_sink_drift()
    {
        await using var h = await new ServerHarness().StartAsync();
        var start = h.Time.GetUtcNow();
        Assert.True(await h.PassAsync(), string.Join("\n", h.Status.Snapshot.Problems));
        var first = await h.MetricsAsync();
        Assert.Contains($"keyward_credential_expiration_timestamp_seconds{{credential=\"push-token\",kind=\"attic-token\"}} {(start + TimeSpan.FromHours(2)).ToUnixTimeSeconds()}", first, StringComparison.Ordinal);
        Assert.Contains($"keyward_controller_last_run_timestamp_seconds {start.ToUnixTimeSeconds()}", first, StringComparison.Ordinal);
        Assert.Contains("keyward_sink_drift{sink=\"app-env\"} 0", first, StringComparison.Ordinal);
        Assert.Equal(first, await h.MetricsAsync()); // no pass in between: the same text

        // A renewal: the next pass's scrape has the new expiry (not the one rendered for the first pass) and its time.
        h.Fake!.Advance(TimeSpan.FromMinutes(61));
        var renewed = h.Time.GetUtcNow();
        Assert.True(await h.PassAsync(), string.Join("\n", h.Status.Snapshot.Problems));
        var second = await h.MetricsAsync();
        Assert.Contains($"keyward_credential_expiration_timestamp_seconds{{credential=\"push-token\",kind=\"attic-token\"}} {(renewed + TimeSpan.FromHours(2)).ToUnixTimeSeconds()}", second, StringComparison.Ordinal);
        Assert.DoesNotContain($"{(start + TimeSpan.FromHours(2)).ToUnixTimeSeconds()}", second, StringComparison.Ordinal);
        Assert.Contains($"keyward_controller_last_run_timestamp_seconds {renewed.ToUnixTimeSeconds()}", second, StringComparison.Ordinal);

        // A sink the pass cannot repair (a directory where the file goes): drift 1 in the next scrape; repaired, 0 again.
        var env = Path.Combine(h.Root, "etc/app/app.env");
        File.Delete(env);
        Directory.CreateDirectory(env);
        h.Fake.Advance(TimeSpan.FromMinutes(1));
        Assert.False(await h.PassAsync());
        var drifted = await h.MetricsAsync();
        Assert.Contains("keyward_sink_drift{sink=\"app-env\"} 1", drifted, StringComparison.Ordinal);
        Assert.Contains("keyward_credential_ready_status{credential=\"db-password\",condition=\"True\"} 1", drifted, StringComparison.Ordinal);
        Directory.Delete(env);
        h.Fake.Advance(TimeSpan.FromMinutes(1));
        Assert.True(await h.PassAsync(), string.Join("\n", h.Status.Snapshot.Problems));
        Assert.Contains("keyward_sink_drift{sink=\"app-env\"} 0", await h.MetricsAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_sink_that_drifts_after_the_apply_step_of_a_pass_fails_that_pass_checks()
    {
        // The apply step's log line comes after its inspections and writes and before the checks: drift made there is
        // drift the checks must see themselves (a pass that wrote a sink hands the checks nothing of apply's look).
        string? env = null;
        var tamper = false;
        await using var h = await new ServerHarness().StartAsync(o => o with
        {
            Log = m =>
            {
                if (tamper && m.StartsWith("applied:", StringComparison.Ordinal)) File.WriteAllText(env!, "DB_PASSWORD=tampered\n");
            },
        });
        env = Path.Combine(h.Root, "etc/app/app.env");
        Assert.True(await h.PassAsync(), string.Join("\n", h.Status.Snapshot.Problems));
        Assert.Contains("keyward_sink_drift{sink=\"app-env\"} 0", await h.MetricsAsync(), StringComparison.Ordinal);

        tamper = true;
        h.Fake!.Advance(TimeSpan.FromMinutes(61)); // the token renews: apply writes, then logs
        await h.PassAsync();
        Assert.Equal(1, h.Status.Rotations[("push-token", "renewed")]);
        var report = h.Status.Snapshot.Reports.Single(r => r.Name == "app-env");
        Assert.Contains(report.Conditions, c => c.Type == "Verified" && c.Status == Engine.Checks.ConditionStatus.False && c.Reason == "ContentDiffers");
        Assert.Contains("keyward_sink_drift{sink=\"app-env\"} 1", await h.MetricsAsync(), StringComparison.Ordinal);
    }

    private static Engine.Checks.Condition Verified(ServerHarness h, string sink) =>
        h.Status.Snapshot.Reports.Single(r => r.Name == sink).Conditions.Single(c => c.Type == "Verified");

    [Fact]
    public async Task The_passes_reuse_the_parsed_condition_history_only_while_the_file_holds_its_bytes_and_save_nothing_when_nothing_changed()
    {
        await using var h = await new ServerHarness().StartAsync();
        var start = h.Time.GetUtcNow();
        var file = Path.Combine(h.State, "conditions.json");
        Assert.True(await h.PassAsync(), string.Join("\n", h.Status.Snapshot.Problems));
        h.Fake!.Advance(TimeSpan.FromMinutes(5));
        Assert.True(await h.PassAsync(), string.Join("\n", h.Status.Snapshot.Problems));
        var reused = h.Pass.History.Reused; // the second pass parsed the file the first wrote, and kept the parse
        var bytes = File.ReadAllBytes(file);
        var written = File.GetLastWriteTimeUtc(file);
        async Task<string> Metadata()
        {
            await using var s = await h.OpenAsync();
            return string.Join("\n", (await s.Store.ListVersionsAsync(Ct)).Select(v => $"{v.Name}/{v.Version}: " +
                string.Join(", ", v.Metadata.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key}={p.Value}"))));
        }
        var metadata = await Metadata();

        // Nothing changed: the kept parse is taken, and neither the file nor any credential's condition memory is written.
        h.Fake.Advance(TimeSpan.FromMinutes(5));
        Assert.True(await h.PassAsync(), string.Join("\n", h.Status.Snapshot.Problems));
        Assert.Equal(reused + 1, h.Pass.History.Reused);
        Assert.Equal(bytes, File.ReadAllBytes(file));
        Assert.Equal(written, File.GetLastWriteTimeUtc(file));
        Assert.Equal(metadata, await Metadata());
        Assert.Equal(start, Verified(h, "app-env").LastTransitionTime);

        // Another replica (or a person) rewrites the file: the same length, the same second, one transition a month earlier.
        // The next pass reads what is on disk now, not the parse it kept.
        var earlier = new DateTimeOffset(2026, 11, 1, 0, 0, 0, TimeSpan.Zero);
        var json = System.Text.Json.Nodes.JsonNode.Parse(bytes)!;
        json["sink/app-env"]!["Verified"]!["lastTransitionTime"] = earlier.ToString("O", System.Globalization.CultureInfo.InvariantCulture);
        var edited = System.Text.Encoding.UTF8.GetBytes(json.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
        Assert.Equal(bytes.Length, edited.Length);
        Assert.NotEqual(bytes, edited);
        File.WriteAllBytes(file, edited);
        h.Fake.Advance(TimeSpan.FromMinutes(5));
        Assert.True(await h.PassAsync(), string.Join("\n", h.Status.Snapshot.Problems));
        Assert.Equal(earlier, Verified(h, "app-env").LastTransitionTime);
        Assert.Equal(start, Verified(h, "token-file").LastTransitionTime);
        Assert.Equal(reused + 1, h.Pass.History.Reused); // parsed afresh, not taken
        Assert.Equal(edited, File.ReadAllBytes(file)); // nothing changed against the edited history: not rewritten either
        h.Fake.Advance(TimeSpan.FromMinutes(5));
        Assert.True(await h.PassAsync(), string.Join("\n", h.Status.Snapshot.Problems));
        Assert.Equal(reused + 2, h.Pass.History.Reused); // the edited file's parse is the one kept now
        Assert.Equal(earlier, Verified(h, "app-env").LastTransitionTime);

        // A condition changes (a directory where the file goes, which apply cannot repair): saved, and in /metrics.
        var env = Path.Combine(h.Root, "etc/app/app.env");
        File.Delete(env);
        Directory.CreateDirectory(env);
        h.Fake.Advance(TimeSpan.FromMinutes(5));
        var failedAt = h.Time.GetUtcNow();
        Assert.False(await h.PassAsync());
        Assert.Equal(Engine.Checks.ConditionStatus.False, Verified(h, "app-env").Status);
        var saved = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(file))!["sink/app-env"]!["Verified"]!;
        Assert.Equal("False", (string?)saved["status"]);
        Assert.Equal(failedAt, DateTimeOffset.Parse((string)saved["lastTransitionTime"]!, System.Globalization.CultureInfo.InvariantCulture));
        Assert.Contains("keyward_sink_drift{sink=\"app-env\"} 1", await h.MetricsAsync(), StringComparison.Ordinal);
        Directory.Delete(env);
        h.Fake.Advance(TimeSpan.FromMinutes(5));
        Assert.True(await h.PassAsync(), string.Join("\n", h.Status.Snapshot.Problems));
        Assert.Equal(Engine.Checks.ConditionStatus.True, Verified(h, "app-env").Status);
        Assert.Contains("\"True\"", System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(file))!["sink/app-env"]!["Verified"]!.ToJsonString(), StringComparison.Ordinal);
        Assert.Contains("keyward_sink_drift{sink=\"app-env\"} 0", await h.MetricsAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_pass_that_changed_nothing_checks_its_sinks_by_apply_s_look_and_still_sees_a_mode_or_content_changed_after_it()
    {
        // The file clock an hour ahead: the files the first pass wrote look old, so the checks may use apply's look at them
        // (no racy change time). What changes after that look must still fail the same pass's checks.
        var fileClock = new FakeTimeProvider(new DateTimeOffset(DateTime.UtcNow).AddHours(1));
        await using var h = await new ServerHarness().StartAsync(o => o with { FileClock = fileClock });
        var env = Path.Combine(h.Root, "etc/app/app.env");
        Assert.True(await h.PassAsync(), string.Join("\n", h.Status.Snapshot.Problems));
        Assert.Equal(0, h.Status.LastSinksReused); // the first pass wrote both sinks: inspected afresh

        h.Fake!.Advance(TimeSpan.FromMinutes(1));
        Assert.True(await h.PassAsync(), string.Join("\n", h.Status.Snapshot.Problems));
        Assert.Equal(2, h.Status.LastSinksReused);
        Assert.Equal(Engine.Checks.ConditionStatus.True, Verified(h, "app-env").Status);
        Assert.Equal(Engine.Checks.ConditionStatus.True, Verified(h, "token-file").Status);

        // chmod between apply's look and the checks: the change time moves, the lstat differs, the sink is inspected again.
        h.Pass.AfterWriteSteps = () => File.SetUnixFileMode(env, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        h.Fake.Advance(TimeSpan.FromMinutes(1));
        await h.PassAsync();
        Assert.Equal(1, h.Status.LastSinksReused);
        Assert.Equal(Engine.Checks.ConditionStatus.False, Verified(h, "app-env").Status);
        Assert.Equal("WorldReadable", Verified(h, "app-env").Reason);
        Assert.Equal(Engine.Checks.ConditionStatus.True, Verified(h, "token-file").Status);

        // The next pass repairs the mode (a sink written: nothing of apply's look is used), then one that changes nothing
        // sees content edited after apply's look.
        h.Pass.AfterWriteSteps = null;
        h.Fake.Advance(TimeSpan.FromMinutes(1));
        Assert.True(await h.PassAsync(), string.Join("\n", h.Status.Snapshot.Problems));
        Assert.Equal(0, h.Status.LastSinksReused);
        Assert.Equal(Engine.Checks.ConditionStatus.True, Verified(h, "app-env").Status);
        h.Pass.AfterWriteSteps = () => File.WriteAllText(env, "DB_PASSWORD=tampered\n");
        h.Fake.Advance(TimeSpan.FromMinutes(1));
        await h.PassAsync();
        Assert.Equal(1, h.Status.LastSinksReused);
        Assert.Equal(Engine.Checks.ConditionStatus.False, Verified(h, "app-env").Status);
        Assert.Equal("ContentDiffers", Verified(h, "app-env").Reason);
    }

    [Fact]
    public async Task A_same_length_edit_right_after_apply_s_look_at_a_just_written_file_fails_the_checks()
    {
        // The real file clock: a file written moments ago has a change time too recent to prove anything (a change in the
        // same clock tick could keep it), so the checks read it again; a same-length edit leaves no other trace in lstat.
        await using var h = await new ServerHarness().StartAsync();
        var env = Path.Combine(h.Root, "etc/app/app.env");
        Assert.True(await h.PassAsync(), string.Join("\n", h.Status.Snapshot.Problems));
        var good = File.ReadAllBytes(env);
        var edited = (byte[])good.Clone();
        var at = Array.IndexOf(edited, (byte)'=') + 1;
        edited[at] = edited[at] == (byte)'A' ? (byte)'B' : (byte)'A';
        h.Pass.AfterWriteSteps = () => File.WriteAllBytes(env, edited);
        h.Fake!.Advance(TimeSpan.FromMinutes(1));
        await h.PassAsync();
        Assert.Equal(Engine.Checks.ConditionStatus.False, Verified(h, "app-env").Status);
        Assert.Equal("ContentDiffers", Verified(h, "app-env").Reason);
        Assert.Equal(Engine.Checks.ConditionStatus.True, Verified(h, "token-file").Status);
    }

    [Fact]
    public async Task A_credential_stored_between_apply_and_the_checks_makes_the_checks_inspect_afresh()
    {
        // A CLI writer may commit once the pass lets the lock go: the store's seal moves, the version list is read again,
        // and apply's look (rendered from the old rows) is not used.
        var fileClock = new FakeTimeProvider(new DateTimeOffset(DateTime.UtcNow).AddHours(1));
        await using var h = await new ServerHarness().StartAsync(o => o with { FileClock = fileClock });
        Assert.True(await h.PassAsync(), string.Join("\n", h.Status.Snapshot.Problems));
        h.Pass.AfterWriteSteps = () =>
        {
            var s = h.OpenAsync().GetAwaiter().GetResult();
            try
            {
                s.Store.PutAsync(new NewVersion("db-password", "secret", Core.Secrets.Secret.FromUtf8("a-new-value-from-the-cli"), VersionState.Active,
                    h.Time.GetUtcNow(), null, "import", new Dictionary<string, string>()), CancellationToken.None).GetAwaiter().GetResult();
            }
            finally
            {
                s.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }
        };
        h.Fake!.Advance(TimeSpan.FromMinutes(1));
        await h.PassAsync();
        Assert.Equal(0, h.Status.LastSinksReused);
        Assert.Equal(Engine.Checks.ConditionStatus.False, Verified(h, "app-env").Status);
        Assert.Equal("ContentDiffers", Verified(h, "app-env").Reason);
    }

    [Fact]
    public async Task An_invalid_manifest_edit_keeps_the_last_good_one_and_is_reported_in_readyz_and_metrics()
    {
        await using var h = await new ServerHarness().StartAsync();
        Assert.True(await h.PassAsync());
        using (var ready = await h.GetAsync("/readyz"))
            Assert.Equal(System.Net.HttpStatusCode.OK, ready.StatusCode);

        File.WriteAllText(h.ManifestPath, ServerHarness.Manifest.Replace("kind: attic-token", "kind: no-such-kind", StringComparison.Ordinal) + "\n# edited\n");
        h.Fake!.Advance(TimeSpan.FromMinutes(61));
        await h.PassAsync();
        // Still serving, on the last good manifest: the renewal that fell due happened anyway.
        await using (var s = await h.OpenAsync())
            Assert.Equal(2, (await s.Store.GetActiveAsync("push-token", Ct))!.Version);
        using (var ready = await h.GetAsync("/readyz"))
        {
            Assert.Equal(System.Net.HttpStatusCode.ServiceUnavailable, ready.StatusCode);
            var body = await ready.Content.ReadAsStringAsync(Ct);
            Assert.Contains("invalid", body, StringComparison.Ordinal);
            Assert.Contains("last valid", body, StringComparison.Ordinal);
        }
        Assert.Contains("keyward_manifest_valid 0", await h.MetricsAsync(), StringComparison.Ordinal);

        File.WriteAllText(h.ManifestPath, ServerHarness.Manifest);
        await h.PassAsync();
        using (var ready = await h.GetAsync("/readyz"))
            Assert.Equal(System.Net.HttpStatusCode.OK, ready.StatusCode);
        Assert.Contains("keyward_manifest_valid 1", await h.MetricsAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Readyz_is_503_with_a_reason_when_the_store_cannot_be_opened()
    {
        await using var h = await new ServerHarness().StartAsync();
        // No pass has initialised the state yet: the store is not there.
        using var ready = await h.GetAsync("/readyz");
        Assert.Equal(System.Net.HttpStatusCode.ServiceUnavailable, ready.StatusCode);
        Assert.Contains("store", await ready.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_failing_service_backs_off_alone_while_renewals_go_on()
    {
        // An Attic service nobody listens on (port 1 refuses at once): its cache reconciliation fails every time.
        var manifest = ServerHarness.Manifest + """

            services:
              attic:
                kind: attic
                url: http://127.0.0.1:1/
                token: push-token
                caches:
                  main: { public: false }
            """;
        await using var h = await new ServerHarness(manifest: manifest).StartAsync(o => o with { BackoffBase = TimeSpan.FromMinutes(10), BackoffCap = TimeSpan.FromMinutes(40) });
        Assert.False(await h.PassAsync());
        Assert.Contains(h.Status.Snapshot.Problems, p => p.StartsWith("service/attic:", StringComparison.Ordinal));
        var backoff = h.Status.Backoff!.Snapshot().Single(b => b.Key == "service/attic");
        Assert.Equal(1, backoff.Failures);
        Assert.Equal(h.Time.GetUtcNow() + TimeSpan.FromMinutes(10), backoff.Until);

        // Within the back-off the service is not asked again, and the renewal still happens.
        h.Fake!.Advance(TimeSpan.FromMinutes(61));
        await h.PassAsync();
        Assert.Equal(1, h.Status.Rotations[("push-token", "renewed")]);
        Assert.Equal(2, h.Status.Backoff.Snapshot().Single(b => b.Key == "service/attic").Failures);
        h.Fake.Advance(TimeSpan.FromMinutes(5));
        await h.PassAsync();
        Assert.Equal(2, h.Status.Backoff.Snapshot().Single(b => b.Key == "service/attic").Failures);
        Assert.Contains("keyward_controller_step_failures{step=\"service/attic\"} 2", await h.MetricsAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public void Backoff_doubles_per_failure_up_to_the_cap_and_a_success_clears_it()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 1, 0, 0, 0, TimeSpan.Zero));
        var b = new StepBackoff(time, TimeSpan.FromSeconds(30), TimeSpan.FromMinutes(2));
        var start = time.GetUtcNow();
        Assert.Equal(start + TimeSpan.FromSeconds(30), b.Failed("s", "x"));
        Assert.False(b.Ready("s"));
        Assert.True(b.Ready("other"));
        Assert.Equal(start + TimeSpan.FromSeconds(60), b.Failed("s", "x"));
        Assert.Equal(start + TimeSpan.FromSeconds(120), b.Failed("s", "x"));
        Assert.Equal(start + TimeSpan.FromSeconds(120), b.Failed("s", "x"));
        time.Advance(TimeSpan.FromSeconds(120));
        Assert.True(b.Ready("s"));
        b.Succeeded("s");
        Assert.Empty(b.Snapshot());
    }
}

/// <summary>An open cache-key rollover waiting for <c>--continue</c>: the loop leaves it to a person without
/// <c>autoContinue</c>, and with it continues phase two once the key's overlap has passed since phase one.</summary>
public sealed class RolloverContinuationTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static string Manifest(bool autoContinue) => ServerHarness.Manifest.Replace("credentials:\n", $$"""
        credentials:
          cache-key:
            kind: nix-signing-key
            keyName: cache.example.org-1
            owner: cache
            purpose: signs store paths
            rotation: { overlap: 2h, autoContinue: {{(autoContinue ? "true" : "false")}} }

        """, StringComparison.Ordinal).Replace("sinks:\n", """
        sinks:
          nix-conf:
            path: /etc/nix/keyward.conf
            format: nix-conf
            mode: "0644"
            substituters: ["https://cache.example.org/main"]
            trustedPublicKeys: [cache-key]

        """, StringComparison.Ordinal);

    [Fact]
    public async Task An_awaiting_rollover_is_continued_by_the_loop_only_with_autoContinue_and_after_the_overlap()
    {
        await using var h = await new ServerHarness(manifest: Manifest(autoContinue: false)).StartAsync();
        Assert.True(await h.PassAsync(), string.Join("\n", h.Status.Snapshot.Problems));
        // A person starts the rollover: phase one, then the journal waits for `--continue`.
        await using (var s = await Store.StateDirectory.OpenOrInitAsync(h.State, [], h.Time, Ct))
        {
            var manifest = Core.Manifest.ManifestLoader.Load(h.ManifestPath).Manifest!;
            var outcome = await new Engine.Rotation.RotationExecutor(s.Store, new Engine.Rotation.RotationExecutorOptions
            {
                Manifest = manifest, Time = h.Time, Root = h.Root, RunHook = (_, _) => Task.FromResult(new Sinks.Hooks.HookResult(true, null, "test")),
            }).StartAsync(new Core.Rotation.RotationIntent(["cache-key"]), Ct);
            Assert.Equal(Engine.Rotation.RotationState.AwaitingContinue, outcome.State);
        }

        h.Fake!.Advance(TimeSpan.FromHours(3));
        await h.PassAsync();
        Assert.False(h.Status.Rotations.ContainsKey(("cache-key", "committed")));   // no autoContinue: a person decides

        File.WriteAllText(h.ManifestPath, Manifest(autoContinue: true));
        h.Fake.Advance(TimeSpan.FromMinutes(1));
        await h.PassAsync();
        Assert.Equal(1, h.Status.Rotations[("cache-key", "committed")]);
        await using (var s = await h.OpenAsync())
        {
            Assert.Empty(await s.Store.OpenJournalsAsync(Ct));
            Assert.Equal(2, (await s.Store.GetActiveAsync("cache-key", Ct))!.Version);
        }
    }

    [Fact]
    public async Task With_autoContinue_the_loop_waits_for_the_overlap_since_phase_one()
    {
        await using var h = await new ServerHarness(manifest: Manifest(autoContinue: false)).StartAsync();
        Assert.True(await h.PassAsync());
        await using (var s = await Store.StateDirectory.OpenOrInitAsync(h.State, [], h.Time, Ct))
        {
            var manifest = Core.Manifest.ManifestLoader.Load(h.ManifestPath).Manifest!;
            await new Engine.Rotation.RotationExecutor(s.Store, new Engine.Rotation.RotationExecutorOptions
            {
                Manifest = manifest, Time = h.Time, Root = h.Root, RunHook = (_, _) => Task.FromResult(new Sinks.Hooks.HookResult(true, null, "test")),
            }).StartAsync(new Core.Rotation.RotationIntent(["cache-key"]), Ct);
        }
        File.WriteAllText(h.ManifestPath, Manifest(autoContinue: true));
        h.Fake!.Advance(TimeSpan.FromMinutes(90));   // overlap is 2h
        await h.PassAsync();
        Assert.False(h.Status.Rotations.ContainsKey(("cache-key", "committed")));
        h.Fake.Advance(TimeSpan.FromMinutes(31));
        await h.PassAsync();
        Assert.Equal(1, h.Status.Rotations[("cache-key", "committed")]);
    }
}
