using System.Globalization;
using Keyward.Core.Errors;
using Keyward.Core.Manifest;
using Keyward.Core.Secrets;
using Keyward.Engine.Delivery;
using Keyward.Core.Rotation;
using Keyward.Engine.Minting;
using Keyward.Engine.Rotation;
using Keyward.Sinks;
using Keyward.Sinks.Hooks;
using Keyward.Core.Store;

namespace Keyward.Engine.Apply;

/// <summary>
/// <c>keyward plan</c> and <c>keyward apply</c>: compare the manifest with the store and the files on disk, say what
/// will change and why, then make it so. Planning reads but never writes; execution is idempotent (a second run is
/// all "unchanged" and writes nothing) and writes every file atomically.
/// </summary>
public sealed class ApplyEngine
{
    private readonly ICredentialStore _store;
    private readonly EngineOptions _options;
    private readonly CredentialMinter _minter;
    private readonly SinkDelivery _delivery;
    private readonly LiveSecrets _live;

    public ApplyEngine(ICredentialStore store, EngineOptions options)
    {
        _store = store;
        _options = options;
        _minter = new CredentialMinter(options.Time);
        _delivery = new SinkDelivery(options, store.Fingerprint);
        _live = new LiveSecrets(options);
    }

    public SinkDelivery Delivery => _delivery;

    /// <summary>Reads what planning needs — open journals, the version list and ledger, the external sources, the files
    /// on disk and live Secrets — and hands it to <see cref="ApplyPlanner"/>, which decides. Reads only.</summary>
    public Task<ApplyPlan> PlanAsync(KeywardManifest manifest, CancellationToken cancellationToken) => PlanAsync(manifest, keepValues: false, cancellationToken);

    /// <param name="keepValues">Keep the active values revealed to compare sinks with in <see cref="ApplyPlan.Inspections"/>
    /// (<see cref="PlannedInspections.Values"/>; the caller disposes them) instead of disposing them when planning ends.</param>
    public async Task<ApplyPlan> PlanAsync(KeywardManifest manifest, bool keepValues, CancellationToken cancellationToken)
    {
        var now = _options.Time.GetUtcNow();
        var journals = await _store.OpenJournalsAsync(cancellationToken).ConfigureAwait(false);
        var openRotation = journals.Count > 0 ? journals[0] : null;
        // One read of the version list serves the policy facts, the active versions and the trust lists.
        var versions = await _store.ListVersionsAsync(cancellationToken).ConfigureAwait(false);
        // The due policy and the planner ask the facts for versions only: the ledger (a row per token ever minted) is not
        // read, and a future reader of it here fails loudly instead of seeing an empty ledger.
        var facts = new StoreFacts(versions, LedgerNotRead.Instance);
        Keyward.Core.Diagnostics.PhaseTimings.Mark("plan: journals, versions, facts");
        var early = RevealEarly(manifest, facts, cancellationToken);
        try
        {
            var due = DuePolicy.Evaluate(manifest, facts, now);
            foreach (var d in due.Due.Where(d => !d.Rotatable))
                _options.Warn(ErrorCodes.ExternalDue.With($"credential '{d.Credential}': {d.Reason}"));
            var imported = ReadExternals(manifest, out var readings);
            var changes = ApplyPlanner.Credentials(manifest, facts, due, readings, now);
            // Only values that will be stored are kept for execution.
            foreach (var change in changes)
                if (change.Action is not (ChangeAction.Create or ChangeAction.Update) && imported.Remove(change.Credential.Name, out var unused))
                    unused.Dispose();
            var upcoming = due.Upcoming.Select(u => new UpcomingRenewal(u.Credential, u.DueAt, u.Reason)).ToList();
            var byName = changes.ToDictionary(c => c.Credential.Name, StringComparer.Ordinal);
            Keyward.Core.Diagnostics.PhaseTimings.Mark("plan: credentials");
            var (sinks, inspections) = await PlanSinksAsync(manifest, byName, versions, early, keepValues, cancellationToken).ConfigureAwait(false);
            return new ApplyPlan(manifest, changes, sinks, upcoming) { Imported = imported, OpenJournal = openRotation?.Id, Inspections = inspections };
        }
        catch
        {
            // Whatever the early reveal read is disposed (twice for values planning already took: Dispose is idempotent).
            if (await early.Values.ConfigureAwait(false) is { } values)
                foreach (var v in values.Values) v.Dispose();
            throw;
        }
    }

