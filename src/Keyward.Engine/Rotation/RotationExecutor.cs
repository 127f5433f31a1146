using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Keyward.Core.Errors;
using Keyward.Core.Graph;
using Keyward.Core.Manifest;
using Keyward.Core.Rotation;
using Keyward.Core.Secrets;
using Keyward.Crypto.Attic;
using Keyward.Crypto.Nix;
using Keyward.Engine.Agent;
using Keyward.Sinks;
using Keyward.Store.Contract;

using Keyward.Engine.Delivery;
using Keyward.Engine.Minting;

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
/// Executes a rotation plan through the store's write-ahead journal. Every step is journalled as <c>started</c> before its
/// effect and <c>done</c> after it; every effect is idempotent (a staged version is reused, files are written atomically
/// and only when their content differs), so <see cref="ResumeAsync"/> simply replays the steps not yet done, and
/// <see cref="AbortAsync"/> restores the versions active when the rotation started, retires the new ones and re-renders
/// every sink the rotation touched.
/// </summary>
public sealed class RotationExecutor(ICredentialStore store, RotationExecutorOptions options)
{
    private readonly KeywardManifest _m = options.Manifest;
    private readonly List<string> _log = [];
    private IReadOnlyList<HostGap> _awaiting = [];
    private SinkDelivery? _delivery;
    private CredentialMinter? _minter;

    private CredentialMinter Minter => _minter ??= new CredentialMinter(options.Time);

    private EngineOptions? _engine;
    private LiveSecrets? _live;

    private EngineOptions Engine => _engine ??= new EngineOptions
    {
        Root = options.Root, Time = options.Time, Warn = e => options.Warn?.Invoke(e.Message), GetEnv = options.GetEnv,
        Kubeconfig = options.Kubeconfig, LiveSecrets = options.LiveSecrets, Progress = options.Progress,
    };

    /// <summary>The same delivery path apply uses: --root, persistence roots, relative links, owner fallback.</summary>
    private SinkDelivery Delivery => _delivery ??= new SinkDelivery(Engine, store.Fingerprint);

    private LiveSecrets Live => _live ??= new LiveSecrets(Engine);

    private DateTimeOffset Now => options.Time.GetUtcNow();

    // ------------------------------------------------------------------ entry points

    /// <summary>Plans and runs a rotation. Refuses while another rotation is open.</summary>
    public async Task<RotationOutcome> StartAsync(RotationIntent intent, CancellationToken ct)
    {
        var open = await OpenRotationAsync(ct).ConfigureAwait(false);
        if (open is not null)
            throw ErrorCodes.RotationInProgress.Exception($"rotation journal {open.Id} ({open.Status}) is still open");
        var facts = await StoreFactsReader.ReadAsync(store, ct).ConfigureAwait(false);
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
        Progress($"rotation journal {id}: {plan.Steps.Count} steps for {string.Join(", ", intent.Credentials)}");
        var state = await RunStepsAsync(id, RotationStatus.Open, journal, new HashSet<int>(), autoContinue, ct).ConfigureAwait(false);
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
        await ReMintForeignTokensAsync(journal, done, ct).ConfigureAwait(false);
        Progress($"resuming rotation journal {open.Id}: {done.Count} of {journal.Steps.Count} steps already done");
        var state = await RunStepsAsync(open.Id, status, journal, done, allowPhaseTwo, ct).ConfigureAwait(false);
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
        var ctx = new StepContext(journal, new HashSet<int>());
        foreach (var (name, old) in journal.Snapshot)
        {
            var versions = await store.GetVersionsAsync(name, ct).ConfigureAwait(false);
            var active = versions.FirstOrDefault(v => v.State == VersionState.Active);
            if (old > 0 && active?.Version != old)
                await store.SetStateAsync(name, old, VersionState.Active, ct).ConfigureAwait(false);
            foreach (var v in versions.Where(v => v.Version > old && v.State != VersionState.Retired))
            {
                await store.SetStateAsync(name, v.Version, VersionState.Retired, ct).ConfigureAwait(false);
                await RevokeLedgerAsync(name, v.Version, ct).ConfigureAwait(false);
                await AuditAsync("retire", name, v.Version, v.Fingerprint, "rotation aborted", ct).ConfigureAwait(false);
            }
            if (old > 0 && active?.Version != old)
                await AuditAsync("restore", name, old, null, $"rotation journal {open.Id} aborted", ct).ConfigureAwait(false);
        }
        options.Faults.At("abort-before-render");
        var hooks = new List<Hook>();
        foreach (var sinkName in journal.Steps.Where(s => s.Kind == NodeKind.Sink).Select(s => s.Target).Distinct(StringComparer.Ordinal))
        {
            var sink = _m.FindSink(sinkName);
            if (sink is null) continue;
            if (await WriteSinkAsync(sink, ctx, retiringTrust: true, ct).ConfigureAwait(false) != FileWriteOutcome.Unchanged)
                hooks.AddRange(sink.OnChange);
        }
        options.Faults.At("abort-before-hooks");
        foreach (var hook in hooks.DistinctBy(GraphBuilder.HookName))
        {
            var r = await options.RunHook(hook, ct).ConfigureAwait(false);
            if (!r.Success) options.Warn?.Invoke($"hook '{GraphBuilder.HookName(hook)}' failed during the roll-back: {r.Message}");
            else Progress($"ran {GraphBuilder.HookName(hook)}");
        }
        await store.AppendJournalStepAsync(open.Id, "abort", "*", RotationStatus.Done, null, Now, ct).ConfigureAwait(false);
        await store.SetJournalStatusAsync(open.Id, JournalStatuses.Aborted, ct).ConfigureAwait(false);
        Progress($"rotation journal {open.Id} aborted: the versions active before it are active again");
        return new RotationOutcome(open.Id, RotationState.Aborted, null, _log);
    }

