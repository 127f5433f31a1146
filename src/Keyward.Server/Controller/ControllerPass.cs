using System.Diagnostics;
using Keyward.Core.Errors;
using Keyward.Core.Manifest;
using Keyward.Engine;
using Keyward.Engine.Apply;
using Keyward.Engine.Checks;
using Keyward.Engine.Delivery;
using Keyward.Engine.Reconcile;
using Keyward.Engine.Rotation;
using Keyward.Services;
using Keyward.Services.Http;
using Keyward.Store;
using Keyward.Core.Store;

namespace Keyward.Server.Controller;

/// <summary>
/// One pass of the controller loop, through the same Engine operations the CLI runs:
/// under the state write lock (a CLI <c>apply</c> at the same time waits, or is waited for) — move an open rotation on
/// (<see cref="RolloverContinuation"/>: resume a stopped one, continue an autoContinue rollover whose overlap passed),
/// then <c>apply</c> (renew what is due, rotate what policy says is due, repair drifted sinks and live Secrets), then
/// reconcile each declared Attic service's caches; after the lock, run every check (condition history kept in the
/// store) and publish what it saw to <see cref="ControllerStatus"/>. The state is opened once per pass (the write
/// steps' open; its lock is let go before the checks, which read through it).
/// Each step that fails backs off on its own key (<see cref="StepBackoff"/>) while the others go on.
/// Shutdown is honoured only between steps: the Engine calls get <see cref="CancellationToken.None"/>, so a journal
/// step, a file write or a store transaction is never cut in half.
/// A rotation that pauses for hosts is waited for as <c>keyward rotate</c> waits (<see cref="HostPauseWait"/>), beside the
/// passes rather than inside one: the passes (checks, reconcile, the agents' bundles and reports) go on meanwhile.
/// The checks' and reconciles' routine uses of stored tokens are audited through <see cref="RoutineUseFilter"/>.
/// </summary>
public sealed class ControllerPass : IAsyncDisposable, IDisposable
{
    private readonly ServerState _state;
    private readonly ControllerStatus _status;
    private readonly StepBackoff _backoff;
    private readonly RoutineUseFilter _uses;
    private readonly ConditionHistoryCache _history = new();
    private readonly CancellationTokenSource _shutdown = new();
    private readonly Lock _waitGate = new();
    private Task? _hostWait;
    private long? _hostWaitJournal;
    private ServeOptions Options => _state.Options;

