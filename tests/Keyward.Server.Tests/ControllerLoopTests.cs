namespace Keyward.Server.Tests;

/// <summary>The loop on the real clock with short intervals: it runs by itself, and a manifest edit starts a pass
/// without waiting for the interval. Every wait is bounded (a deadline), nothing asserts on elapsed time.</summary>
public sealed class ControllerLoopTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task Until(Func<Task<bool>> condition, string what)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        deadline.CancelAfter(TimeSpan.FromSeconds(90));
        while (!await condition())
        {
            if (deadline.IsCancellationRequested) Assert.Fail($"timed out waiting for {what}");
            await Task.Delay(50, Ct);
        }
    }

    [Fact]
    public async Task The_loop_runs_passes_by_itself_every_interval()
    {
        await using var h = await new ServerHarness(TimeProvider.System).StartAsync(o => o with
        {
            RunController = true, Interval = TimeSpan.FromMilliseconds(300), ManifestPoll = TimeSpan.FromMilliseconds(100),
        });
        await Until(() => Task.FromResult(h.Status.Passes >= 2), "two passes");
        Assert.True(File.Exists(Path.Combine(h.Root, "run/keyward/push.token")));
        Assert.Contains("keyward_controller_leader 1", await h.MetricsAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_manifest_edit_starts_a_pass_without_waiting_for_the_interval()
    {
        await using var h = await new ServerHarness(TimeProvider.System).StartAsync(o => o with
        {
            RunController = true, Interval = TimeSpan.FromHours(1), ManifestPoll = TimeSpan.FromMilliseconds(100),
        });
        await Until(() => Task.FromResult(h.Status.Passes >= 1), "the first pass");
        File.WriteAllText(h.ManifestPath, ServerHarness.Manifest.Replace("credentials:\n", "credentials:\n  added-later: { kind: secret, bytes: 16, owner: x, purpose: y }\n", StringComparison.Ordinal));
        await Until(async () =>
        {
            await using var s = await h.OpenAsync();
            return await s.Store.GetActiveAsync("added-later", Ct) is not null;
        }, "the pass the edit started");
    }
}
