using System.Collections.Concurrent;
using System.Text.Json;
using Keyward.Core.Errors;
using Keyward.Core.Manifest;
using Keyward.Core.Secrets;
using Keyward.Core.Store;

using Keyward.Services;
using Keyward.Services.Attic;

namespace Keyward.Engine.Checks;

/// <summary>
/// Runs every check the manifest implies, concurrently with a bound and a timeout per check, and returns one
/// report per credential, Attic cache and sink with cert-manager-style conditions (history merged from
/// <see cref="ICheckState"/>). A service that is down yields Unknown/Unreachable, never a hang.
/// </summary>
public sealed partial class CheckRunner
{
    private readonly KeywardManifest _manifest;
    private readonly ICheckState _state;
    private readonly ServiceClients _clients;
    private readonly CheckOptions _options;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<string, Lazy<Task<AtticCacheLookup>>> _lookups = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<ServiceUse> _uses = new();
    private IReadOnlyDictionary<string, CredentialVersion> _active = new Dictionary<string, CredentialVersion>();
    private IReadOnlyDictionary<string, Secret> _values = new Dictionary<string, Secret>();
    private DateTimeOffset _now;
    private CancellationToken _run;

    private readonly ISinkVerifier? _sinks;
    private readonly IHostVerifier? _hosts;

    /// <param name="sinks">Answers "is this sink correct?" — the engine's inspection, the same one plan and apply use.
    /// Without one, sinks are reported Unknown (never a silent pass).</param>
    /// <param name="hosts">Answers "has this host's agent confirmed its sinks?"; without one, hosts are not reported.</param>
    public CheckRunner(KeywardManifest manifest, ICheckState state, ServiceClients clients, CheckOptions options, ISinkVerifier? sinks = null,
        IHostVerifier? hosts = null)
    {
        _sinks = sinks;
        _hosts = hosts;
        _manifest = manifest;
        _state = state;
        _clients = clients;
        _options = options;
        _time = clients.Time;
    }

    private sealed record Job(SubjectKind Kind, string Name, Func<CancellationToken, Task<List<Observation>>> Run);

