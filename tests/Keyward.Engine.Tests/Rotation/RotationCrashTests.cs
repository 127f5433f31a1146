using Keyward.Core.Errors;
using Keyward.Core.Rotation;
using Keyward.Engine.Rotation;
using Keyward.Sinks.Hooks;
using Keyward.Core.Store;

namespace Keyward.Engine.Tests.Rotation;

/// <summary>Kills a rotation at every journal step (before and after each step's effect) and checks the invariants
/// after <c>--resume</c> and, separately, after <c>--abort</c>.</summary>
public sealed class RotationCrashTests
{
    public static TheoryData<string, string> JwtPoints() => Points("attic-jwt-secret");
    public static TheoryData<string, string> CacheKeyPoints() => Points("attic-cache-key");

    private static TheoryData<string, string> Points(string name)
    {
        var data = new TheoryData<string, string>();
        var n = RotationFixture.StepCount(name);
        for (var i = 1; i <= n; i++)
            foreach (var when in new[] { "before", "after" })
                foreach (var then in new[] { "resume", "abort" })
                    data.Add($"step-{i}-{when}", then);
        return data;
    }

    [Theory]
    [MemberData(nameof(JwtPoints))]
    public async Task JwtSecretRotation_CrashAtEveryStep(string point, string then)
    {
        await using var f = await RotationFixture.CreateAsync();
        var faults = new RotationFixture.FaultAt(point);
        await Assert.ThrowsAsync<InjectedFaultException>(() => f.Executor(faults).StartAsync(new RotationIntent(["attic-jwt-secret"]), default));
        Assert.True(faults.Fired);
        Assert.NotEmpty(await f.Store.OpenJournalsAsync(default));

        if (then == "resume")
        {
            var outcome = await f.Executor().ResumeAsync(false, default);
            Assert.Equal(RotationState.Committed, outcome.State);
            await f.AssertConsistentAsync($"{point} then resume");
            foreach (var name in new[] { "attic-jwt-secret", "ci-push-token", "reader-token" })
                Assert.True((await f.Store.GetActiveAsync(name, default))!.Version > f.Initial[name], $"{name} was not rotated");
            Assert.Equal(f.Initial["attic-cache-key"], (await f.Store.GetActiveAsync("attic-cache-key", default))!.Version);
        }
        else
        {
            await f.Executor().AbortAsync(default);
            await f.AssertConsistentAsync($"{point} then abort");
            foreach (var (name, v) in f.Initial)
                Assert.Equal(v, (await f.Store.GetActiveAsync(name, default))!.Version);
        }
    }

    [Theory]
    [MemberData(nameof(CacheKeyPoints))]
    public async Task CacheKeyRollover_CrashAtEveryStep(string point, string then)
    {
        await using var f = await RotationFixture.CreateAsync();
        var faults = new RotationFixture.FaultAt(point);
        var first = await Record(() => f.Executor(faults).StartAsync(new RotationIntent(["attic-cache-key"]), default));
        if (first is null)
        {
            // The fault is in phase two: phase one finished and waits for --continue.
            Assert.Equal("awaiting-continue", Assert.Single(await f.Store.OpenJournalsAsync(default)).Status);
            await Assert.ThrowsAsync<InjectedFaultException>(() => f.Executor(faults).ResumeAsync(true, default));
        }
        Assert.True(faults.Fired);

        if (then == "resume")
        {
            var outcome = await f.Executor().ResumeAsync(false, default);
            if (outcome.State == RotationState.AwaitingContinue)
            {
                // Crashed in phase one: resume finishes phase one and stops again; the trust list carries both keys.
                var conf = await File.ReadAllTextAsync(Path.Combine(f.SinkDir, "keyward.conf"));
                Assert.Contains("main-1:", conf, StringComparison.Ordinal);
                Assert.Contains("main-2:", conf, StringComparison.Ordinal);
                Assert.Contains("main-1:", await File.ReadAllTextAsync(Path.Combine(f.SinkDir, "cache.sk")), StringComparison.Ordinal);
                outcome = await f.Executor().ResumeAsync(true, default);
            }
            Assert.Equal(RotationState.Committed, outcome.State);
            await f.AssertConsistentAsync($"{point} then resume");
            var active = (await f.Store.GetActiveAsync("attic-cache-key", default))!;
            Assert.Equal("main-2", active.Metadata["keyName"]);
            Assert.DoesNotContain("main-1:", await File.ReadAllTextAsync(Path.Combine(f.SinkDir, "keyward.conf")), StringComparison.Ordinal);
        }
        else
        {
            await f.Executor().AbortAsync(default);
            await f.AssertConsistentAsync($"{point} then abort");
            Assert.Equal(f.Initial["attic-cache-key"], (await f.Store.GetActiveAsync("attic-cache-key", default))!.Version);
            Assert.DoesNotContain("main-2:", await File.ReadAllTextAsync(Path.Combine(f.SinkDir, "keyward.conf")), StringComparison.Ordinal);
        }
    }

    private static async Task<Exception?> Record(Func<Task> run)
    {
        try { await run(); return null; }
        catch (InjectedFaultException ex) { return ex; }
    }
}

