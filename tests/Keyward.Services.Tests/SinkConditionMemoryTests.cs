using Keyward.Core.Manifest;
using Keyward.Engine.Checks;
using Keyward.Services.Http;
using Microsoft.Extensions.Time.Testing;

namespace Keyward.Services.Tests;

/// <summary>The condition history of sinks in conditions.json: a run that changes nothing leaves the file alone (it is
/// compared with what the run read, not re-parsed and re-written), and every change of status reaches the file.</summary>
public sealed class SinkConditionMemoryTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    private static readonly DateTimeOffset Now = new(2026, 11, 23, 12, 0, 0, TimeSpan.Zero);

    private sealed class Toggle : ISinkVerifier
    {
        /// <summary>False: sink "app" is wrong on disk (every other sink stays right).</summary>
        public bool Right { get; set; } = true;

        public Task<IReadOnlyList<Observation>> VerifyAsync(Sink sink, CancellationToken cancellationToken) =>
            Task.FromResult<IReadOnlyList<Observation>>(Right || sink.Name != "app"
                ? [Observation.True(ConditionTypes.Ready, "Present", "exists"), Observation.True(ConditionTypes.Verified, "MatchesManifest", "ok")]
                : [Observation.True(ConditionTypes.Ready, "Present", "exists"), Observation.False(ConditionTypes.Verified, "ContentDiffers", "edited")]);
    }

    [Fact]
    public async Task An_unchanged_run_leaves_conditions_json_alone_and_a_status_change_is_written_and_remembered()
    {
        var manifest = M.Manifest([M.Secret("x")], [], [M.FileSink("app", "/etc/app", 0x180), M.FileSink("other", "/etc/other", 0x180)]);
        var store = new MemoryStore();
        await store.PutActive("x", "value-1");
        using var dir = new TempDir();
        var time = new FakeTimeProvider(Now);
        var clients = new ServiceClients(ServiceHttp.CreateClient(), M.FastHttp(), time);
        var state = new StoreCheckState(store, dir.Path);
        var sinks = new Toggle();
        var file = Path.Combine(dir.Path, "conditions.json");
        Task<IReadOnlyList<CheckReport>> Run() => new CheckRunner(manifest, state, clients, new CheckOptions(), sinks).RunAsync(Ct);
        Condition Verified(IReadOnlyList<CheckReport> r) => r.Single(x => x.Kind == SubjectKind.Sink && x.Name == "app").Conditions.Single(c => c.Type == "Verified");

        await Run();
        // The same memory written without indentation: a run that rewrote the file would write it indented again.
        var written = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(file))!.ToJsonString();
        File.WriteAllText(file, written);
        for (var i = 0; i < 3; i++) // a serve loop every 5 minutes: nothing changes, the file is not rewritten
        {
            time.Advance(TimeSpan.FromMinutes(5));
            Assert.Equal(ConditionStatus.True, Verified(await Run()).Status);
            Assert.Equal(written, File.ReadAllText(file));
        }

        sinks.Right = false; // the file goes wrong: the status change is written
        time.Advance(TimeSpan.FromMinutes(5));
        var failed = Verified(await Run());
        Assert.Equal(ConditionStatus.False, failed.Status);
        Assert.NotEqual(written, File.ReadAllText(file));
        Assert.Contains("\"False\"", File.ReadAllText(file), StringComparison.Ordinal);

        sinks.Right = true; // repaired: the transition is the repair's time, and "last true" was remembered across the failure
        time.Advance(TimeSpan.FromMinutes(5));
        var again = Verified(await Run());
        Assert.Equal(ConditionStatus.True, again.Status);
        Assert.Equal(Now + TimeSpan.FromMinutes(25), again.LastTransitionTime);
        var fresh = new StoreCheckState(store, dir.Path); // what a later run (or `keyward check`) reads back
        var memory = await fresh.LoadConditionsAsync(Ct);
        Assert.Equal(ConditionStatus.True, memory["sink/app"]["Verified"].Status);
        Assert.Equal(Now + TimeSpan.FromMinutes(25), memory["sink/app"]["Verified"].LastTransitionTime);
        Assert.Equal(Now, memory["sink/other"]["Verified"].LastTransitionTime);
    }

    [Fact]
    public async Task A_kept_history_still_moves_last_true_once_it_is_an_hour_old_for_sinks_and_credentials()
    {
        // The save's "nothing changed" is decided on the parsed memory: a condition still True whose stored "last true"
        // is an hour old must still be written, in conditions.json and in the credential's metadata.
        var manifest = M.Manifest([M.Secret("x")], [], [M.FileSink("app", "/etc/app", 0x180)]);
        var store = new MemoryStore();
        await store.PutActive("x", "value-1");
        using var dir = new TempDir();
        var time = new FakeTimeProvider(Now);
        var clients = new ServiceClients(ServiceHttp.CreateClient(), M.FastHttp(), time);
        var history = new ConditionHistoryCache();
        var file = Path.Combine(dir.Path, "conditions.json");
        Task<IReadOnlyList<CheckReport>> Run() =>
            new CheckRunner(manifest, new StoreCheckState(store, dir.Path) { History = history }, clients, new CheckOptions(), new Toggle()).RunAsync(Ct);
        string SinkLastTrue() => (string)System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(file))!["sink/app"]!["Ready"]!["lastTrueTime"]!;
        async Task<string> CredentialLastTrue() => (await store.GetActiveAsync("x", Ct))!.Metadata["condition.Ready.lastTrue"];

        await Run();
        var first = (SinkLastTrue(), await CredentialLastTrue());
        for (var i = 0; i < 11; i++) // 55 minutes of passes: kept, nothing written
        {
            time.Advance(TimeSpan.FromMinutes(5));
            await Run();
            Assert.Equal(first, (SinkLastTrue(), await CredentialLastTrue()));
        }
        Assert.True(history.Reused >= 10);
        time.Advance(TimeSpan.FromMinutes(6)); // 61 minutes: written again, both
        await Run();
        var moved = Now + TimeSpan.FromMinutes(61);
        Assert.Equal(moved, DateTimeOffset.Parse(SinkLastTrue(), System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(moved, DateTimeOffset.Parse(await CredentialLastTrue(), System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public async Task A_damaged_conditions_json_is_replaced_by_the_next_run()
    {
        var manifest = M.Manifest([M.Secret("x")], [], [M.FileSink("app", "/etc/app", 0x180)]);
        var store = new MemoryStore();
        await store.PutActive("x", "value-1");
        using var dir = new TempDir();
        var file = Path.Combine(dir.Path, "conditions.json");
        await File.WriteAllTextAsync(file, "{ \"sink/app\": { \"Verified\": { \"status\": ", Ct);
        var clients = new ServiceClients(ServiceHttp.CreateClient(), M.FastHttp(), new FakeTimeProvider(Now));
        await new CheckRunner(manifest, new StoreCheckState(store, dir.Path), clients, new CheckOptions(), new Toggle()).RunAsync(Ct);
        var memory = await new StoreCheckState(store, dir.Path).LoadConditionsAsync(Ct);
        Assert.Equal(ConditionStatus.True, memory["sink/app"]["Verified"].Status);
    }
}
