using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Keyward.Core.Secrets;
using Keyward.Sinks.Files;
using Keyward.Store.Contract;

namespace Keyward.Services.Checks;

/// <summary>
/// <see cref="ICheckState"/> over the credential store. Condition history of credentials lives in the active
/// version's metadata (<c>condition.Ready.status</c>, <c>condition.Ready.lastTransition</c>, <c>condition.Ready.lastTrue</c>);
/// caches and sinks have no version, so theirs lives in <c>conditions.json</c> in the state directory (no secrets in it).
/// </summary>
public sealed class StoreCheckState(ICredentialStore store, string stateDirectory) : ICheckState
{
    private const string Prefix = "condition.";

    /// <summary>How stale a stored "last true" of a condition that is still True may get before it is written again.</summary>
    public static readonly TimeSpan LastTrueResolution = TimeSpan.FromHours(1);
    private Dictionary<string, CredentialVersion>? _active;

    private string FilePath => Path.Combine(stateDirectory, "conditions.json");

    public async Task<IReadOnlyDictionary<string, CredentialVersion>> ActiveVersionsAsync(CancellationToken cancellationToken)
    {
        if (_active is not null) return _active;
        var all = await store.ListVersionsAsync(cancellationToken).ConfigureAwait(false);
        _active = all.Where(v => v.State == VersionState.Active).GroupBy(v => v.Name, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.OrderByDescending(v => v.Version).First(), StringComparer.Ordinal);
        return _active;
    }

    public Task<IReadOnlyDictionary<string, Secret>> RevealActiveAsync(IReadOnlyCollection<string> names, CancellationToken cancellationToken) =>
        names.Count == 0 ? Task.FromResult<IReadOnlyDictionary<string, Secret>>(new Dictionary<string, Secret>()) : store.RevealActiveAsync(names, cancellationToken);

    public async Task LearnExpiryAsync(CredentialVersion version, DateTimeOffset expiresAt, string source, CancellationToken cancellationToken)
    {
        if (version.ExpiresAt == expiresAt) return;
        var meta = new Dictionary<string, string>(version.Metadata, StringComparer.Ordinal)
        {
            ["expires.source"] = source,
        };
        await store.SetMetadataAsync(version.Name, version.Version, meta, expiresAt, cancellationToken).ConfigureAwait(false);
    }

    public async Task<IReadOnlyDictionary<string, IReadOnlyDictionary<string, ConditionMemory>>> LoadConditionsAsync(CancellationToken cancellationToken)
    {
        var result = new Dictionary<string, IReadOnlyDictionary<string, ConditionMemory>>(StringComparer.Ordinal);
        foreach (var v in (await ActiveVersionsAsync(cancellationToken).ConfigureAwait(false)).Values)
        {
            var memory = FromMetadata(v.Metadata);
            if (memory.Count > 0) result[CheckReport.SubjectKey(SubjectKind.Credential, v.Name)] = memory;
        }
        if (File.Exists(FilePath))
        {
            try
            {
                var root = JsonNode.Parse(await File.ReadAllTextAsync(FilePath, cancellationToken).ConfigureAwait(false))?.AsObject();
                foreach (var (subject, node) in root ?? [])
                {
                    var conditions = new Dictionary<string, ConditionMemory>(StringComparer.Ordinal);
                    foreach (var (type, c) in node?.AsObject() ?? [])
                    {
                        if (c is null) continue;
                        conditions[type] = new ConditionMemory(Enum.Parse<ConditionStatus>((string)c["status"]!),
                            DateTimeOffset.Parse((string)c["lastTransitionTime"]!, CultureInfo.InvariantCulture),
                            c["lastTrueTime"] is { } t ? DateTimeOffset.Parse((string)t!, CultureInfo.InvariantCulture) : null);
                    }
                    result.TryAdd(subject, conditions);
                }
            }
            catch (Exception ex) when (ex is JsonException or FormatException or InvalidOperationException or ArgumentException)
            {
                // A damaged history only loses "when last true"; the checks themselves still run.
            }
        }
        return result;
    }