public sealed class RotationExecutorTests
{
    [Fact]
    public async Task JwtRotation_ReMintsEveryToken_AndEveryTokenVerifiesAgainstNewSecret()
    {
        await using var f = await RotationFixture.CreateAsync();
        var outcome = await f.Executor().StartAsync(new RotationIntent(["attic-jwt-secret"]), default);
        Assert.Equal(RotationState.Committed, outcome.State);
        await f.AssertConsistentAsync("clean run");
        Assert.Equal(VersionState.Retired, (await f.Store.GetVersionsAsync("attic-jwt-secret", default)).Single(v => v.Version == f.Initial["attic-jwt-secret"]).State);
        Assert.Contains("restart atticd.service", f.Hooks);
        Assert.Contains("restart ci-runner.service", f.Hooks);
        var ledger = await f.Store.ListLedgerAsync(default);
        Assert.All(ledger.Where(t => t.TokenId.StartsWith("seed-", StringComparison.Ordinal)), t => Assert.NotNull(t.RevokedAt));
        Assert.Equal(2, ledger.Count(t => t.RevokedAt is null));
        var audit = await f.Store.ReadAuditAsync(null, default);
        Assert.Contains(audit, a => a.Event.Action == "rotate" && a.Event.Credential == "attic-jwt-secret");
        Assert.Contains(audit, a => a.Event.Action == "retire" && a.Event.Credential == "ci-push-token");
    }

    [Fact]
    public async Task TokenRotation_LeavesSecretAndOtherTokenAlone()
    {
        await using var f = await RotationFixture.CreateAsync();
        var before = await File.ReadAllBytesAsync(Path.Combine(f.SinkDir, "netrc"));
        await f.Executor().StartAsync(new RotationIntent(["ci-push-token"]), default);
        await f.AssertConsistentAsync("token rotation");
        Assert.Equal(f.Initial["attic-jwt-secret"], (await f.Store.GetActiveAsync("attic-jwt-secret", default))!.Version);
        Assert.Equal(before, await File.ReadAllBytesAsync(Path.Combine(f.SinkDir, "netrc")));
        Assert.Equal(["restart ci-runner.service"], f.Hooks);
    }

    [Fact]
    public async Task CacheKey_AutoContinue_DoesBothPhases()
    {
        await using var f = await RotationFixture.CreateAsync(autoContinue: true);
        var outcome = await f.Executor().StartAsync(new RotationIntent(["attic-cache-key"]), default);
        Assert.Equal(RotationState.Committed, outcome.State);
        await f.AssertConsistentAsync("auto-continue");
    }

    [Fact]
    public async Task CacheKey_WithoutAutoContinue_StopsAfterPhaseOne_AndResumeRefuses()
    {
        await using var f = await RotationFixture.CreateAsync();
        var outcome = await f.Executor().StartAsync(new RotationIntent(["attic-cache-key"]), default);
        Assert.Equal(RotationState.AwaitingContinue, outcome.State);
        var ex = await Assert.ThrowsAsync<KeywardException>(() => f.Executor().ResumeAsync(false, default));
        Assert.Equal(ErrorCodes.RotationAwaitingContinue, ex.First.Code);
        var busy = await Assert.ThrowsAsync<KeywardException>(() => f.Executor().StartAsync(new RotationIntent(["ci-push-token"]), default));
        Assert.Equal(ErrorCodes.RotationInProgress, busy.First.Code);
        Assert.Equal(RotationState.Committed, (await f.Executor().ResumeAsync(true, default)).State);
        await f.AssertConsistentAsync("continue");
    }

    [Fact]
    public async Task FailedHook_StopsWithResumeHint_ThenResumeCompletes()
    {
        await using var f = await RotationFixture.CreateAsync();
        f.HookBehaviour = h => new HookResult(false, 1, "unit failed");
        var ex = await Assert.ThrowsAsync<KeywardException>(() => f.Executor().StartAsync(new RotationIntent(["attic-jwt-secret"]), default));
        Assert.Equal(ErrorCodes.RotationStepFailed, ex.First.Code);
        Assert.Contains("--resume", ex.First.Hint, StringComparison.Ordinal);
        Assert.Contains("--abort", ex.First.Hint, StringComparison.Ordinal);
        f.HookBehaviour = null;
        Assert.Equal(RotationState.Committed, (await f.Executor().ResumeAsync(false, default)).State);
        await f.AssertConsistentAsync("after fixing the hook");
    }

    [Fact]
    public async Task Rotation_NeverPrintsSecretValues()
    {
        await using var f = await RotationFixture.CreateAsync();
        var lines = new List<string>();
        var ex = new RotationExecutor(f.Store, new RotationExecutorOptions
        {
            Manifest = f.Manifest, Time = f.Time, Faults = new RotationFixture.NoFaults(), Progress = lines.Add, Warn = lines.Add,
            RunHook = (_, _) => Task.FromResult(new HookResult(true, 0, "ok")),
        });
        await ex.StartAsync(new RotationIntent(["attic-jwt-secret"]), default);
        var all = new List<string>(f.Secrets);
        foreach (var c in f.Manifest.Credentials)
            all.Add((await f.Store.RevealAsync(c.Name, (await f.Store.GetActiveAsync(c.Name, default))!.Version, default)).RevealString());
        var text = string.Join("\n", lines) + string.Join("\n", (await f.Store.ReadAuditAsync(null, default)).Select(a => a.Event.ToString()));
        foreach (var s in all) Assert.DoesNotContain(s, text, StringComparison.Ordinal);
        foreach (var j in await f.Store.OpenJournalsAsync(default)) Assert.Fail("journal left open");
    }
}
