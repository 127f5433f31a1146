using System.Globalization;
using Keyward.Core.Manifest;
using Keyward.Core.Secrets;
using Keyward.Engine.Delivery;
using Keyward.Services;
using Keyward.Sinks;
using Keyward.Core.Store;

namespace Keyward.Engine.Checks;

/// <summary>
/// <c>keyward check</c>'s answer for sinks, from the same inspection <c>plan</c> and <c>apply</c> use
/// (<see cref="SinkDelivery.Inspect"/>): content by keyed comparison with what Keyward renders from the store's active
/// values (trust lists included), mode, owner, group, persisted directory mode and runtime link.
/// Values are revealed once per run (only when a sink is inspected) and disposed with the verifier.
/// Given what the plan of the same controller pass found (<see cref="PlannedInspections"/>), a sink the plan found
/// current is proved still current by one <c>lstat</c> (<see cref="SinkDelivery.StillCurrent"/>) instead of rendered and
/// read again, when the store hands out the very version list the plan rendered against (the stored state seal is
/// unchanged) and the trust lists are the same; anything else is inspected afresh.
/// </summary>
public sealed class SinkVerifier : ISinkVerifier, IDisposable
{
    private readonly ICredentialStore _store;
    private readonly KeywardManifest _manifest;
    private readonly EngineOptions _options;
    private readonly SinkDelivery _delivery;
    private readonly LiveSecrets _live;
    private readonly Lazy<Task<Inputs>> _inputs;
    private readonly Lock _gate = new();
    private readonly Func<CancellationToken, Task<IReadOnlyList<CredentialVersion>>> _versions;
    private readonly PlannedInspections? _planned;
    private readonly Lazy<Task<IReadOnlyDictionary<Sink, SinkInspection>?>> _reusable;
    private int _reused;

    /// <param name="versions">The store's version list when the caller has read it already (a check run reads it once);
    /// null reads it here.</param>
    /// <param name="planned">What the plan of the same controller pass found, when that pass changed nothing (no version
    /// stored, no sink written); null inspects every sink.</param>
    public SinkVerifier(ICredentialStore store, KeywardManifest manifest, EngineOptions options,
        Func<CancellationToken, Task<IReadOnlyList<CredentialVersion>>>? versions = null, PlannedInspections? planned = null)
    {
        _store = store;
        _planned = planned;
        _reusable = new Lazy<Task<IReadOnlyDictionary<Sink, SinkInspection>?>>(() => ReusableAsync(CancellationToken.None));
        _versions = versions ?? store.ListVersionsAsync;
        _manifest = manifest;
        _options = options;
        _delivery = new SinkDelivery(options, store.Fingerprint);
        _ = _delivery.Writer; // made once here, before the sink checks run at once
        _live = new LiveSecrets(options);
        _inputs = new Lazy<Task<Inputs>>(() => LoadAsync(CancellationToken.None));
    }

    private sealed record Inputs(IReadOnlyDictionary<string, Secret> Values, IReadOnlyDictionary<string, ResolvedCredential> Resolved,
        IReadOnlyDictionary<string, IReadOnlyList<string>> Trust);

    private async Task<Inputs> LoadAsync(CancellationToken ct)
    {
        var versions = await _versions(ct).ConfigureAwait(false);
        var active = versions.Where(v => v.State == VersionState.Active).Select(v => v.Name).ToHashSet(StringComparer.Ordinal);
        var names = _manifest.Sinks.SelectMany(s => s.CredentialNames).Where(active.Contains).Distinct(StringComparer.Ordinal).ToArray();
        var values = names.Length == 0 ? new Dictionary<string, Secret>() : await _store.RevealActiveAsync(names, ct).ConfigureAwait(false);
        var trust = await TrustLists.ForManifestAsync(_store, _manifest, versions, _options.Time.GetUtcNow(), ct).ConfigureAwait(false);
        return new Inputs(values, SinkDelivery.ResolveAll(_manifest, values), trust);
    }

    /// <summary>How many sinks this run proved unchanged since the plan's inspection instead of inspecting them again.</summary>
    public int Reused => Volatile.Read(ref _reused);

    /// <summary>The plan's inspections when what the sinks render to has not changed since: the store hands out the same
    /// version list object (it does only while the stored state seal, which every committed change of a version, ledger
    /// row or the audit head rewrites, is the one it read with it) and the trust lists, which move with the clock at the
    /// end of an overlap, are the same now.</summary>
    private async Task<IReadOnlyDictionary<Sink, SinkInspection>?> ReusableAsync(CancellationToken ct)
    {
        if (_planned is null) return null;
        var versions = await _versions(ct).ConfigureAwait(false);
        if (!ReferenceEquals(versions, _planned.Versions)) return null;
        var trust = await TrustLists.ForManifestAsync(_store, _manifest, versions, _options.Time.GetUtcNow(), ct).ConfigureAwait(false);
        return SameTrust(trust, _planned.Trust) ? _planned.BySink : null;
    }