    /// <summary>The open rotation journal, if any.</summary>
    public async Task<JournalRecord?> OpenRotationAsync(CancellationToken ct) =>
        (await store.OpenJournalsAsync(ct).ConfigureAwait(false)).FirstOrDefault(j => j.Operation == RotationStatus.Operation);

    // ------------------------------------------------------------------ the step loop

    private async Task<RotationState> RunStepsAsync(long id, string status, JournalIntent journal, HashSet<int> done, bool allowPhaseTwo, CancellationToken ct)
    {
        var ctx = new StepContext(journal, done);
        var blockChecked = false;
        foreach (var step in journal.Steps.OrderBy(s => s.Order))
        {
            if (done.Contains(step.Order)) continue;
            if (step.Phase == RotationPhase.SwitchSigning && !allowPhaseTwo)
            {
                await store.SetJournalStatusAsync(id, RotationStatus.AwaitingContinue, ct).ConfigureAwait(false);
                Progress("phase one done: every trusting sink now lists the old and the new public key; run `keyward rotate --continue` once every consumer has it");
                return RotationState.AwaitingContinue;
            }
            // The whole run of deliver steps is checked once, at its first step (each step still re-checks its own host):
            // checking the rest of the run again at every step made 1,000 hosts cost a million bundle comparisons.
            if (step.Action != StepAction.Deliver) blockChecked = false;
            else if (!blockChecked)
            {
                if (await BlockGapsAsync(store, _m, journal, done, step, Now, ct).ConfigureAwait(false) is { Count: > 0 } gaps)
                {
                    await PauseForHostsAsync(id, status, journal, step, gaps, ct).ConfigureAwait(false);
                    return RotationState.AwaitingHosts;
                }
                blockChecked = true;
            }
            var data = string.Create(CultureInfo.InvariantCulture, $"{{\"order\":{step.Order}}}");
            await store.AppendJournalStepAsync(id, step.Action.Name(), step.Target, RotationStatus.Started, data, Now, ct).ConfigureAwait(false);
            options.Faults.At($"step-{step.Order}-before");
            try
            {
                await ExecuteAsync(step, ctx, ct).ConfigureAwait(false);
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
            done.Add(step.Order);
        }
        await store.SetJournalStatusAsync(id, JournalStatuses.Committed, ct).ConfigureAwait(false);
        Progress($"rotation journal {id} committed");
        return RotationState.Committed;
    }

    private async Task ExecuteAsync(JournalPlanStep step, StepContext ctx, CancellationToken ct)
    {
        // A host's sink is written by that host's agent (it long-polls and receives the new version), never here.
        if (step.Kind == NodeKind.Sink && _m.FindSink(step.Target) is null && _m.HostSinks.FirstOrDefault(s => s.Name == step.Target) is { } hostSink)
        {
            Progress($"{step.Order,3}. {step.Action.Name()} {step.Target}: delivered by the agent{GraphBuilder.OnHosts(hostSink)}");
            return;
        }
        switch (step.Action)
        {
            case StepAction.Stage or StepAction.ReMint or StepAction.ReImport:
                await StageAsync(_m.FindCredential(step.Target)!, ctx, ct).ConfigureAwait(false);
                break;
            case StepAction.ReRender or StepAction.PropagatePublicKey:
                await WriteSinkAsync(Sink(step.Target), ctx, retiringTrust: false, ct).ConfigureAwait(false);
                break;
            case StepAction.RetirePublicKey:
                ctx.RetiringTrust.Add((step.Target, step.Credential));
                await WriteSinkAsync(Sink(step.Target), ctx, retiringTrust: false, ct).ConfigureAwait(false);
                break;
            case StepAction.Restart or StepAction.Reload or StepAction.Run:
                await RunHookAsync(step.Target, ct).ConfigureAwait(false);
                break;
            case StepAction.Verify:
                await VerifyAsync(step, ctx, ct).ConfigureAwait(false);
                break;
            case StepAction.SwitchSigning:
                await SwitchSigningAsync(step, ctx, ct).ConfigureAwait(false);
                break;
            case StepAction.Activate:
                await ActivateAsync(step.Target, ctx, ct).ConfigureAwait(false);
                break;
            case StepAction.Deliver:
                await ConfirmDeliveredAsync(step, ctx, ct).ConfigureAwait(false);
                break;
            case StepAction.Retire:
                await RetireAsync(step.Target, ctx, ct).ConfigureAwait(false);
                break;
            case StepAction.Revoke:
                foreach (var t in (await store.ListLedgerAsync(ct).ConfigureAwait(false)).Where(t => t.Credential == step.Target && t.RevokedAt is null))
                    await store.RevokeTokenAsync(t.TokenId, Now, ct).ConfigureAwait(false);
                await AuditAsync("revoke", step.Target, null, null, "its signing secret rotated", ct).ConfigureAwait(false);
                break;
            default:
                throw new InvalidOperationException($"unknown step action {step.Action}");
        }
        Progress($"{step.Order,3}. {step.Action.Name()} {step.Target}");
    }

    // ------------------------------------------------------------------ versions

    /// <summary>The version this rotation created for <paramref name="name"/> (newer than the snapshot, not retired).</summary>
    private async Task<CredentialVersion?> NewVersionAsync(string name, StepContext ctx, CancellationToken ct)
    {
        if (!ctx.Journal.Snapshot.TryGetValue(name, out var old)) return null;
        return (await store.GetVersionsAsync(name, ct).ConfigureAwait(false))
            .Where(v => v.Version > old && v.State != VersionState.Retired).MaxBy(v => v.Version);
    }

    /// <summary>The value sinks and signers should use now: the rotation's new version for single-phase credentials
    /// (staged or active), the active version for everything else (so a cache key switches only when activated).</summary>
    private async Task<(Secret Value, CredentialVersion Version)?> CurrentAsync(string name, StepContext ctx, CancellationToken ct)
    {
        var c = _m.FindCredential(name);
        if (c is not NixSigningKeyCredential && await NewVersionAsync(name, ctx, ct).ConfigureAwait(false) is { } nv)
            return (await store.RevealAsync(name, nv.Version, ct).ConfigureAwait(false), nv);
        if (await store.GetActiveAsync(name, ct).ConfigureAwait(false) is { } active)
            return (await store.RevealAsync(name, active.Version, ct).ConfigureAwait(false), active);
        return null;
    }

    private async Task StageAsync(Credential c, StepContext ctx, CancellationToken ct)
    {
        while (await NewVersionAsync(c.Name, ctx, ct).ConfigureAwait(false) is { } staged)
        {
            if (c is not AtticTokenCredential t || await SignedByCurrentAsync(t, staged, ctx, ct).ConfigureAwait(false)) return; // staged before a crash: reuse
            await ForgetForeignAsync(t.Name, staged, ct).ConfigureAwait(false);
        }
        var now = Now;
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        DateTimeOffset? expires = null;
        Secret value;
        LedgerEntry? ledger = null;
        string origin = "rotation";
        switch (c)
        {
            case SecretCredential or RsaKeyCredential:
            {
                var generated = Minter.Generate(c);
                value = generated.Value;
                foreach (var (k, v) in generated.Metadata) metadata[k] = v;
                break;
            }
            case NixSigningKeyCredential k:
            {
                var active = await store.GetActiveAsync(k.Name, ct).ConfigureAwait(false);
                var name = active is null ? k.KeyName : RotationPlanner.NextKeyName(active.Metadata.GetValueOrDefault(RotationPlanner.KeyNameMetadata) ?? k.KeyName);
                using var key = NixSecretKey.Generate(name);
                value = key.ToSecret();
                metadata[RotationPlanner.KeyNameMetadata] = name;
                metadata[VersionMetadata.PublicKeyKey] = key.PublicKey.ToString();
                break;
            }
            case AtticTokenCredential t:
            {
                var signer = await CurrentAsync(t.SignedBy, ctx, ct).ConfigureAwait(false)
                    ?? throw ErrorCodes.RotationStepFailed.Exception($"signer '{t.SignedBy}' of '{t.Name}' has no value");
                // The same minting as apply: claims, ledger row and metadata cannot differ between the two paths.
                var minted = Minter.MintToken(t, new SignerValue(_m.FindCredential(t.SignedBy)!, signer.Value, signer.Version.Version), 0, store.Fingerprint);
                value = minted.Value;
                expires = minted.ExpiresAt;
                ledger = minted.Ledger;
                foreach (var (k, v) in minted.Metadata) metadata[k] = v;
                break;
            }
            case ExternalCredential x when options.ServiceTokens?.Handles(x) == true:
            {
                var stored = await store.GetActiveAsync(x.Name, ct).ConfigureAwait(false)
                    ?? throw ErrorCodes.RotationStepFailed.Exception($"'{x.Name}' has no stored token to create the next one with", "run `keyward bootstrap` first");
                using var held = await store.RevealAsync(x.Name, stored.Version, ct).ConfigureAwait(false);
                var created = await options.ServiceTokens.CreateAsync(x, held, ct).ConfigureAwait(false);
                value = created.Value;
                expires = created.ExpiresAt;
                foreach (var (k, v) in created.Metadata) metadata[k] = v;
                break;
            }
            case ExternalCredential x:
                value = ReadExternal(x);
                origin = "import";
                if (await store.GetActiveAsync(x.Name, ct).ConfigureAwait(false) is { } current && current.Fingerprint == store.Fingerprint(value.Reveal()))
                    throw ErrorCodes.RotationStepFailed.Exception($"the source of '{x.Name}' still holds the current value ({current.Fingerprint})",
                        "create a new token at the provider and put it in the source first");
                break;
            default:
                throw new InvalidOperationException($"cannot stage {c.Kind.Name()}");
        }
        using (value)
        {
            var put = await store.PutAsync(new NewVersion(c.Name, c.Kind.Name(), value, VersionState.Staged, now, expires, origin, metadata), ct).ConfigureAwait(false);
            if (ledger is not null) await store.RecordTokenAsync(ledger with { Version = put.Version }, ct).ConfigureAwait(false);
            await AuditAsync(origin == "import" ? "import" : c is ExternalCredential ? "create" : "mint", c.Name, put.Version, put.Fingerprint,
                c is ExternalCredential && origin != "import" ? "created through its service's API, staged by rotation" : "staged by rotation", ct).ConfigureAwait(false);
        }
    }

    /// <summary>--resume reuses what a crashed run staged, but a token version newer than the snapshot that does not verify
    /// against the signer this rotation uses (minted meanwhile by another writer with the old secret) would fail the
    /// verify step on every resume: it is retired and revoked, and its re-mint step and every step after it run again.</summary>
    private async Task ReMintForeignTokensAsync(JournalIntent journal, HashSet<int> done, CancellationToken ct)
    {
        var ctx = new StepContext(journal, done);
        foreach (var step in journal.Steps.Where(s => s.Action is StepAction.Stage or StepAction.ReMint && done.Contains(s.Order)).OrderBy(s => s.Order))
        {
            if (_m.FindCredential(step.Target) is not AtticTokenCredential t) continue;
            var again = false;
            while (await NewVersionAsync(t.Name, ctx, ct).ConfigureAwait(false) is { } staged && !await SignedByCurrentAsync(t, staged, ctx, ct).ConfigureAwait(false))
            {
                await ForgetForeignAsync(t.Name, staged, ct).ConfigureAwait(false);
                again = true;
            }
            if (again) done.RemoveWhere(o => o >= step.Order);
        }
    }

    /// <summary>True when <paramref name="version"/> of <paramref name="t"/> verifies against the signer value this rotation
    /// uses now — the verify step's own check.</summary>
    private async Task<bool> SignedByCurrentAsync(AtticTokenCredential t, CredentialVersion version, StepContext ctx, CancellationToken ct)
    {
        var signer = await CurrentAsync(t.SignedBy, ctx, ct).ConfigureAwait(false);
        if (signer is null) return true; // nothing to check against: the mint or verify step says so
        using var signerValue = signer.Value.Value;
        using var token = await store.RevealAsync(t.Name, version.Version, ct).ConfigureAwait(false);
        using var key = AtticSigningKey.ForSigner(_m.FindCredential(t.SignedBy)!.Kind, signerValue, t.SignedBy);
        try
        {
            AtticTokens.Verify(token.RevealString(), key, options.Time, t.Issuer, t.Audiences.Count > 0 ? t.Audiences : null);
            return true;
        }
        catch (KeywardException)
        {
            return false;
        }
    }

    private async Task ForgetForeignAsync(string name, CredentialVersion version, CancellationToken ct)
    {
        await store.SetStateAsync(name, version.Version, VersionState.Retired, ct).ConfigureAwait(false);
        await RevokeLedgerAsync(name, version.Version, ct).ConfigureAwait(false);
        await AuditAsync("retire", name, version.Version, version.Fingerprint, "not signed by the rotation's signer; minted again", ct).ConfigureAwait(false);
        Progress($"{name} version {version.Version} is not signed by the rotation's signer: retired, minted again");
    }

    private Secret ReadExternal(ExternalCredential x)
    {
        if (x.Source is null)
            throw ErrorCodes.NotRotatable.Exception($"'{x.Name}' has no source; `keyward bootstrap` creates its token");
        var importer = new ExternalImporter(Path.GetDirectoryName(Path.GetFullPath(_m.File)) ?? ".", options.GetEnv, options.Root, options.SopsIdentityFiles);
        try
        {
            return importer.Read(x) ?? throw ErrorCodes.RotationStepFailed.Exception($"the source of '{x.Name}' holds the bootstrap placeholder, not a token",
                "put the new token in its source (or run `keyward bootstrap`), then resume");
        }
        catch (KeywardException e) when (e.First.Code == ErrorCodes.ExternalSourceMissing)
        {
            throw ErrorCodes.RotationStepFailed.Exception($"the source of '{x.Name}' is missing or empty", "put the new token in its source, then resume");
        }
    }

    private async Task ActivateAsync(string name, StepContext ctx, CancellationToken ct)
    {
        var nv = await NewVersionAsync(name, ctx, ct).ConfigureAwait(false);
        if (nv is null || nv.State == VersionState.Active) return;
        await store.SetStateAsync(name, nv.Version, VersionState.Active, ct).ConfigureAwait(false);
        await AuditAsync("rotate", name, nv.Version, nv.Fingerprint, $"replaces version {ctx.Journal.Snapshot[name]} ({ctx.Journal.Reason})", ct).ConfigureAwait(false);
    }

    private async Task RetireAsync(string name, StepContext ctx, CancellationToken ct)
    {
        var old = ctx.Journal.Snapshot.GetValueOrDefault(name);
        if (old == 0) return;
        var keep = ctx.Journal.OverlapSeconds.ContainsKey(name) && _m.FindCredential(name) is not AtticTokenCredential;
        var version = (await store.GetVersionsAsync(name, ct).ConfigureAwait(false)).FirstOrDefault(v => v.Version == old);
        if (version is null) return;
        if (!keep && version.State != VersionState.Retired)
        {
            await store.SetStateAsync(name, old, VersionState.Retired, ct).ConfigureAwait(false);
            await AuditAsync("retire", name, old, version.Fingerprint, "rotated", ct).ConfigureAwait(false);
        }
        if (_m.FindCredential(name) is ExternalCredential x && options.ServiceTokens?.Handles(x) == true && await NewVersionAsync(name, ctx, ct).ConfigureAwait(false) is { } nv)
        {
            using var retired = await store.RevealAsync(name, old, ct).ConfigureAwait(false);
            using var current = await store.RevealAsync(name, nv.Version, ct).ConfigureAwait(false);
            await options.ServiceTokens.DeleteAsync(x, retired, current, ct).ConfigureAwait(false);
        }
        if (_m.FindCredential(name) is AtticTokenCredential && !ctx.Journal.OverlapSeconds.ContainsKey(name))
            await RevokeLedgerAsync(name, old, ct).ConfigureAwait(false);
    }

    private async Task RevokeLedgerAsync(string name, int version, CancellationToken ct)
    {
        foreach (var t in (await store.ListLedgerAsync(ct).ConfigureAwait(false)).Where(t => t.Credential == name && t.Version == version && t.RevokedAt is null))
            await store.RevokeTokenAsync(t.TokenId, Now, ct).ConfigureAwait(false);
    }

    // ------------------------------------------------------------------ sinks

    private Sink Sink(string name) => _m.FindSink(name) ?? throw ErrorCodes.JournalCorrupt.Exception($"the journal names sink '{name}', which the manifest no longer declares");

    /// <summary>Renders <paramref name="sink"/> from the current values. Trust lists of a cache key in rollover carry the
    /// old and the new public key until that sink's retire-public-key step (or for the overlap after it).</summary>
    internal async Task<byte[]> RenderAsync(Sink sink, StepContext ctx, bool retiringTrust, CancellationToken ct)
    {
        var (resolved, trust) = await RenderInputsAsync(sink, ctx, retiringTrust, ct).ConfigureAwait(false);
        return SinkDelivery.Render(sink, resolved, trust);
    }

    private async Task<(Dictionary<string, ResolvedCredential>, Dictionary<string, IReadOnlyList<string>>)> RenderInputsAsync(Sink sink, StepContext ctx,
        bool retiringTrust, CancellationToken ct)
    {
        var resolved = new Dictionary<string, ResolvedCredential>(StringComparer.Ordinal);
        foreach (var e in sink.Entries)
        {
            if (resolved.ContainsKey(e.Credential) || _m.FindCredential(e.Credential) is not { } c) continue;
            var cur = await CurrentAsync(c.Name, ctx, ct).ConfigureAwait(false);
            resolved[c.Name] = new ResolvedCredential(c, cur?.Value, cur is null ? null : CredentialValues.PublicKeyOf(c, cur.Value.Value));
        }
        var trust = await RotationTrust.ForSinkAsync(store, _m, sink, ctx.Journal,
            key => retiringTrust || ctx.Retired(sink.Name, key), Now, ct).ConfigureAwait(false);
        return (resolved, trust);
    }

    private async Task<FileWriteOutcome> WriteSinkAsync(Sink sink, StepContext ctx, bool retiringTrust, CancellationToken ct)
    {
        var (resolved, trust) = await RenderInputsAsync(sink, ctx, retiringTrust, ct).ConfigureAwait(false);
        var request = Delivery.Request(sink, resolved, trust);
        try
        {
            var outcome = Delivery.Write(request);
            await store.PutSinkAsync(new SinkRecord(sink.Name, request.Path, store.Fingerprint(request.Content), Now), ct).ConfigureAwait(false);
            // A live Secret follows its file: the cluster gets the new values in the same step.
            if (sink.Kubernetes is { Live: true } && await Live.EnsureAsync(sink, resolved, ct).ConfigureAwait(false) && outcome == FileWriteOutcome.Unchanged)
                outcome = FileWriteOutcome.Updated;
            return outcome;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(request.Content);
        }
    }

    private async Task RunHookAsync(string hookName, CancellationToken ct)
    {
        var hook = _m.Sinks.SelectMany(s => s.OnChange).FirstOrDefault(h => GraphBuilder.HookName(h) == hookName)
            ?? throw ErrorCodes.JournalCorrupt.Exception($"the journal names hook '{hookName}', which the manifest no longer declares");
        var r = await options.RunHook(hook, ct).ConfigureAwait(false);
        if (!r.Success) throw ErrorCodes.RotationStepFailed.Exception($"hook '{hookName}' failed: {r.Message}");
    }

    // ------------------------------------------------------------------ verification

    private async Task VerifyAsync(JournalPlanStep step, StepContext ctx, CancellationToken ct)
    {
        switch (step.Kind)
        {
            case NodeKind.Sink:
            {
                var sink = Sink(step.Target);
                var (resolved, trust) = await RenderInputsAsync(sink, ctx, retiringTrust: false, ct).ConfigureAwait(false);
                var found = Delivery.Inspect(sink, resolved, trust);
                if (found.State != SinkState.Current)
                    throw ErrorCodes.RotationVerifyFailed.Exception($"sink '{sink.Name}' ({found.TargetPath}) does not carry the new values: {found.Summary}");
                if (sink.Kubernetes is { Live: true })
                {
                    var live = await Live.InspectAsync(sink, resolved, ct).ConfigureAwait(false);
                    if (live.State is not (LiveState.InSync or LiveState.NotHere))
                        throw ErrorCodes.RotationVerifyFailed.Exception($"sink '{sink.Name}': {live.Message}");
                    Progress($"     {sink.Name}: {live.Message}");
                }
                break;
            }
            case NodeKind.Credential when _m.FindCredential(step.Target) is NixSigningKeyCredential k:
            {
                var nv = await NewVersionAsync(k.Name, ctx, ct).ConfigureAwait(false);
                var pk = (nv is null ? null : VersionMetadata.Of(nv).PublicKey) ?? throw ErrorCodes.RotationVerifyFailed.Exception($"no new key staged for '{k.Name}'");
                foreach (var s in _m.Sinks.Where(s => TrustLists.Carries(s, k.Name)))
                {
                    var path = Delivery.TargetPath(s);
                    var text = File.Exists(path) ? await File.ReadAllTextAsync(path, ct).ConfigureAwait(false) : "";
                    if (!text.Contains(pk, StringComparison.Ordinal))
                        throw ErrorCodes.RotationVerifyFailed.Exception($"sink '{s.Name}' does not trust the new key {pk}");
                }
                break;
            }
            case NodeKind.Check when step.Target.StartsWith("signature ", StringComparison.Ordinal):
            {
                var t = (AtticTokenCredential)_m.FindCredential(step.Credential!)!;
                var token = await CurrentAsync(t.Name, ctx, ct).ConfigureAwait(false);
                var signer = await CurrentAsync(t.SignedBy, ctx, ct).ConfigureAwait(false);
                if (token is null || signer is null) throw ErrorCodes.RotationVerifyFailed.Exception($"'{t.Name}' or its signer has no value");
                using var key = AtticSigningKey.ForSigner(_m.FindCredential(t.SignedBy)!.Kind, signer.Value.Value, t.SignedBy);
                try
                {
                    AtticTokens.Verify(token.Value.Value.RevealString(), key, options.Time, t.Issuer, t.Audiences.Count > 0 ? t.Audiences : null);
                }
                catch (KeywardException ex)
                {
                    throw ErrorCodes.RotationVerifyFailed.Exception($"'{t.Name}' does not verify against {t.SignedBy} version {signer.Value.Version.Version}: {ex.First.Message}");
                }
                break;
            }
            default:
            {
                var verdict = options.Services is null ? null
                    : await options.Services.VerifyAsync(step.Target, (name, c) => CurrentAsync(name, ctx, c), ct).ConfigureAwait(false);
                switch (verdict?.Status)
                {
                    case null:
                        Progress($"     {step.Target}: no live service to ask (run `keyward check` to verify)");
                        break;
                    case VerdictStatus.Verified:
                        Progress($"     {step.Target}: verified: {verdict.Message}");
                        break;
                    case VerdictStatus.Unverified:
                        _log.Add($"     {step.Target}: NOT VERIFIED: {verdict.Message}");
                        options.Warn?.Invoke($"{step.Target} could not be verified during the rotation ({verdict.Message}): run `keyward check` once it is reachable");
                        break;
                    default:
                        throw ErrorCodes.RotationVerifyFailed.Exception($"{step.Target}: {verdict.Message}");
                }
                break;
            }
        }
    }

    private async Task SwitchSigningAsync(JournalPlanStep step, StepContext ctx, CancellationToken ct)
    {
        var service = _m.Services.FirstOrDefault(s => s.Name == step.Target);
        var cred = step.Credential!;
        if (service is null || options.Services is null)
        {
            options.Warn?.Invoke($"set the signing keypair of the caches of '{step.Target}' that use '{cred}' by hand (no service adapter); the new key is `keyward get {cred}`");
            return;
        }
        var nv = await NewVersionAsync(cred, ctx, ct).ConfigureAwait(false)
            ?? throw ErrorCodes.RotationStepFailed.Exception($"no new version of '{cred}' to switch to");
        using var value = await store.RevealAsync(cred, nv.Version, ct).ConfigureAwait(false);
        await options.Services.SwitchCacheKeyAsync(service, cred, value, ct).ConfigureAwait(false);
    }

    // ------------------------------------------------------------------ hosts

    /// <summary>The sinks of <paramref name="deliver"/>'s host that the journal's steps of the same phase touch.</summary>
    private static List<string> SinksAwaited(KeywardManifest manifest, JournalIntent journal, JournalPlanStep deliver)
    {
        var mine = manifest.SinksOfHost(deliver.Target).Select(s => s.Name).ToHashSet(StringComparer.Ordinal);
        return [.. journal.Steps.Where(s => s.Kind == NodeKind.Sink && s.Phase == deliver.Phase && mine.Contains(s.Target)).Select(s => s.Target).Distinct(StringComparer.Ordinal)];
    }

    /// <summary>The hosts of the run of deliver steps starting at <paramref name="first"/> (not yet done) that have not
    /// confirmed their sinks: every host that misses is named, not only the first.</summary>
    private static Task<IReadOnlyList<HostGap>> BlockGapsAsync(ICredentialStore store, KeywardManifest manifest, JournalIntent journal, HashSet<int> done,
        JournalPlanStep first, DateTimeOffset now, CancellationToken ct)
    {
        var block = journal.Steps.Where(s => s.Order >= first.Order).OrderBy(s => s.Order).TakeWhile(s => s.Action == StepAction.Deliver)
            .Where(s => !done.Contains(s.Order));
        return HostConfirmations.GapsAsync(store, manifest, block.Select(s => (s.Target, (IReadOnlyCollection<string>)SinksAwaited(manifest, journal, s))).ToList(), now, ct);
    }

    /// <summary>Leaves the journal open in <c>awaiting-hosts</c>, naming the hosts (journalled and audited once per pause,
    /// not on every re-check).</summary>
    private async Task PauseForHostsAsync(long id, string status, JournalIntent journal, JournalPlanStep step, IReadOnlyList<HostGap> gaps, CancellationToken ct)
    {
        _awaiting = gaps;
        var names = string.Join(", ", gaps.Select(g => g.ToString()));
        if (status != RotationStatus.AwaitingHosts)
        {
            await store.SetJournalStatusAsync(id, RotationStatus.AwaitingHosts, ct).ConfigureAwait(false);
            var data = string.Create(CultureInfo.InvariantCulture, $"{{\"order\":{step.Order}}}");
            await store.AppendJournalStepAsync(id, step.Action.Name(), step.Target, RotationStatus.Waiting, data, Now, ct).ConfigureAwait(false);
            await AuditAsync("awaiting-hosts", step.Credential ?? string.Join(",", journal.Names), null, null,
                $"rotation journal {id} waits for hosts to confirm: {names}", ct).ConfigureAwait(false);
        }
        Progress($"{step.Order,3}. {step.Action.Name()} {step.Target}: waiting for host(s) to confirm: {names}; the old version stays until they do");
    }

    /// <summary>The deliver step itself: its host has confirmed every affected sink (checked again here, under the step's
    /// journal entry), audited per sink.</summary>
    private async Task ConfirmDeliveredAsync(JournalPlanStep step, StepContext ctx, CancellationToken ct)
    {
        var sinks = SinksAwaited(_m, ctx.Journal, step);
        var gaps = await HostConfirmations.GapsAsync(store, _m, [(step.Target, sinks)], Now, ct).ConfigureAwait(false);
        if (gaps.Count > 0)
            throw ErrorCodes.RotationAwaitingHosts.Exception($"host {gaps[0]} has not confirmed the new version");
        if (_m.FindHost(step.Target) is null)
        {
            Progress($"     host {step.Target} is no longer declared: not waited for");
            return;
        }
        foreach (var sink in sinks)
            await AuditAsync("host-confirmed", sink, null, null, $"the agent on host {step.Target} confirmed what the server renders now", ct).ConfigureAwait(false);
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
                        gaps = await BlockGapsAsync(state.Store, manifest, journal, done, next, time.GetUtcNow(), ct).ConfigureAwait(false);
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

    private Task AuditAsync(string action, string credential, int? version, string? fingerprint, string? detail, CancellationToken ct) =>
        store.AppendAuditAsync(new AuditEvent(Now, options.Actor, action, credential, version, fingerprint, detail), ct);

    private void Progress(string line)
    {
        _log.Add(line);
        options.Progress?.Invoke(line);
    }

    internal sealed class StepContext(JournalIntent journal, HashSet<int> done)
    {
        public JournalIntent Journal { get; } = journal;
        /// <summary>(sink, key) pairs whose old public half this run has dropped (a null key: every key of the sink).</summary>
        public HashSet<(string Sink, string? Key)> RetiringTrust { get; } = [];

        public bool Retired(string sink, string key) =>
            RetiringTrust.Contains((sink, key)) || RetiringTrust.Contains((sink, null)) || RotationTrust.RetiredTrust(Journal, done, sink, key);
    }
}