    /// <summary>Below this many sink credentials the values are revealed where planning needs them, on this thread.</summary>
    private const int RevealEarlyFrom = 256;

    /// <summary>Starts decrypting, on another core, the active value of every credential some sink carries: a superset of
    /// the values <see cref="PlanSinksAsync"/> compares sinks with (those of credentials that stay unchanged, each of which
    /// has an active version), while the credentials' changes are decided here. Deciding reads no value and writes
    /// nothing, so the values are the ones the store would return later. Null when not started, or when the reveal
    /// failed: planning then reveals exactly its own set as before, and fails (or not) as it did.</summary>
    private EarlyReveal RevealEarly(KeywardManifest manifest, StoreFacts facts, CancellationToken cancellationToken)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var sink in manifest.Sinks)
            foreach (var n in sink.CredentialNames)
                if (facts.Active(n) is not null) names.Add(n);
        if (names.Count < RevealEarlyFrom) return new EarlyReveal(names, Task.FromResult<IReadOnlyDictionary<string, Secret>?>(null));
        return new EarlyReveal(names, Task.Run<IReadOnlyDictionary<string, Secret>?>(async () =>
        {
            try
            {
                return await _store.RevealActiveAsync(names, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception)
            {
                // A value that does not decrypt may belong to a credential planning re-mints and never reads: only the
                // reveal of planning's own set may fail the plan.
                return null;
            }
        }, CancellationToken.None));
    }

    /// <summary>The names an early reveal asked for, and the values it read (null: none).</summary>
    private sealed record EarlyReveal(HashSet<string> Names, Task<IReadOnlyDictionary<string, Secret>?> Values);

    /// <summary>The early values of <paramref name="wanted"/> (the rest disposed), or null to reveal them now (also when
    /// <paramref name="wanted"/> asks for a name the early reveal did not, which the argument above rules out).</summary>
    private static async Task<IReadOnlyDictionary<string, Secret>?> TakeEarlyAsync(EarlyReveal early, HashSet<string> wanted)
    {
        if (await early.Values.ConfigureAwait(false) is not { } all) return null;
        if (!wanted.IsSubsetOf(early.Names))
        {
            foreach (var value in all.Values) value.Dispose();
            return null;
        }
        var result = new Dictionary<string, Secret>(wanted.Count, StringComparer.Ordinal);
        foreach (var (name, value) in all)
        {
            if (wanted.Contains(name)) result[name] = value;
            else value.Dispose();
        }
        return result;
    }

    /// <summary>Reads every external credential's source: its value (validated, recognised) and what the planner needs of
    /// it (its keyed fingerprint), or that it has no value yet (no source, or the bootstrap placeholder).</summary>
    private Dictionary<string, Secret> ReadExternals(KeywardManifest manifest, out Dictionary<string, ExternalReading> readings)
    {
        var importer = new ExternalImporter(Path.GetDirectoryName(Path.GetFullPath(manifest.File)) ?? ".", _options.GetEnv, _options.Root, _options.SopsIdentityFiles);
        var imported = new Dictionary<string, Secret>(StringComparer.Ordinal);
        readings = new Dictionary<string, ExternalReading>(StringComparer.Ordinal);
        try
        {
            foreach (var e in manifest.Credentials.OfType<ExternalCredential>())
            {
                var source = e.Source is null ? "no source" : Describe(e.Source);
                var value = importer.Read(e);
                if (value is null)
                {
                    readings[e.Name] = new ExternalReading(source, null);
                    continue;
                }
                imported[e.Name] = value;
                ExternalTokenCheck.Validate(e, value, source);
                foreach (var w in ExternalImporter.Recognise(e, value, out _)) _options.Warn(w);
                readings[e.Name] = new ExternalReading(source, _store.Fingerprint(value.Reveal()));
            }
            return imported;
        }
        catch
        {
            foreach (var v in imported.Values) v.Dispose();
            throw;
        }
    }

    /// <summary>The command that obtains an external token: `keyward bootstrap KIND SERVICE` when a Coder or Gitea service
    /// names it as its token, else a generic pointer.</summary>
    internal static string BootstrapHint(KeywardManifest manifest, ExternalCredential e) =>
        manifest.Services.FirstOrDefault(s => s.Token == e.Name && s.Kind is ServiceKind.Coder or ServiceKind.Gitea) is { } s
            ? $"`keyward bootstrap {s.Kind.ToString().ToLowerInvariant()} {s.Name}`"
            : "`keyward bootstrap` or an import";

    private static string Describe(ExternalSource s) => s switch
    {
        FileSource f => $"file {f.Path}",
        EnvSource v => $"${v.Variable}",
        JsonMapSource m => $"{m.Path}[{m.Key}]",
        SopsSource o => $"sops {o.Path}[{o.Key}]",
        _ => "source",
    };

    private async Task<(List<SinkChange>, PlannedInspections?)> PlanSinksAsync(KeywardManifest manifest, Dictionary<string, CredentialChange> credentials,
        IReadOnlyList<CredentialVersion> versions, EarlyReveal early, bool keepValues, CancellationToken cancellationToken)
    {
        var result = new List<SinkChange>(manifest.Sinks.Count);
        var inspected = new Dictionary<Sink, SinkInspection>(manifest.Sinks.Count, ReferenceEqualityComparer.Instance);
        IReadOnlyDictionary<string, IReadOnlyList<string>> trust;
        // Values are needed only for sinks whose credentials are all unchanged: compare rendered bytes with the disk.
        var stable = new HashSet<string>(StringComparer.Ordinal);
        foreach (var sink in manifest.Sinks)
            foreach (var n in sink.CredentialNames)
                if (credentials.TryGetValue(n, out var ch) && ch.Action == ChangeAction.Unchanged && ch.CurrentVersion is not null)
                    stable.Add(n);
        Keyward.Core.Diagnostics.PhaseTimings.Mark("plan: sinks' credentials");
        var values = await TakeEarlyAsync(early, stable).ConfigureAwait(false)
            ?? await _store.RevealActiveAsync(stable, cancellationToken).ConfigureAwait(false);
        Keyward.Core.Diagnostics.PhaseTimings.Mark("plan: reveal active values");
        try
        {
            var resolved = SinkDelivery.ResolveAll(manifest, values);
            trust = await TrustListsAsync(manifest, versions, cancellationToken).ConfigureAwait(false);
            Keyward.Core.Diagnostics.PhaseTimings.Mark("plan: resolve, trust lists");
            // Sinks whose credentials change are decided by that; the rest are inspected on disk, in parallel (most of a
            // no-op apply of many sinks), then taken in manifest order again, live Secrets asked one at a time.
            var decided = new SinkChange?[manifest.Sinks.Count];
            var toInspect = new List<Sink>(manifest.Sinks.Count);
            Func<Sink, string> targetPath = _delivery.TargetPath;
            Func<string, bool> exists = File.Exists;
            for (var i = 0; i < manifest.Sinks.Count; i++)
            {
                var sink = manifest.Sinks[i];
                decided[i] = ApplyPlanner.FromCredentials(sink, credentials, targetPath, exists);
                if (decided[i] is null) toInspect.Add(sink);
            }
            var inspections = _delivery.InspectAll(toInspect, resolved, trust);
            var next = 0;
            for (var i = 0; i < manifest.Sinks.Count; i++)
            {
                if (decided[i] is { } change)
                {
                    result.Add(change);
                    continue;
                }
                var sink = manifest.Sinks[i];
                var inspection = inspections[next++];
                inspected[sink] = inspection;
                var live = inspection.State == SinkState.Current && sink.Kubernetes is { Live: true }
                    ? await _live.InspectAsync(sink, resolved, cancellationToken).ConfigureAwait(false)
                    : null;
                result.Add(ApplyPlanner.FromDisk(inspection, live));
            }
            Keyward.Core.Diagnostics.PhaseTimings.Mark("plan: inspect sinks");
        }
        catch
        {
            keepValues = false;
            throw;
        }
        finally
        {
            if (!keepValues)
                foreach (var v in values.Values) v.Dispose();
        }
        return (result, new PlannedInspections(versions, trust, inspected) { Values = keepValues ? values : null });
    }

    public async Task<ApplyReport> ExecuteAsync(ApplyPlan plan, CancellationToken cancellationToken)
    {
        var manifest = plan.Manifest;
        if (plan.OpenJournal is { } journal)
            throw ErrorCodes.RotationOpen.Exception($"rotation journal {journal} is still open; apply would fight it over the same sinks");
        var now = _options.Time.GetUtcNow();
        var fresh = new Dictionary<string, Secret>(StringComparer.Ordinal);
        var written = 0;
        var toStore = plan.Credentials.Count(c => c.Action is ChangeAction.Create or ChangeAction.Update && !c.ViaRotation);
        try
        {
            await using (var tx = await _store.BeginAsync(cancellationToken).ConfigureAwait(false))
            {
                foreach (var change in plan.Credentials.OrderBy(c => c.Credential is AtticTokenCredential ? 1 : 0))
                {
                    if (change.Action is not (ChangeAction.Create or ChangeAction.Update) || change.ViaRotation) continue;
                    var c = change.Credential;
                    var nextVersion = (change.CurrentVersion ?? 0) + 1;
                    MintResult minted = c switch
                    {
                        ExternalCredential e => Imported(e, plan.Imported[e.Name]),
                        AtticTokenCredential t => _minter.MintToken(t, await SignerAsync(manifest, t, fresh, cancellationToken).ConfigureAwait(false), nextVersion, _store.Fingerprint),
                        _ => _minter.Generate(c),
                    };
                    foreach (var w in minted.Warnings) _options.Warn(ErrorCodes.TokenPatternShadowed.At(c.Location, $"credential '{c.Name}': {w}"));
                    var stored = await _store.PutAsync(new NewVersion(c.Name, c.Kind.Name(), minted.Value, VersionState.Active, now, minted.ExpiresAt, minted.Origin, minted.Metadata), cancellationToken).ConfigureAwait(false);
                    if (minted.Ledger is not null)
                        await _store.RecordTokenAsync(minted.Ledger with { Version = stored.Version }, cancellationToken).ConfigureAwait(false);
                    await _store.AppendAuditAsync(new AuditEvent(now, _options.Actor, c is ExternalCredential ? "import" : "mint", c.Name, stored.Version, stored.Fingerprint,
                        change.Reason), cancellationToken).ConfigureAwait(false);
                    fresh[c.Name] = minted.Value;
                    written++;
                    _options.Step("storing credentials", written, toStore, $"{(c is ExternalCredential ? "imported" : "minted")} {c.Name} v{stored.Version}");
                }
                await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
            }
            var (files, hooks) = await DeliverAsync(manifest, plan.Sinks.Where(s => s.Action is ChangeAction.Create or ChangeAction.Update).Select(s => s.Sink).ToArray(), cancellationToken).ConfigureAwait(false);
            return new ApplyReport(plan, written, files, hooks);
        }
        finally
        {
            foreach (var v in fresh.Values) v.Dispose();
            foreach (var v in plan.Imported.Values) v.Dispose();
        }
    }

    /// <summary>The whole of <c>apply</c> after planning, as every front end (the CLI today, the server next) runs it:
    /// execute the plan, re-wrap the store's data key to recipients the manifest names (added, never silently removed),
    /// then hand what policy says is due to the journaled rotation executor, exactly as <c>keyward rotate</c> would.</summary>
    /// <param name="rotations">Builds the executor for due rotations (the host supplies services, hooks and output).</param>
    public async Task<ApplyOutcome> ApplyAsync(ApplyPlan plan, Store.OpenedState state, Func<RotationExecutor> rotations, CancellationToken cancellationToken)
    {
        var report = await ExecuteAsync(plan, cancellationToken).ConfigureAwait(false);
        Keyward.Core.Diagnostics.PhaseTimings.Mark("execute: store, deliver");
        var before = state.Recipients.Count;
        await state.AddRecipientsAsync(plan.Manifest.Recipients, cancellationToken).ConfigureAwait(false);
        Keyward.Core.Diagnostics.PhaseTimings.Mark("execute: recipients");
        var due = plan.DueRotations.ToArray();
        RotationOutcome? rotation = null;
        if (due.Length > 0)
            rotation = await rotations().StartAsync(new RotationIntent(due, RotationReason.Scheduled), cancellationToken).ConfigureAwait(false);
        return new ApplyOutcome(report, state.Recipients.Count - before, state.Recipients.Count, due, rotation);
    }

    private static MintResult Imported(ExternalCredential e, Secret value)
    {
        ExternalImporter.Recognise(e, value, out var detected);
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            [SpecFingerprint.MetadataKey] = SpecFingerprint.Of(e),
            ["provider"] = e.Provider.Name(),
            ["detected"] = detected,
        };
        if (e.Host is not null) metadata["host"] = e.Host;
        // The store owns the value from here: hand it a copy so disposing the plan's copy is safe.
        return new MintResult(Secret.FromBytes(value.Reveal()), e.Expires, "imported", metadata, null, []);
    }

    private async Task<SignerValue> SignerAsync(KeywardManifest manifest, AtticTokenCredential t, Dictionary<string, Secret> fresh, CancellationToken cancellationToken)
    {
        var spec = manifest.FindCredential(t.SignedBy) ?? throw ErrorCodes.SignerMissing.Exception($"'{t.Name}' names signer '{t.SignedBy}', which is not declared");
        var active = await _store.GetActiveAsync(t.SignedBy, cancellationToken).ConfigureAwait(false)
            ?? throw ErrorCodes.SignerMissing.Exception($"'{t.SignedBy}' (the signer of '{t.Name}') has no active version");
        if (fresh.TryGetValue(t.SignedBy, out var value)) return new SignerValue(spec, value, active.Version);
        var revealed = await _store.RevealAsync(t.SignedBy, active.Version, cancellationToken).ConfigureAwait(false);
        fresh[t.SignedBy] = revealed; // disposed with the fresh values
        return new SignerValue(spec, revealed, active.Version);
    }

    /// <summary>Renders and writes the given sinks from the store's active values, records them, and runs their hooks
    /// when their content changed. Used by apply, and by bootstrap to deliver a newly obtained token.</summary>
    public async Task<(int Files, IReadOnlyList<HookOutcome> Hooks)> DeliverAsync(KeywardManifest manifest, IReadOnlyList<Sink> sinks, CancellationToken cancellationToken)
    {
        if (sinks.Count == 0) return (0, []);
        var names = sinks.SelectMany(s => s.CredentialNames).Distinct(StringComparer.Ordinal).Where(n => manifest.FindCredential(n) is not null).ToArray();
        var values = await _store.RevealActiveAsync(names, cancellationToken).ConfigureAwait(false);
        var hooks = new List<HookOutcome>();
        var written = new List<SinkRecord>();
        var files = 0;
        try
        {
            var resolved = SinkDelivery.ResolveAll(manifest, values);
            var trust = await TrustListsAsync(manifest, null, cancellationToken).ConfigureAwait(false);
            // Under --root the files belong to another system (an image being built): its units are not ours to restart.
            var runner = _options.RunHooks && _options.Root is null ? new HookRunner(_options.SystemctlPath ?? "systemctl", getEnv: _options.GetEnv) : null;
            var now = _options.Time.GetUtcNow();
            var done = 0;
            foreach (var sink in sinks)
            {
                done++;
                if (!SinkDelivery.Renderable(sink, resolved, out var missing))
                {
                    _options.Warn(ErrorCodes.NoValueYet.At(sink.Location, $"sink '{sink.Name}' not written: {missing} has no value"));
                    _options.Step("writing sinks", done, sinks.Count, $"skipped {sink.Name}");
                    continue;
                }
                var request = _delivery.Request(sink, resolved, trust);
                var outcome = _delivery.Write(request);
                if (outcome != FileWriteOutcome.Unchanged)
                {
                    files++;
                    written.Add(new SinkRecord(sink.Name, request.Path, _store.Fingerprint(request.Content), now));
                }
                _options.Step("writing sinks", done, sinks.Count, $"{(outcome == FileWriteOutcome.Unchanged ? "kept" : "wrote")} {request.Path}");
                var liveWritten = sink.Kubernetes is { Live: true } && await _live.EnsureAsync(sink, resolved, cancellationToken).ConfigureAwait(false);
                if (outcome == FileWriteOutcome.Unchanged && !liveWritten) continue;
                if (runner is null) continue;
                foreach (var hook in sink.OnChange)
                {
                    var r = await runner.RunAsync(hook, cancellationToken).ConfigureAwait(false);
                    hooks.Add(new HookOutcome(sink.Name, HookText(hook), r.Success, r.Message));
                }
            }
        }
        finally
        {
            foreach (var v in values.Values) v.Dispose();
            // One transaction for every record: a commit per file cost an fsync of the store per file, more than the
            // file writes themselves. The records are a cache of what was written (a crash before this line only makes
            // the next apply compare the files again).
            if (written.Count > 0)
            {
                await using var tx = await _store.BeginAsync(cancellationToken).ConfigureAwait(false);
                foreach (var record in written) await _store.PutSinkAsync(record, cancellationToken).ConfigureAwait(false);
                await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        return (files, hooks);
    }

    /// <summary>The public keys each trusted Nix signing key stands for (see <see cref="TrustLists.Settled"/>).</summary>
    /// <param name="known">The store's version list when the caller has just read it (planning); null reads each key's versions.</param>
    private Task<IReadOnlyDictionary<string, IReadOnlyList<string>>> TrustListsAsync(KeywardManifest manifest, IReadOnlyList<CredentialVersion>? known,
        CancellationToken cancellationToken) =>
        TrustLists.ForManifestAsync(_store, manifest, known, _options.Time.GetUtcNow(), cancellationToken);

    /// <summary>The ledger of facts read for planning, which planning does not read.</summary>
    private sealed class LedgerNotRead : IReadOnlyList<LedgerEntry>
    {
        public static readonly LedgerNotRead Instance = new();

        private static InvalidOperationException NotRead() => new("apply's plan does not read the token ledger; read it with StoreFacts.ReadAsync where it is needed");

        public LedgerEntry this[int index] => throw NotRead();

        public int Count => throw NotRead();

        public IEnumerator<LedgerEntry> GetEnumerator() => throw NotRead();

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
    }

    public static string HookText(Hook hook) => hook switch
    {
        RestartUnitHook r => $"restart {r.Unit}",
        ReloadUnitHook r => $"reload {r.Unit}",
        CommandHook c => $"run {string.Join(' ', c.Argv)}",
        _ => "hook",
    };
}
