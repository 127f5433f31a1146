using System.Security.Cryptography;
using Keyward.Core.Errors;
using Keyward.Core.Manifest;
using Keyward.Core.Secrets;
using Keyward.Engine.Delivery;
using Keyward.Engine.Minting;
using Keyward.Sinks;
using Keyward.Core.Store;

namespace Keyward.Engine.Rotation;

/// <summary>
/// One run of the executor over one journal: what every step handler shares. It knows the journal (its snapshot of the
/// versions active at the start, its steps, the ones done) and answers the questions every step asks the same way —
/// which version is new, which value sinks and signers use now, what a sink renders to — so no two handlers can
/// disagree about them.
/// </summary>
internal sealed class RotationRun(ICredentialStore store, RotationExecutorOptions options, JournalIntent journal, HashSet<int> done, List<string> log)
{
    private SinkDelivery? _delivery;
    private LiveSecrets? _live;
    private CredentialMinter? _minter;
    private EngineOptions? _engine;

    public ICredentialStore Store { get; } = store;

    public RotationExecutorOptions Options { get; } = options;

    public KeywardManifest Manifest => Options.Manifest;

    public JournalIntent Journal { get; } = journal;

    /// <summary>Orders of the steps already done (journalled <c>done</c>, or done in this run).</summary>
    public HashSet<int> Done { get; } = done;

    /// <summary>(sink, key) pairs whose old public half this run has dropped (a null key: every key of the sink).</summary>
    public HashSet<(string Sink, string? Key)> RetiringTrust { get; } = [];

    public DateTimeOffset Now => Options.Time.GetUtcNow();

    public CredentialMinter Minter => _minter ??= new CredentialMinter(Options.Time);

    private EngineOptions Engine => _engine ??= new EngineOptions
    {
        Root = Options.Root, Time = Options.Time, Warn = e => Options.Warn?.Invoke(e.Message), GetEnv = Options.GetEnv,
        Kubeconfig = Options.Kubeconfig, LiveSecrets = Options.LiveSecrets, Progress = Options.Progress,
    };

    /// <summary>The same delivery path apply uses: --root, persistence roots, relative links, owner fallback.</summary>
    public SinkDelivery Delivery => _delivery ??= new SinkDelivery(Engine, Store.Fingerprint);

    public LiveSecrets Live => _live ??= new LiveSecrets(Engine);

    /// <summary>True once <paramref name="key"/>'s old public half is gone from <paramref name="sink"/>'s trust lists.</summary>
    public bool Retired(string sink, string key) =>
        RetiringTrust.Contains((sink, key)) || RetiringTrust.Contains((sink, null)) || RotationTrust.RetiredTrust(Journal, Done, sink, key);

    // ------------------------------------------------------------------ versions

    /// <summary>The version this rotation created for <paramref name="name"/> (newer than the snapshot, not retired).</summary>
    public async Task<CredentialVersion?> NewVersionAsync(string name, CancellationToken ct)
    {
        if (!Journal.Snapshot.TryGetValue(name, out var old)) return null;
        return (await Store.GetVersionsAsync(name, ct).ConfigureAwait(false))
            .Where(v => v.Version > old && v.State != VersionState.Retired).MaxBy(v => v.Version);
    }

    /// <summary>The value sinks and signers should use now: the rotation's new version for single-phase credentials
    /// (staged or active), the active version for everything else (so a cache key switches only when activated).</summary>
    public async Task<(Secret Value, CredentialVersion Version)?> CurrentAsync(string name, CancellationToken ct)
    {
        var c = Manifest.FindCredential(name);
        if (c is not NixSigningKeyCredential && await NewVersionAsync(name, ct).ConfigureAwait(false) is { } nv)
            return (await Store.RevealAsync(name, nv.Version, ct).ConfigureAwait(false), nv);
        if (await Store.GetActiveAsync(name, ct).ConfigureAwait(false) is { } active)
            return (await Store.RevealAsync(name, active.Version, ct).ConfigureAwait(false), active);
        return null;
    }

    /// <summary>Revokes every ledger row of <paramref name="name"/>'s <paramref name="version"/> not revoked yet.</summary>
    public async Task RevokeLedgerAsync(string name, int version, CancellationToken ct)
    {
        foreach (var t in (await Store.ListLedgerAsync(ct).ConfigureAwait(false)).Where(t => t.Credential == name && t.Version == version && t.RevokedAt is null))
            await Store.RevokeTokenAsync(t.TokenId, Now, ct).ConfigureAwait(false);
    }

    // ------------------------------------------------------------------ sinks

    public Sink Sink(string name) => Manifest.FindSink(name)
        ?? throw ErrorCodes.JournalCorrupt.Exception($"the journal names sink '{name}', which the manifest no longer declares");

    /// <summary>The values and trust lists <paramref name="sink"/> renders from now. Trust lists of a cache key in rollover
    /// carry the old and the new public key until that sink's retire-public-key step (or for the overlap after it).</summary>
    public async Task<(Dictionary<string, ResolvedCredential> Values, Dictionary<string, IReadOnlyList<string>> Trust)> RenderInputsAsync(Sink sink,
        bool retiringTrust, CancellationToken ct)
    {
        var resolved = new Dictionary<string, ResolvedCredential>(StringComparer.Ordinal);
        foreach (var e in sink.Entries)
        {
            if (resolved.ContainsKey(e.Credential) || Manifest.FindCredential(e.Credential) is not { } c) continue;
            var cur = await CurrentAsync(c.Name, ct).ConfigureAwait(false);
            resolved[c.Name] = new ResolvedCredential(c, cur?.Value, cur is null ? null : CredentialValues.PublicKeyOf(c, cur.Value.Value));
        }
        var trust = await RotationTrust.ForSinkAsync(Store, Manifest, sink, Journal,
            key => retiringTrust || Retired(sink.Name, key), Now, ct).ConfigureAwait(false);
        return (resolved, trust);
    }

    /// <summary>Writes <paramref name="sink"/> through the delivery path, records it, and brings its live Secret along.</summary>
    public async Task<FileWriteOutcome> WriteSinkAsync(Sink sink, bool retiringTrust, CancellationToken ct)
    {
        var (resolved, trust) = await RenderInputsAsync(sink, retiringTrust, ct).ConfigureAwait(false);
        var request = Delivery.Request(sink, resolved, trust);
        try
        {
            var outcome = Delivery.Write(request);
            await Store.PutSinkAsync(new SinkRecord(sink.Name, request.Path, Store.Fingerprint(request.Content), Now), ct).ConfigureAwait(false);
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

    // ------------------------------------------------------------------ reporting

    public Task AuditAsync(string action, string credential, int? version, string? fingerprint, string? detail, CancellationToken ct) =>
        Store.AppendAuditAsync(new AuditEvent(Now, Options.Actor, action, credential, version, fingerprint, detail), ct);

    /// <summary>One line of the run's log (names and fingerprints only), also sent to the progress callback.</summary>
    public void Progress(string line)
    {
        log.Add(line);
        Options.Progress?.Invoke(line);
    }

    /// <summary>A line kept in the outcome's log but not sent as progress (the warning says it).</summary>
    public void Log(string line) => log.Add(line);

    public void Warn(string message) => Options.Warn?.Invoke(message);
}
