using System.Globalization;
using System.Text.Json;
using Keyward.Core.Errors;
using Keyward.Core.Graph;
using Keyward.Core.Manifest;
using Keyward.Core.Rotation;
using Keyward.Engine.Agent;
using Keyward.Engine.Rotation.Steps;
using Keyward.Sinks;
using Keyward.Core.Store;

namespace Keyward.Engine.Rotation;

/// <summary>How a rotation run ended.</summary>
public enum RotationState
{
    Committed,
    AwaitingContinue,
    /// <summary>Paused at a deliver step: the hosts in <see cref="RotationOutcome.Hosts"/> have not confirmed the new files.</summary>
    AwaitingHosts,
    Aborted,
}

public sealed record RotationOutcome(long JournalId, RotationState State, RotationPlan? Plan, IReadOnlyList<string> Log)
{
    /// <summary>When <see cref="RotationState.AwaitingHosts"/>: each host that has not confirmed, with its sinks.</summary>
    public IReadOnlyList<HostGap> Hosts { get; init; } = [];
}

/// <summary>
/// Executes a rotation plan through the store's write-ahead journal: the entry points (start, resume, continue, abort) and
/// the journal loop. Every step is journalled as <c>started</c> before its effect and <c>done</c> after it; the effect of
/// each kind of step lives in its own handler (<see cref="Steps.StepHandlers"/>), and every effect is idempotent (a staged
/// version is reused, files are written atomically and only when their content differs), so <see cref="ResumeAsync"/>
/// simply replays the steps not yet done, and <see cref="AbortAsync"/> restores the versions active when the rotation
/// started, retires the new ones and re-renders every sink the rotation touched.
/// </summary>
public sealed class RotationExecutor(ICredentialStore store, RotationExecutorOptions options)
{
    private readonly KeywardManifest _m = options.Manifest;
    private readonly List<string> _log = [];
    private IReadOnlyList<HostGap> _awaiting = [];

    private DateTimeOffset Now => options.Time.GetUtcNow();

    // ------------------------------------------------------------------ entry points

    /// <summary>Plans and runs a rotation. Refuses while another rotation is open.</summary>
    public async Task<RotationOutcome> StartAsync(RotationIntent intent, CancellationToken ct)
    {
        var open = await OpenRotationAsync(ct).ConfigureAwait(false);
        if (open is not null)
            throw ErrorCodes.RotationInProgress.Exception($"rotation journal {open.Id} ({open.Status}) is still open");
        var facts = await StoreFacts.ReadAsync(store, ct).ConfigureAwait(false);
        var plan = RotationPlanner.Plan(_m, facts, intent, Now);
        var exposed = intent.Reason == RotationReason.Exposed || intent.Exposed is { Count: > 0 };
        var snapshot = new Dictionary<string, int>(StringComparer.Ordinal);
        var overlap = new Dictionary<string, long>(StringComparer.Ordinal);
        var autoContinue = true;
        foreach (var name in plan.NewVersions.Distinct(StringComparer.Ordinal))
        {
            snapshot[name] = facts.Active(name)?.Version ?? 0;
            var c = _m.FindCredential(name)!;
            var policy = _m.EffectivePolicy(c);
            if (!exposed && policy.Overlap is { } o) overlap[name] = (long)o.Value.TotalSeconds;
            if (c is NixSigningKeyCredential && policy.AutoContinue != true) autoContinue = false;
        }
        var journal = new JournalIntent(intent.Credentials, intent.Reason.Name(), intent.Exposed ?? [], intent.Broad, autoContinue, snapshot, overlap,
            plan.Steps.Select(s => new JournalPlanStep(s.Order, s.Phase, s.Action, s.TargetKind, s.Target, s.Credential, s.Detail)).ToList());
        var id = await store.BeginJournalAsync(RotationStatus.Operation, journal.Serialize(), Now, ct).ConfigureAwait(false);
        var run = new RotationRun(store, options, journal, [], _log);
        run.Progress($"rotation journal {id}: {plan.Steps.Count} steps for {string.Join(", ", intent.Credentials)}");
        var state = await RunStepsAsync(id, RotationStatus.Open, run, autoContinue, ct).ConfigureAwait(false);
        return new RotationOutcome(id, state, plan, _log) { Hosts = _awaiting };
    }