    public ControllerPass(ServerState state, ControllerStatus status)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(status);
        _state = state;
        _status = status;
        _backoff = status.Backoff ??= new StepBackoff(state.Time, state.Options.BackoffBase, state.Options.BackoffCap);
        _uses = new RoutineUseFilter(state.Time);
    }

    public StepBackoff Backoff => _backoff;

    /// <summary>The parse of conditions.json the passes keep (taken again only while the file holds the same bytes).</summary>
    internal ConditionHistoryCache History => _history;

    /// <summary>The journal whose pause for hosts is being waited for beside the passes (null when none is).</summary>
    public long? WaitingForHosts
    {
        get { lock (_waitGate) return _hostWait is { IsCompleted: false } ? _hostWaitJournal : null; }
    }

    /// <summary>Ends a wait for hosts (its store calls are never cut in half: a resume under way finishes first).</summary>
    public async ValueTask DisposeAsync()
    {
        await _shutdown.CancelAsync().ConfigureAwait(false);
        Task? wait;
        lock (_waitGate) wait = _hostWait;
        if (wait is not null) await wait.ConfigureAwait(false);
        _shutdown.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>Tells a wait for hosts to stop (a host disposed without <see cref="DisposeAsync"/> does not wait for it).</summary>
    public void Dispose()
    {
        _shutdown.Cancel();
        GC.SuppressFinalize(this);
    }

    private EngineOptions Engine(OpenedState opened) => new()
    {
        Root = Options.Root,
        Time = Options.Time,
        FileClock = Options.FileClock,
        Actor = Options.Actor,
        GetEnv = Options.GetEnv,
        Warn = Options.Warn,
        RunHooks = Options.RunHooks,
        Kubeconfig = Options.Kubeconfig,
        SopsIdentityFiles = [opened.IdentityPath],
    };

    /// <summary>Runs one pass; returns false when a step failed (the problems are in the published snapshot).</summary>
    public async Task<bool> RunAsync(CancellationToken stopping)
    {
        var clock = Stopwatch.StartNew();
        _state.ReloadManifestIfChanged();
        var manifest = _state.Manifest;
        Keyward.Core.Diagnostics.PhaseTimings.Mark("pass: manifest");
        var problems = new List<string>();
        if (manifest is null)
        {
            problems.Add("no valid manifest: " + string.Join("; ", _state.ManifestErrors.Select(e => e.Message)));
            _status.Publish(_status.Snapshot with { At = Options.Time.GetUtcNow(), Problems = problems }, clock.Elapsed, failed: true);
            return false;
        }
        using var http = ServiceHttp.CreateClient();
        var clients = new ServiceClients(http, Options.ServiceHttp, Options.Time);
        // One open of the state per pass (each open checks the state seal over every row): the write steps run under
        // the state lock, which is let go before the checks, and the checks read through the same opened state.
        OpenedState? opened = null;
        PlannedInspections? planned = null;
        try
        {
            try
            {
                // Waiting for the lock may be cut short by shutdown; nothing has started yet.
                opened = await _state.OpenForWriteAsync("controller pass", stopping).ConfigureAwait(false);
                planned = await WriteStepsAsync(opened, manifest, http, clients, problems, stopping).ConfigureAwait(false);
                Keyward.Core.Diagnostics.PhaseTimings.Mark("pass: write steps");
                await opened.ReleaseLockAsync(CancellationToken.None).ConfigureAwait(false);
                Keyward.Core.Diagnostics.PhaseTimings.Mark("pass: release lock");
                // A rotation paused for hosts (by this pass, or found paused within its deadline after a restart): waited
                // for beside the passes, without the lock.
                await WaitForHostsIfPausedAsync(opened, manifest, problems).ConfigureAwait(false);
            }
            catch (KeywardException e) when (!stopping.IsCancellationRequested)
            {
                // The state could not be opened or locked (KW0317: a CLI writer held it too long): next pass tries again.
                Problem(problems, "state", e.First.Message);
                if (opened is not null) await opened.DisposeAsync().ConfigureAwait(false);
                opened = null;
                planned?.DisposeValues();
                planned = null;
            }
            var writeSteps = clock.Elapsed;
            AfterWriteSteps?.Invoke();
            var (reports, active) = await CheckStepAsync(opened, planned, manifest, clients, problems, stopping).ConfigureAwait(false);
            Keyward.Core.Diagnostics.PhaseTimings.Mark("pass: checks");
            _status.LastSplit = (writeSteps, clock.Elapsed - writeSteps);
            _status.Publish(new ControllerSnapshot(Options.Time.GetUtcNow(), active, reports, problems), clock.Elapsed, problems.Count > 0);
            return problems.Count == 0;
        }
        finally
        {
            planned?.DisposeValues();
            if (opened is not null) await opened.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Test seam: runs after the write steps let the lock go and before the checks.</summary>
    internal Action? AfterWriteSteps { get; set; }

    /// <summary>Every check, through <paramref name="opened"/> (the pass's state, its lock let go) or, when the write
    /// steps could not open it, through a state opened for reading. <paramref name="planned"/>: what apply's plan found of
    /// the sinks when the pass changed nothing; the sink checks use an answer of it only where one <c>lstat</c> proves the
    /// file unchanged since and the store's rows are the ones the plan rendered against (<see cref="SinkVerifier"/>).</summary>
    private async Task<(IReadOnlyList<CheckReport> Reports, IReadOnlyList<CredentialVersion> Active)> CheckStepAsync(OpenedState? opened,
        PlannedInspections? planned, KeywardManifest manifest, ServiceClients clients, List<string> problems, CancellationToken stopping)
    {
        IReadOnlyList<CheckReport> reports = _status.Snapshot.Reports;
        IReadOnlyList<CredentialVersion> active = _status.Snapshot.Active;
        if (!stopping.IsCancellationRequested)
        {
            OpenedState? own = null;
            try
            {
                var read = opened ?? (own = await _state.OpenForReadAsync(stopping).ConfigureAwait(false));
                var options = new CheckOptions
                {
                    WarnBefore = Options.WarnBefore,
                    CheckTimeout = Options.CheckTimeout,
                    Root = Options.Root,
                    ManifestDirectory = Path.GetDirectoryName(Path.GetFullPath(manifest.File)),
                };
                // Pass after pass the checks ask the services with the same tokens: the routine filter keeps one service.use
                // per token, request and outcome a day (a person's `keyward check` records every use).
                var result = await CheckPass.RunWithActiveAsync(read, manifest, clients, options, Engine(read), stopping, _uses,
                    opened is null ? null : planned, _history).ConfigureAwait(false);
                (reports, active) = (result.Reports, result.Active);
                _status.LastSinksReused = result.SinksReused;
            }
            catch (KeywardException e)
            {
                Problem(problems, "check", e.First.Message);
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                // Shutting down: checks only read (their history is saved at the end), so stopping them loses nothing.
            }
            finally
            {
                if (own is not null) await own.DisposeAsync().ConfigureAwait(false);
            }
        }
        return (reports, active);
    }

    /// <summary>Rotation, apply, reconcile; returns what apply's plan found of the sinks when the pass stored no version and
    /// wrote no sink (else null).</summary>
    private async Task<PlannedInspections?> WriteStepsAsync(OpenedState opened, KeywardManifest manifest, HttpClient http, ServiceClients clients, List<string> problems, CancellationToken stopping)
    {
        PlannedInspections? planned = null;
        var engineOptions = Engine(opened);
        StaleTempSweep.Run(manifest, engineOptions);
        Keyward.Core.Diagnostics.PhaseTimings.Mark("pass: stale temp sweep");
        var host = Host(http);

        // 1. An open rotation: resume a stopped one, continue an autoContinue rollover whose overlap passed. A pause for
        //    hosts that is being waited for beside the passes is left to that wait (it checks more often than a pass).
        var open = await RolloverContinuation.DecideAsync(opened.Store, manifest, Options.Time.GetUtcNow(), CancellationToken.None).ConfigureAwait(false);
        if (open.Action is OpenRotationAction.Resume or OpenRotationAction.Continue && open.JournalId != WaitingForHosts && _backoff.Ready("rotation"))
        {
            try
            {
                var outcome = await new RotationExecutor(opened.Store, host.ExecutorOptions(opened, manifest)).ResumeAsync(open.Action == OpenRotationAction.Continue, CancellationToken.None).ConfigureAwait(false);
                foreach (var c in open.Credentials) _status.CountRotation(c, Result(outcome.State));
                _backoff.Succeeded("rotation");
                Options.Log?.Invoke($"rotation journal {outcome.JournalId} ({string.Join(", ", open.Credentials)}): {(open.Action == OpenRotationAction.Continue ? "continued" : "resumed")}, {Result(outcome.State)}");
            }
            catch (KeywardException e)
            {
                foreach (var c in open.Credentials) _status.CountRotation(c, "failed");
                Problem(problems, "rotation", e.First.Message);
            }
        }
        Keyward.Core.Diagnostics.PhaseTimings.Mark("pass: open rotations");
        if (stopping.IsCancellationRequested) return planned;

        // 2. apply: renew and rotate what is due, repair drifted sinks and live Secrets.
        if (_backoff.Ready("apply"))
        {
            var engine = new ApplyEngine(opened.Store, engineOptions);
            ApplyPlan? plan = null;
            try
            {
                plan = await engine.PlanAsync(manifest, keepValues: true, CancellationToken.None).ConfigureAwait(false);
                if (plan.OpenJournal is { } journal)
                {
                    // apply never fights an open rotation over the same sinks; the rotation step above moves it on.
                    if (open.Action == OpenRotationAction.Wait)
                        Options.Log?.Invoke($"rotation journal {journal} is open ({open.Reason}); renewals wait until it ends");
                }
                else
                {
                    var outcome = await engine.ApplyAsync(plan, opened, () => new RotationExecutor(opened.Store, host.ExecutorOptions(opened, manifest)), CancellationToken.None).ConfigureAwait(false);
                    Record(plan, outcome);
                    if (!plan.HasChanges && outcome.Report.FilesWritten == 0 && outcome.Rotated.Count == 0 && outcome.RecipientsAdded == 0)
                        planned = plan.Inspections;
                }
                _backoff.Succeeded("apply");
            }
            catch (KeywardException e)
            {
                foreach (var c in plan?.DueRotations ?? []) _status.CountRotation(c, "failed");
                Problem(problems, "apply", e.First.Message);
            }
            finally
            {
                // Kept for this pass's checks only when they may use them; else let go now.
                if (planned is null) plan?.Inspections?.DisposeValues();
            }
        }

        // 3. Declared Attic caches, one service at a time: a failing service backs off alone.
        foreach (var service in CacheReconciliation.Declared(manifest))
        {
            if (stopping.IsCancellationRequested) return planned;
            var key = "service/" + service.Name;
            if (!_backoff.Ready(key)) continue;
            try
            {
                var results = await new CacheReconciliation(opened.Store, clients, Options.Actor, _uses).ServiceAsync(service, dryRun: false, null, CancellationToken.None).ConfigureAwait(false);
                foreach (var r in results.Where(r => r.Action is ReconcileAction.Created or ReconcileAction.Patched))
                {
                    Options.Log?.Invoke($"reconciled {r.Service}/{r.Cache}: {r.Action.ToString().ToLowerInvariant()}");
                    await opened.Store.AppendAuditAsync(new AuditEvent(Options.Time.GetUtcNow(), Options.Actor, "reconcile", service.Name, null, null,
                        $"cache {r.Cache} {r.Action.ToString().ToLowerInvariant()}: {string.Join(", ", r.Drift.Select(d => d.Field))}"), CancellationToken.None).ConfigureAwait(false);
                }
                _backoff.Succeeded(key);
            }
            catch (Exception e) when (e is KeywardException or HttpRequestException or OperationCanceledException && !stopping.IsCancellationRequested)
            {
                Problem(problems, key, e is KeywardException k ? k.First.Message : e.Message);
            }
        }
        return planned;
    }

    private RotationHost Host(HttpClient http) => new()
    {
        Http = http, Time = Options.Time, Actor = Options.Actor, Root = Options.Root, RunHooks = Options.RunHooks,
        Kubeconfig = Options.Kubeconfig, GetEnv = Options.GetEnv,
        Warn = m => Options.Warn(ErrorCodes.RotationStepFailed.With(m, "the rotation went on; do what the message says by hand")),
    };

    /// <summary>
    /// When the open rotation waits for hosts and its pause's deadline (the credentials' <c>rotation.hostDeadline</c>,
    /// counted from when the pause began) has not passed, starts the wait <c>keyward rotate</c> does — the same
    /// <see cref="HostPauseWait"/> — beside the passes: it reads the hosts' confirmations with back-off, without the lock,
    /// and resumes the journal under the lock once they are in; at the deadline it ends as the CLI does (KW0815 naming the
    /// hosts, the journal left open in awaiting-hosts, the old version valid), and the passes check again from then on.
    /// </summary>
    private async Task WaitForHostsIfPausedAsync(OpenedState opened, KeywardManifest manifest, List<string> problems)
    {
        if (WaitingForHosts is not null || _shutdown.IsCancellationRequested) return;
        HostPause? pause;
        try
        {
            pause = await HostPauseWait.OfOpenRotationAsync(opened.Store, manifest, CancellationToken.None).ConfigureAwait(false);
        }
        catch (KeywardException e)
        {
            Problem(problems, "rotation", e.First.Message);
            return;
        }
        if (pause is null || Options.Time.GetUtcNow() >= pause.Until) return;
        lock (_waitGate)
        {
            if (_hostWait is { IsCompleted: false }) return;
            _hostWaitJournal = pause.JournalId;
            _hostWait = Task.Run(() => WaitForHostsAsync(pause, manifest));
        }
        Options.Log?.Invoke($"rotation journal {pause.JournalId} ({string.Join(", ", pause.Credentials)}) waits for hosts to confirm, until {pause.Until:yyyy-MM-dd HH:mm:ss}Z (rotation.hostDeadline {pause.Deadline})");
    }

    private async Task WaitForHostsAsync(HostPause pause, KeywardManifest manifest)
    {
        using var http = ServiceHttp.CreateClient();
        var host = Host(http);
        var wait = new HostPauseWait(new HostPauseWaitOptions
        {
            Manifest = manifest,
            Time = Options.Time,
            OpenRead = _state.OpenForReadAsync,
            UnderLock = async resume =>
            {
                // As a pass: the state lock around the journal run, which is never cancelled half-way.
                await using var locked = await _state.OpenForWriteAsync("rotation: hosts confirmed", CancellationToken.None).ConfigureAwait(false);
                return await resume(new RotationExecutor(locked.Store, host.ExecutorOptions(locked, manifest)), CancellationToken.None).ConfigureAwait(false);
            },
            Note = Options.Log,
        });
        try
        {
            var outcome = await wait.RunAsync(new RotationOutcome(pause.JournalId, RotationState.AwaitingHosts, null, []), pause.Until, _shutdown.Token).ConfigureAwait(false);
            foreach (var c in pause.Credentials) _status.CountRotation(c, Result(outcome.State));
            Options.Log?.Invoke($"rotation journal {pause.JournalId} ({string.Join(", ", pause.Credentials)}): the hosts confirmed, {Result(outcome.State)}");
        }
        catch (OperationCanceledException)
        {
            // Shutting down: the journal stays paused; the next server's first pass finds it and waits out the rest.
        }
        catch (KeywardException e) when (e.First.Code == ErrorCodes.RotationAwaitingHosts)
        {
            foreach (var c in pause.Credentials) _status.CountRotation(c, "host-deadline");
            Options.Warn(e.First);
        }
        catch (KeywardException e)
        {
            foreach (var c in pause.Credentials) _status.CountRotation(c, "failed");
            Options.Warn(ErrorCodes.ControllerStepFailed.With($"rotation: {e.First.Message}"));
        }
#pragma warning disable CA1031 // the wait runs beside the loop: report and let the next pass find the journal
        catch (Exception e)
#pragma warning restore CA1031
        {
            Options.Warn(ErrorCodes.ControllerStepFailed.With($"rotation: waiting for hosts: {e.GetType().Name}: {e.Message}"));
        }
    }

    private void Record(ApplyPlan plan, ApplyOutcome outcome)
    {
        foreach (var c in plan.Credentials.Where(c => c.Action is ChangeAction.Update && !c.ViaRotation))
            _status.CountRotation(c.Credential.Name, "renewed");
        foreach (var name in outcome.Rotated)
            _status.CountRotation(name, outcome.Rotation is { } rotation ? Result(rotation.State) : "committed");
        foreach (var s in plan.Sinks.Where(s => s.Action == ChangeAction.Update))
            _status.SinkRepairs.AddOrUpdate(s.Sink.Name, 1, (_, n) => n + 1);
        var r = outcome.Report;
        if (r.CredentialsWritten > 0 || r.FilesWritten > 0 || outcome.Rotated.Count > 0)
            Options.Log?.Invoke($"applied: {r.CredentialsWritten} credential version(s) stored, {r.FilesWritten} file(s) written" +
                (outcome.Rotated.Count > 0 ? $", rotated {string.Join(", ", outcome.Rotated)}" : ""));
        foreach (var h in r.Hooks.Where(h => !h.Success))
            Options.Warn(ErrorCodes.HookFailed.With($"sink '{h.Sink}': {h.Hook} failed: {h.Message}"));
    }

    private static string Result(RotationState state) => state switch
    {
        RotationState.Committed => "committed",
        RotationState.AwaitingContinue => "awaiting-continue",
        RotationState.AwaitingHosts => "awaiting-hosts",
        _ => "aborted",
    };

    private void Problem(List<string> problems, string step, string message)
    {
        var until = _backoff.Failed(step, message);
        var text = $"{step}: {message} (retried after {until:yyyy-MM-dd HH:mm:ss}Z)";
        problems.Add(text);
        Options.Warn(ErrorCodes.ControllerStepFailed.With(text));
    }
}
