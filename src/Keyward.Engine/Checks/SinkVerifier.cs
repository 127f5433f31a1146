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
/// Values are revealed once per run and disposed with the verifier.
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

    /// <param name="versions">The store's version list when the caller has read it already (a check run reads it once);
    /// null reads it here.</param>
    public SinkVerifier(ICredentialStore store, KeywardManifest manifest, EngineOptions options,
        Func<CancellationToken, Task<IReadOnlyList<CredentialVersion>>>? versions = null)
    {
        _store = store;
        _versions = versions ?? store.ListVersionsAsync;
        _manifest = manifest;
        _options = options;
        _delivery = new SinkDelivery(options, store.Fingerprint);
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

    public async Task<IReadOnlyList<Observation>> VerifyAsync(Sink sink, CancellationToken cancellationToken)
    {
        var inputs = await _inputs.Value.WaitAsync(cancellationToken).ConfigureAwait(false);
        SinkInspection inspection;
        lock (_gate) inspection = _delivery.Inspect(sink, inputs.Resolved, inputs.Trust);
        var observed = Observe(inspection);
        if (sink.Kubernetes is not { Live: true } || inspection.State != SinkState.Current) return observed;
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