    /// <summary><c>--resume</c> (completes a crashed or failed rotation) and <c>--continue</c> (starts phase two).</summary>
    public async Task<RotationOutcome> ResumeAsync(bool continuePhaseTwo, CancellationToken ct)
    {
        var open = await OpenRotationAsync(ct).ConfigureAwait(false)
            ?? throw ErrorCodes.NoRotationInProgress.Exception("there is no open rotation journal");
        var journal = ParseIntent(open);
        if (open.Status == RotationStatus.Aborting)
            throw ErrorCodes.RotationInProgress.Exception($"rotation journal {open.Id} was being aborted", "finish the roll-back with `keyward rotate --abort`");
        if (open.Status == RotationStatus.AwaitingContinue && !continuePhaseTwo)
            throw ErrorCodes.RotationAwaitingContinue.Exception($"rotation journal {open.Id} finished phase one and waits for `--continue`");
        var done = DoneSteps(open);
        // A phase-two step already done means phase two was allowed (a pause for hosts inside phase two keeps it so).
        var allowPhaseTwo = journal.AutoContinue || continuePhaseTwo || open.Status == RotationStatus.PhaseTwo ||
            journal.Steps.Any(s => s.Phase == RotationPhase.SwitchSigning && done.Contains(s.Order));
        var status = open.Status;
        if (continuePhaseTwo && open.Status != RotationStatus.PhaseTwo)
            await store.SetJournalStatusAsync(open.Id, status = RotationStatus.PhaseTwo, ct).ConfigureAwait(false);
        var run = new RotationRun(store, options, journal, done, _log);
        await StageStep.ReMintForeignTokensAsync(run, ct).ConfigureAwait(false);
        run.Progress($"resuming rotation journal {open.Id}: {done.Count} of {journal.Steps.Count} steps already done");
        var state = await RunStepsAsync(open.Id, status, run, allowPhaseTwo, ct).ConfigureAwait(false);
        return new RotationOutcome(open.Id, state, null, _log) { Hosts = _awaiting };
    }

    /// <summary><c>--abort</c>: restore what was active at the start, retire what the rotation created, re-render every
    /// sink it touched (running the hooks of those that change). Idempotent, so an interrupted abort is simply re-run.</summary>
    public async Task<RotationOutcome> AbortAsync(CancellationToken ct)
    {
        var open = await OpenRotationAsync(ct).ConfigureAwait(false)
            ?? throw ErrorCodes.NoRotationInProgress.Exception("there is no open rotation journal");
        var journal = ParseIntent(open);
        if (open.Status != RotationStatus.Aborting)
            await store.SetJournalStatusAsync(open.Id, RotationStatus.Aborting, ct).ConfigureAwait(false);
        await store.AppendJournalStepAsync(open.Id, "abort", "*", RotationStatus.Started, null, Now, ct).ConfigureAwait(false);
        options.Faults.At("abort-before-restore");
        var run = new RotationRun(store, options, journal, [], _log);
        foreach (var (name, old) in journal.Snapshot)
        {
            // A service-issued token whose retire step started may already be deleted at its service (a crash can fall
            // between the delete and the journal's "done"): restoring it could deliver a dead token. The new one stays
            // active; the rest of the rotation is still rolled back.
            if (_m.FindCredential(name) is ExternalCredential x && options.ServiceTokens?.Handles(x) == true &&
                open.Steps.Any(s => s.Kind == StepAction.Retire.Name() && s.Target == name))
            {
                run.Progress($"{name}: its old token was already deleted at its service; the new version stays active");
                continue;
            }
            var versions = await store.GetVersionsAsync(name, ct).ConfigureAwait(false);
            var active = versions.FirstOrDefault(v => v.State == VersionState.Active);
            if (old > 0 && active?.Version != old)
                await store.SetStateAsync(name, old, VersionState.Active, ct).ConfigureAwait(false);
            foreach (var v in versions.Where(v => v.Version > old && v.State != VersionState.Retired))
            {
                await store.SetStateAsync(name, v.Version, VersionState.Retired, ct).ConfigureAwait(false);
                await run.RevokeLedgerAsync(name, v.Version, ct).ConfigureAwait(false);
                await run.AuditAsync("retire", name, v.Version, v.Fingerprint, "rotation aborted", ct).ConfigureAwait(false);
            }
            if (old > 0 && active?.Version != old)
                await run.AuditAsync("restore", name, old, null, $"rotation journal {open.Id} aborted", ct).ConfigureAwait(false);
        }
        options.Faults.At("abort-before-render");
        var hooks = new List<Hook>();
        foreach (var sinkName in journal.Steps.Where(s => s.Kind == NodeKind.Sink).Select(s => s.Target).Distinct(StringComparer.Ordinal))
        {
            var sink = _m.FindSink(sinkName);
            if (sink is null) continue;
            if (await run.WriteSinkAsync(sink, retiringTrust: true, ct).ConfigureAwait(false) != FileWriteOutcome.Unchanged)
                hooks.AddRange(sink.OnChange);
        }
        options.Faults.At("abort-before-hooks");
        foreach (var hook in hooks.DistinctBy(GraphBuilder.HookName))
        {
            var r = await options.RunHook(hook, ct).ConfigureAwait(false);
            if (!r.Success) options.Warn?.Invoke($"hook '{GraphBuilder.HookName(hook)}' failed during the roll-back: {r.Message}");
            else run.Progress($"ran {GraphBuilder.HookName(hook)}");
        }
        await store.AppendJournalStepAsync(open.Id, "abort", "*", RotationStatus.Done, null, Now, ct).ConfigureAwait(false);
        await store.SetJournalStatusAsync(open.Id, JournalStatuses.Aborted, ct).ConfigureAwait(false);
        run.Progress($"rotation journal {open.Id} aborted: the versions active before it are active again");
        return new RotationOutcome(open.Id, RotationState.Aborted, null, _log);
    }