    private static bool SameTrust(IReadOnlyDictionary<string, IReadOnlyList<string>> a, IReadOnlyDictionary<string, IReadOnlyList<string>> b) =>
        a.Count == b.Count && a.All(e => b.TryGetValue(e.Key, out var other) && e.Value.SequenceEqual(other, StringComparer.Ordinal));

    public async Task<IReadOnlyList<Observation>> VerifyAsync(Sink sink, CancellationToken cancellationToken)
    {
        SinkInspection? inspection = null;
        if (await _reusable.Value.WaitAsync(cancellationToken).ConfigureAwait(false) is { } planned && planned.TryGetValue(sink, out var earlier))
        {
            // Not under the gate: the proof is one lstat through the writer's walk, whose directory memory is locked, and
            // thousands of sinks checked at once spun on the gate for longer than their lstat took.
            inspection = _delivery.StillCurrent(sink, earlier);
            if (inspection is not null) Interlocked.Increment(ref _reused);
        }
        if (inspection is null)
        {
            var fresh = await _inputs.Value.WaitAsync(cancellationToken).ConfigureAwait(false);
            lock (_gate) inspection = _delivery.Inspect(sink, fresh.Resolved, fresh.Trust);
        }
        var observed = Observe(inspection);
        if (sink.Kubernetes is not { Live: true } || inspection.State != SinkState.Current) return observed;
        var inputs = await _inputs.Value.WaitAsync(cancellationToken).ConfigureAwait(false);
        // The file is right: the cluster's copy must be too (GET, compare the managed keys).
        var live = await _live.InspectAsync(sink, inputs.Resolved, cancellationToken).ConfigureAwait(false);
        var verified = live.State switch
        {
            LiveState.InSync => observed[1] with { Message = observed[1].Message + "; " + live.Message },
            LiveState.NotHere => observed[1] with { Message = observed[1].Message + "; " + live.Message },
            LiveState.Missing => Observation.False(ConditionTypes.Verified, "LiveSecretMissing", live.Message + " (`keyward apply` writes it)"),
            LiveState.Differs => Observation.False(ConditionTypes.Verified, "LiveSecretDiffers", live.Message + " (`keyward apply` repairs it)"),
            _ => Observation.Unknown(ConditionTypes.Verified, "LiveSecretUnreadable", live.Message),
        };
        return [observed[0], verified];
    }

    internal static IReadOnlyList<Observation> Observe(SinkInspection i)
    {
        var path = i.Sink.StoragePath;
        switch (i.State)
        {
            case SinkState.Pending:
                return
                [
                    Observation.False(ConditionTypes.Ready, "NoValue", $"{i.Summary}: nothing to compare {path} with (run `keyward apply`, or `keyward bootstrap` for a token a service creates)"),
                    Observation.Unknown(ConditionTypes.Verified, "NoValue", $"{path} cannot be verified before its credentials have values"),
                ];
            case SinkState.Missing:
                return
                [
                    Observation.False(ConditionTypes.Ready, "Missing", $"{path} does not exist: run `keyward apply`"),
                    Observation.False(ConditionTypes.Verified, "Missing", i.Summary),
                ];
            case SinkState.Current:
                var s = i.Sink;
                return
                [
                    Observation.True(ConditionTypes.Ready, "Present", $"{path} exists"),
                    Observation.True(ConditionTypes.Verified, "MatchesManifest",
                        $"content matches the store, mode {Octal(s.Mode)}{(s.Owner is null ? "" : $", owner {s.Owner}")}{(s.Group is null ? "" : $", group {s.Group}")}" +
                        (s.PersistRoot is null ? "" : $", persisted under {s.PersistRoot} and linked from {s.Path}")),
                ];
            default:
                var present = !i.Findings.Any(f => f.Reason == "NotRegularFile");
                return
                [
                    present
                        ? Observation.True(ConditionTypes.Ready, "Present", $"{path} exists")
                        : Observation.False(ConditionTypes.Ready, "NotRegularFile", $"{path} is not a regular file"),
                    Observation.False(ConditionTypes.Verified, i.Findings[0].Reason, i.Summary + " (`keyward apply` repairs it)"),
                ];
        }
    }

    private static string Octal(int mode) => Convert.ToString(mode, 8).PadLeft(4, '0').ToString(CultureInfo.InvariantCulture);

    public void Dispose()
    {
        if (_inputs.IsValueCreated && _inputs.Value.IsCompletedSuccessfully)
            foreach (var v in _inputs.Value.Result.Values.Values) v.Dispose();
    }
}