    public async Task<IReadOnlyList<CheckReport>> RunAsync(CancellationToken cancellationToken)
    {
        _now = _time.GetUtcNow();
        _run = cancellationToken;
        foreach (var name in _options.Only)
            if (_manifest.FindCredential(name) is null)
                throw ErrorCodes.ServiceNotDeclared.Exception($"no credential named '{name}' in {_manifest.File}");
        var only = _options.Only.ToHashSet(StringComparer.Ordinal);
        bool Selected(string credential) => only.Count == 0 || only.Contains(credential);

        _active = await _state.ActiveVersionsAsync(cancellationToken).ConfigureAwait(false);
        Keyward.Core.Diagnostics.PhaseTimings.Mark("checks: version list");
        var wanted = _manifest.Credentials.Select(c => c.Name)
            .Concat(_manifest.Services.Select(s => s.Token).OfType<string>())
            .Concat(_manifest.Credentials.OfType<AtticTokenCredential>().Select(t => t.SignedBy))
            .Where(_active.ContainsKey).Distinct(StringComparer.Ordinal).ToArray();
        _values = await _state.RevealActiveAsync(wanted, cancellationToken).ConfigureAwait(false);
        Keyward.Core.Diagnostics.PhaseTimings.Mark("checks: reveal");

        var jobs = new List<Job>();
        foreach (var c in _manifest.Credentials.Where(c => Selected(c.Name)))
            jobs.Add(new Job(SubjectKind.Credential, c.Name, ct => CheckCredentialAsync(c, ct)));
        foreach (var service in _manifest.Services.Where(s => s.Kind == ServiceKind.Attic))
            foreach (var cache in service.Caches)
                if (only.Count == 0 || (cache.SigningKey is { } k && only.Contains(k)) || (service.Token is { } t && only.Contains(t)))
                    jobs.Add(new Job(SubjectKind.Cache, service.Name + "/" + cache.Name, ct => CheckCacheAsync(service, cache, ct)));
        foreach (var sink in _manifest.Sinks.Where(s => only.Count == 0 || s.CredentialNames.Any(only.Contains)))
            jobs.Add(new Job(SubjectKind.Sink, sink.Name, ct => CheckSinkAsync(sink, ct)));
        foreach (var sink in _manifest.HostSinks.Where(s => only.Count == 0 || s.CredentialNames.Any(only.Contains)))
            if (AtticEnvRule.Evaluate(sink, _manifest.Services) is { } runner)
                jobs.Add(new Job(SubjectKind.Sink, sink.Name, _ => CheckHostSinkDeclarationAsync(sink, runner)));
        if (_hosts is not null)
            foreach (var host in await _hosts.HostsAsync(cancellationToken).ConfigureAwait(false))
                if (only.Count == 0 || _manifest.SinksOfHost(host).Any(s => s.CredentialNames.Any(only.Contains)))
                    jobs.Add(new Job(SubjectKind.Host, host, async ct => [.. await _hosts.VerifyAsync(host, ct).ConfigureAwait(false)]));

        var results = new List<Observation>[jobs.Count];
        try
        {
            await Parallel.ForEachAsync(Enumerable.Range(0, jobs.Count),
                new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, _options.MaxConcurrency), CancellationToken = cancellationToken },
                async (i, ct) => results[i] = await RunOneAsync(jobs[i], ct).ConfigureAwait(false)).ConfigureAwait(false);
        }
        finally
        {
            DisposeSigningKeys();
        }
        Keyward.Core.Diagnostics.PhaseTimings.Mark("checks: run every check");

        // Every request made with a stored token is audited (service.use), in the order the checks finished.
        if (!_uses.IsEmpty) await _state.RecordUsesAsync(_uses.ToArray(), cancellationToken).ConfigureAwait(false);
        var memory = await _state.LoadConditionsAsync(cancellationToken).ConfigureAwait(false);
        Keyward.Core.Diagnostics.PhaseTimings.Mark("checks: load conditions");
        var reports = jobs.Select((j, i) =>
        {
            var key = CheckReport.SubjectKey(j.Kind, j.Name);
            var remembered = memory.GetValueOrDefault(key);
            return new CheckReport(j.Kind, j.Name, results[i].Select(o => Merge(o, remembered?.GetValueOrDefault(o.Type), _now)).ToArray());
        }).ToArray();
        Keyward.Core.Diagnostics.PhaseTimings.Mark("checks: merge");
        await _state.SaveConditionsAsync(reports, cancellationToken).ConfigureAwait(false);
        Keyward.Core.Diagnostics.PhaseTimings.Mark("checks: save conditions");
        return reports;
    }

    private async Task<List<Observation>> RunOneAsync(Job job, CancellationToken cancellationToken)
    {
        using var timeout = new CancellationTokenSource(_options.CheckTimeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        try
        {
            return await job.Run(linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return [Observation.Unknown(ConditionTypes.Verified, "Timeout", $"the check did not finish within {_options.CheckTimeout.TotalSeconds:0.#} s")];
        }
        catch (KeywardException ex)
        {
            return [FromError(ConditionTypes.Verified, ex)];
        }
    }

    /// <summary>History: the transition time moves only when the status changes; last-true is kept across failures.</summary>
    internal static Condition Merge(Observation o, ConditionMemory? before, DateTimeOffset now)
    {
        var transition = before is not null && before.Status == o.Status ? before.LastTransitionTime : now;
        var lastTrue = o.Status == ConditionStatus.True ? now : before?.LastTrueTime;
        return new Condition(o.Type, o.Status, o.Reason, o.Message, transition, lastTrue);
    }

    internal static Observation FromError(string type, KeywardException ex)
    {
        var code = ex.First.Code;
        var reason = code == ErrorCodes.ServiceUnreachable ? "Unreachable"
            : code == ErrorCodes.ServiceTimeout ? "Timeout"
            : code == ErrorCodes.ServiceMalformedResponse ? "MalformedResponse"
            : code == ErrorCodes.ServiceServerError ? "ServiceError"
            : "Error";
        return Observation.Unknown(type, reason, $"[{code.Code}] {ex.First.Message}");
    }

    // ---- credentials -------------------------------------------------------------------------------

    private async Task<List<Observation>> CheckCredentialAsync(Credential c, CancellationToken ct)
    {
        var list = new List<Observation>();
        _active.TryGetValue(c.Name, out var version);
        _values.TryGetValue(c.Name, out var value);
        Observation ready;
        if (value is not null)
            ready = Observation.True(ConditionTypes.Ready, "Stored", $"active version {version?.Version} is stored");
        else if (c is ExternalCredential { Source: { } source })
        {
            (value, var problem) = ReadSource(source);
            ready = value is not null
                ? Observation.True(ConditionTypes.Ready, "SourceReadable", $"read from {Describe(source)} (not imported into the store)")
                : Observation.False(ConditionTypes.Ready, "SourceUnreadable", problem!);
        }
        else
            ready = Observation.False(ConditionTypes.Ready, "NotStored", c is ExternalCredential
                ? $"no active version: run {BootstrapCommandFor(c.Name) ?? "`keyward bootstrap` or import the token"}"
                : "no active version: run `keyward apply`");

        DateTimeOffset? expires = version?.ExpiresAt ?? (c as ExternalCredential)?.Expires;
        Observation? verified = null;
        if (value is not null)
        {
            switch (c)
            {
                case AtticTokenCredential token:
                    (verified, var exp) = await CheckAtticTokenAsync(token, value, ct).ConfigureAwait(false);
                    expires ??= exp;
                    break;
                case NixSigningKeyCredential key:
                    verified = await CheckSigningKeyAsync(key, value, ct).ConfigureAwait(false);
                    break;
                case ExternalCredential ext:
                    (verified, var learned) = await CheckExternalAsync(ext, value, version, ct).ConfigureAwait(false);
                    expires = learned ?? expires;
                    break;
            }
        }
        if (expires is { } e && e <= _now)
            ready = Observation.False(ConditionTypes.Ready, "Expired", $"expired at {e:u}");
        list.Add(ready);
        if (verified is not null) list.Add(verified);
        list.Add(ExpiryObservation(expires));
        return list;
    }

    private Observation ExpiryObservation(DateTimeOffset? expires)
    {
        if (expires is not { } e) return Observation.False(ConditionTypes.ExpiresSoon, "NoExpiry", "no expiry is known");
        var left = e - _now;
        if (left <= TimeSpan.Zero) return Observation.True(ConditionTypes.ExpiresSoon, "Expired", $"expired at {e:u}");
        return left <= _options.WarnBefore
            ? Observation.True(ConditionTypes.ExpiresSoon, "ExpiresSoon", $"expires at {e:u}, in {Human(left)} (warning window {Human(_options.WarnBefore)})")
            : Observation.False(ConditionTypes.ExpiresSoon, "NotExpiring", $"expires at {e:u}, in {Human(left)}");
    }

    internal static string Human(TimeSpan t) =>
        t.TotalDays >= 2 ? $"{t.TotalDays:0} days" : t.TotalHours >= 2 ? $"{t.TotalHours:0} hours" : $"{Math.Max(0, t.TotalMinutes):0} minutes";

    private (Secret? Value, string? Problem) ReadSource(ExternalSource source)
    {
        try
        {
            switch (source)
            {
                case EnvSource env:
                    var v = Environment.GetEnvironmentVariable(env.Variable);
                    return string.IsNullOrEmpty(v) ? (null, $"environment variable {env.Variable} is not set") : (Secret.FromUtf8(v.Trim()), null);
                case FileSource file:
                    if (ReadBounded(_options.Resolve(file.Path), file.Path, out var fileBytes) is { } fileProblem) return (null, fileProblem);
                    var text = System.Text.Encoding.UTF8.GetString(fileBytes).Trim();
                    Array.Clear(fileBytes);
                    return text.Length == 0 || Keyward.Services.Bootstrap.Placeholder.IsPlaceholder(text)
                        ? (null, $"{file.Path} holds no token yet (a bootstrap placeholder or empty)")
                        : (Secret.FromUtf8(text), null);
                case JsonMapSource map:
                    if (ReadBounded(_options.Resolve(map.Path), map.Path, out var mapBytes) is { } mapProblem) return (null, mapProblem);
                    using (var doc = JsonDocument.Parse(mapBytes))
                        return doc.RootElement.TryGetProperty(map.Key, out var t) && t.ValueKind == JsonValueKind.String
                            ? (Secret.FromUtf8(t.GetString()!), null)
                            : (null, $"{map.Path} has no string key '{map.Key}'");
                case SopsSource sops:
                    return (null, $"{sops.Path}[{sops.Key}] is a SOPS source: run `keyward apply` to import it");
                default:
                    return (null, "unknown source");
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or JsonException)
        {
            return (null, $"{Describe(source)} cannot be read ({ex.GetType().Name})");
        }
    }

    /// <summary>Regular files up to <see cref="Core.Inputs.InputFile.MaxSourceBytes"/> only (never hangs on a FIFO or reads /dev/zero).</summary>
    private static string? ReadBounded(string path, string shown, out byte[] bytes) =>
        Core.Inputs.InputFile.TryRead(path, Core.Inputs.InputFile.MaxSourceBytes, out bytes, out var detail) switch
        {
            Core.Inputs.InputFileProblem.None => null,
            Core.Inputs.InputFileProblem.Missing => $"{shown} does not exist",
            Core.Inputs.InputFileProblem.NotRegular => $"{shown} is {detail} [KW0010]",
            Core.Inputs.InputFileProblem.TooLarge => $"{shown} is too large ({detail}) [KW0011]",
            _ => $"{shown} cannot be read ({detail})",
        };

    private static string Describe(ExternalSource s) => s switch
    {
        EnvSource e => "$" + e.Variable,
        FileSource f => f.Path,
        JsonMapSource m => $"{m.Path}[{m.Key}]",
        SopsSource x => $"{x.Path}[{x.Key}]",
        _ => "source",
    };

    /// <summary>Notes one use of <paramref name="credential"/>'s value against <paramref name="service"/> for the audit log
    /// (the active version, or none when the value came from its source).</summary>
    private void Used(Service service, string credential, string what, string outcome)
    {
        var version = _active.GetValueOrDefault(credential);
        _uses.Enqueue(new ServiceUse(service.Name, credential, version?.Version, version?.Fingerprint, what, outcome));
    }

    /// <summary>Runs <paramref name="call"/> made with <paramref name="credential"/>'s value and notes it, with its outcome or
    /// the error it failed with; without a credential (an anonymous request) nothing is noted.</summary>
    private async Task<T> UsingAsync<T>(Service service, string? credential, string what, Func<Task<T>> call, Func<T, string> outcome)
    {
        if (credential is null) return await call().ConfigureAwait(false);
        try
        {
            var result = await call().ConfigureAwait(false);
            Used(service, credential, what, outcome(result));
            return result;
        }
        catch (KeywardException ex)
        {
            Used(service, credential, what, ServiceUse.Failed(ex));
            throw;
        }
    }

    /// <summary>Shared between the checks of one run (the cache, its key and its tokens all need it): started under the
    /// run's token so one check's timeout does not cancel it for the others, awaited under the caller's.</summary>
    private Task<AtticCacheLookup> LookupAsync(Service service, string cache, string who, Secret? token, CancellationToken ct) =>
        _lookups.GetOrAdd($"{service.Name}/{cache}/{who}",
            _ => new Lazy<Task<AtticCacheLookup>>(() => UsingAsync(service, token is null ? null : service.Token, $"GET cache-config/{cache}",
                () => _clients.Attic(service).GetCacheConfigAsync(cache, token, _run), l => l.Status.ToString()))).Value.WaitAsync(ct);

    private Secret? ServiceToken(Service service) => service.Token is { } t ? _values.GetValueOrDefault(t) : null;

    private IEnumerable<(Service Service, AtticCacheSpec Cache)> AtticCaches() =>
        _manifest.Services.Where(s => s.Kind == ServiceKind.Attic).SelectMany(s => s.Caches.Select(c => (s, c)));
}