    /// <summary>The open rotation journal, if any.</summary>
    public async Task<JournalRecord?> OpenRotationAsync(CancellationToken ct) =>
        (await store.OpenJournalsAsync(ct).ConfigureAwait(false)).FirstOrDefault(j => j.Operation == RotationStatus.Operation);

    // ------------------------------------------------------------------ the journal loop

    private async Task<RotationState> RunStepsAsync(long id, string status, RotationRun run, bool allowPhaseTwo, CancellationToken ct)
    {
        var blockChecked = false;
        foreach (var step in run.Journal.Steps.OrderBy(s => s.Order))
        {
            if (run.Done.Contains(step.Order)) continue;
            if (step.Phase == RotationPhase.SwitchSigning && !allowPhaseTwo)
            {
                await store.SetJournalStatusAsync(id, RotationStatus.AwaitingContinue, ct).ConfigureAwait(false);
                run.Progress("phase one done: every trusting sink now lists the old and the new public key; run `keyward rotate --continue` once every consumer has it");
                return RotationState.AwaitingContinue;
            }
            // The whole run of deliver steps is checked once, at its first step (each step still re-checks its own host):
            // checking the rest of the run again at every step made 1,000 hosts cost a million bundle comparisons.
            if (step.Action != StepAction.Deliver) blockChecked = false;
            else if (!blockChecked)
            {
                if (await DeliverStep.GapsAsync(store, _m, run.Journal, run.Done, step, Now, ct).ConfigureAwait(false) is { Count: > 0 } gaps)
                {
                    await PauseForHostsAsync(id, status, run, step, gaps, ct).ConfigureAwait(false);
                    return RotationState.AwaitingHosts;
                }
                blockChecked = true;
            }
            var data = string.Create(CultureInfo.InvariantCulture, $"{{\"order\":{step.Order}}}");
            await store.AppendJournalStepAsync(id, step.Action.Name(), step.Target, RotationStatus.Started, data, Now, ct).ConfigureAwait(false);
            options.Faults.At($"step-{step.Order}-before");
            try
            {
                await ExecuteAsync(step, run, ct).ConfigureAwait(false);
            }
            catch (KeywardException ex)
            {
                await store.AppendJournalStepAsync(id, step.Action.Name(), step.Target, RotationStatus.Failed, data, Now, ct).ConfigureAwait(false);
                var e = ex.First;
                throw new KeywardException(ErrorCodes.RotationStepFailed.With(
                    $"step {step.Order} ({step.Action.Name()} {step.Target}) failed: {e.Message}",
                    "fix the cause, then `keyward rotate --resume` continues from this step; `keyward rotate --abort` rolls back to the versions active before the rotation"), ex);
            }
            options.Faults.At($"step-{step.Order}-after");
            await store.AppendJournalStepAsync(id, step.Action.Name(), step.Target, RotationStatus.Done, data, Now, ct).ConfigureAwait(false);
            run.Done.Add(step.Order);
        }
        await store.SetJournalStatusAsync(id, JournalStatuses.Committed, ct).ConfigureAwait(false);
        run.Progress($"rotation journal {id} committed");
        return RotationState.Committed;
    }

    private async Task ExecuteAsync(JournalPlanStep step, RotationRun run, CancellationToken ct)
    {
        // A host's sink is written by that host's agent (it long-polls and receives the new version), never here.
        if (step.Kind == NodeKind.Sink && _m.FindSink(step.Target) is null && _m.HostSinks.FirstOrDefault(s => s.Name == step.Target) is { } hostSink)
        {
            run.Progress($"{step.Order,3}. {step.Action.Name()} {step.Target}: delivered by the agent{GraphBuilder.OnHosts(hostSink)}");
            return;
        }
        await StepHandlers.For(step.Action).ExecuteAsync(step, run, ct).ConfigureAwait(false);
        run.Progress($"{step.Order,3}. {step.Action.Name()} {step.Target}");
    }