    public async Task SaveConditionsAsync(IReadOnlyList<CheckReport> reports, CancellationToken cancellationToken)
    {
        _active = null; // re-read: checks may have learned expiries since
        var active = await ActiveVersionsAsync(cancellationToken).ConfigureAwait(false);
        var file = new JsonObject();
        if (File.Exists(FilePath))
        {
            try { file = JsonNode.Parse(await File.ReadAllTextAsync(FilePath, cancellationToken).ConfigureAwait(false))?.AsObject() ?? new JsonObject(); }
            catch (JsonException) { file = new JsonObject(); }
        }
        // Every credential's memory in one transaction: one commit, not one per credential (10k credentials: one fsync).
        var transaction = await store.BeginAsync(cancellationToken).ConfigureAwait(false);
        await using var _ = transaction.ConfigureAwait(false);
        foreach (var report in reports)
        {
            if (report.Kind == SubjectKind.Credential && active.TryGetValue(report.Name, out var v))
            {
                var meta = new Dictionary<string, string>(v.Metadata, StringComparer.Ordinal);
                var stored = FromMetadata(v.Metadata);
                foreach (var c in report.Conditions)
                {
                    meta[$"{Prefix}{c.Type}.status"] = c.Status.ToString();
                    meta[$"{Prefix}{c.Type}.lastTransition"] = c.LastTransitionTime.ToString("O", CultureInfo.InvariantCulture);
                    // A condition that stays True moves its "last true" every check; kept to the hour, so a check that
                    // changes nothing writes nothing.
                    var keep = c.Status == ConditionStatus.True && stored.TryGetValue(c.Type, out var was) && was.Status == ConditionStatus.True
                        && was.LastTrueTime is { } previous && c.LastTrueTime is { } now && now - previous < LastTrueResolution && now >= previous;
                    if (!keep && c.LastTrueTime is { } t) meta[$"{Prefix}{c.Type}.lastTrue"] = t.ToString("O", CultureInfo.InvariantCulture);
                }
                if (!meta.OrderBy(p => p.Key, StringComparer.Ordinal).SequenceEqual(v.Metadata.OrderBy(p => p.Key, StringComparer.Ordinal)))
                    await store.SetMetadataAsync(v.Name, v.Version, meta, v.ExpiresAt, cancellationToken).ConfigureAwait(false);
                continue;
            }
            var o = new JsonObject();
            var before = file[report.Key] as JsonObject;
            foreach (var c in report.Conditions)
            {
                var lastTrue = c.LastTrueTime?.ToString("O", CultureInfo.InvariantCulture);
                if (c.Status == ConditionStatus.True && before?[c.Type] is JsonObject was && (string?)was["status"] == nameof(ConditionStatus.True)
                    && DateTimeOffset.TryParse((string?)was["lastTrueTime"], CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var previous)
                    && c.LastTrueTime is { } now && now >= previous && now - previous < LastTrueResolution)
                    lastTrue = (string?)was["lastTrueTime"]; // as for credentials: "last true" to the hour, so an unchanged file is not rewritten
                o[c.Type] = new JsonObject
                {
                    ["status"] = c.Status.ToString(),
                    ["lastTransitionTime"] = c.LastTransitionTime.ToString("O", CultureInfo.InvariantCulture),
                    ["lastTrueTime"] = lastTrue,
                };
            }
            file[report.Key] = o;
        }
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        // Atomic (a crash keeps the previous memory), 0600 in a 0700 state directory made if missing; no secrets in it.
        AtomicFile.WriteIfChanged(Path.GetFullPath(FilePath), System.Text.Encoding.UTF8.GetBytes(file.ToJsonString(new JsonSerializerOptions { WriteIndented = true })),
            mode: 0x180, directoryMode: 0x1C0);
        _active = null;
    }

    internal static Dictionary<string, ConditionMemory> FromMetadata(IReadOnlyDictionary<string, string> metadata)
    {
        var result = new Dictionary<string, ConditionMemory>(StringComparer.Ordinal);
        foreach (var type in new[] { ConditionTypes.Ready, ConditionTypes.Verified, ConditionTypes.ExpiresSoon })
        {
            if (!metadata.TryGetValue($"{Prefix}{type}.status", out var s) || !Enum.TryParse<ConditionStatus>(s, out var status)) continue;
            if (!metadata.TryGetValue($"{Prefix}{type}.lastTransition", out var lt) ||
                !DateTimeOffset.TryParse(lt, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var transition)) continue;
            DateTimeOffset? lastTrue = metadata.TryGetValue($"{Prefix}{type}.lastTrue", out var tt) &&
                DateTimeOffset.TryParse(tt, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var t) ? t : null;
            result[type] = new ConditionMemory(status, transition, lastTrue);
        }
        return result;
    }
}