    // ------------------------------------------------------------------ hosts

    /// <summary>Leaves the journal open in <c>awaiting-hosts</c>, naming the hosts (journalled and audited once per pause,
    /// not on every re-check).</summary>
    private async Task PauseForHostsAsync(long id, string status, RotationRun run, JournalPlanStep step, IReadOnlyList<HostGap> gaps, CancellationToken ct)
    {
        _awaiting = gaps;
        var names = string.Join(", ", gaps.Select(g => g.ToString()));
        if (status != RotationStatus.AwaitingHosts)
        {
            await store.SetJournalStatusAsync(id, RotationStatus.AwaitingHosts, ct).ConfigureAwait(false);
            var data = string.Create(CultureInfo.InvariantCulture, $"{{\"order\":{step.Order}}}");
            await store.AppendJournalStepAsync(id, step.Action.Name(), step.Target, RotationStatus.Waiting, data, Now, ct).ConfigureAwait(false);
            await run.AuditAsync("awaiting-hosts", step.Credential ?? string.Join(",", run.Journal.Names), null, null,
                $"rotation journal {id} waits for hosts to confirm: {names}", ct).ConfigureAwait(false);
        }
        run.Progress($"{step.Order,3}. {step.Action.Name()} {step.Target}: waiting for host(s) to confirm: {names}; the old version stays until they do");
    }

    /// <summary>
    /// Waits, outside the state lock, for the hosts an open rotation paused for (<see cref="RotationState.AwaitingHosts"/>):
    /// reads the store (through <paramref name="openRead"/>, a lock-free open) with back-off from 1 s to 15 s on
    /// <paramref name="time"/> until every awaited host has confirmed or <paramref name="until"/> passes. Returns the hosts
    /// still missing (empty: resume now). The lock must not be held meanwhile: the server needs it to hand the new files to
    /// the agents and to record their confirmations.
    /// </summary>
    public static async Task<IReadOnlyList<HostGap>> WaitForHostsAsync(Func<CancellationToken, Task<Keyward.Store.OpenedState>> openRead, KeywardManifest manifest,
        DateTimeOffset until, TimeProvider time, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(openRead);
        ArgumentNullException.ThrowIfNull(manifest);
        ArgumentNullException.ThrowIfNull(time);
        var delay = TimeSpan.FromSeconds(1);
        while (true)
        {
            IReadOnlyList<HostGap> gaps = [];
            var state = await openRead(ct).ConfigureAwait(false);
            await using (state.ConfigureAwait(false))
            {
                var open = (await state.Store.OpenJournalsAsync(ct).ConfigureAwait(false)).FirstOrDefault(j => j.Operation == RotationStatus.Operation);
                if (open is { Status: RotationStatus.AwaitingHosts })
                {
                    var journal = ParseIntent(open);
                    var done = DoneSteps(open);
                    if (journal.Steps.OrderBy(s => s.Order).FirstOrDefault(s => !done.Contains(s.Order)) is { Action: StepAction.Deliver } next)
                        gaps = await DeliverStep.GapsAsync(state.Store, manifest, journal, done, next, time.GetUtcNow(), ct).ConfigureAwait(false);
                }
            }
            var left = until - time.GetUtcNow();
            if (gaps.Count == 0 || left <= TimeSpan.Zero) return gaps;
            await Task.Delay(delay < left ? delay : left, time, ct).ConfigureAwait(false);
            delay = TimeSpan.FromSeconds(Math.Min(15, delay.TotalSeconds * 2));
        }
    }

    // ------------------------------------------------------------------ helpers

    internal static HashSet<int> DoneSteps(JournalRecord journal)
    {
        var done = new HashSet<int>();
        foreach (var s in journal.Steps)
        {
            if (s.Status != RotationStatus.Done || s.Data is null) continue;
            using var doc = JsonDocument.Parse(s.Data);
            if (doc.RootElement.TryGetProperty("order", out var o)) done.Add(o.GetInt32());
        }
        return done;
    }

    private static JournalIntent ParseIntent(JournalRecord open)
    {
        try
        {
            return JournalIntent.Parse(open.Intent);
        }
        catch (JsonException)
        {
            throw ErrorCodes.JournalCorrupt.Exception($"rotation journal {open.Id} has an unreadable intent");
        }
    }
}
