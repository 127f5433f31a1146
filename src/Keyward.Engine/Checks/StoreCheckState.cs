using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Keyward.Core.Secrets;
using Keyward.Sinks.Files;
using Keyward.Core.Store;

using Keyward.Services;

namespace Keyward.Engine.Checks;

/// <summary>
/// <see cref="ICheckState"/> over the credential store. Condition history of credentials lives in the active
/// version's metadata (<c>condition.Ready.status</c>, <c>condition.Ready.lastTransition</c>, <c>condition.Ready.lastTrue</c>);
/// caches and sinks have no version, so theirs lives in <c>conditions.json</c> in the state directory (no secrets in it).
/// </summary>
/// <param name="actor">Who runs the checks, for the audit of every request made with a stored token (<c>service.use</c>).</param>
public sealed class StoreCheckState(ICredentialStore store, string stateDirectory, string actor = StoreCheckState.UnknownActor, TimeProvider? time = null) : ICheckState
{
    public const string UnknownActor = "check";

    private const string Prefix = "condition.";

    /// <summary>How stale a stored "last true" of a condition that is still True may get before it is written again.</summary>
    public static readonly TimeSpan LastTrueResolution = TimeSpan.FromHours(1);
    private IReadOnlyList<CredentialVersion>? _versions;
    private Dictionary<string, CredentialVersion>? _active;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, CredentialVersion> _learned = new(StringComparer.Ordinal);

    private string FilePath => Path.Combine(stateDirectory, "conditions.json");

    /// <summary>conditions.json as <see cref="LoadConditionsAsync"/> read it (subject, then condition type: the three
    /// texts stored), or null when it was missing or unreadable.</summary>
    private Dictionary<string, Dictionary<string, (string? Status, string? Transition, string? LastTrue)>>? _file;

    /// <summary>Every version, read once per check run (the store's list, as <see cref="ActiveVersionsAsync"/> saw it):
    /// the sink checks compute trust lists from it instead of reading the list again.</summary>
    public async Task<IReadOnlyList<CredentialVersion>> VersionsAsync(CancellationToken cancellationToken)
    {
        await ActiveVersionsAsync(cancellationToken).ConfigureAwait(false);
        return _versions!;
    }

    /// <summary>The active versions as the last <see cref="SaveConditionsAsync"/> left them (the metadata it wrote
    /// included), or null before one: what the run saw, without reading the list again.</summary>
    public IReadOnlyList<CredentialVersion>? Saved { get; private set; }

    public async Task<IReadOnlyDictionary<string, CredentialVersion>> ActiveVersionsAsync(CancellationToken cancellationToken)
    {
        if (_active is not null) return _active;
        var all = await store.ListVersionsAsync(cancellationToken).ConfigureAwait(false);
        _versions = all;
        _active = Active(all);
        return _active;
    }

    private static Dictionary<string, CredentialVersion> Active(IReadOnlyList<CredentialVersion> all) =>
        all.Where(v => v.State == VersionState.Active).GroupBy(v => v.Name, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.OrderByDescending(v => v.Version).First(), StringComparer.Ordinal);

    /// <summary>What the plan of the same controller pass found and revealed, when that pass changed nothing: its values
    /// are taken instead of decrypted again while the store hands out the very version list the plan read (the stored
    /// state seal unchanged, so the same active versions). Owned by the caller (the pass disposes them).</summary>
    public Delivery.PlannedInspections? Planned { get; init; }

    public async Task<IReadOnlyDictionary<string, Secret>> RevealActiveAsync(IReadOnlyCollection<string> names, CancellationToken cancellationToken)
    {
        if (names.Count == 0) return new Dictionary<string, Secret>();
        if (Planned?.Values is not { } known || !ReferenceEquals(await VersionsAsync(cancellationToken).ConfigureAwait(false), Planned.Versions))
            return await store.RevealActiveAsync(names, cancellationToken).ConfigureAwait(false);
        var values = new Dictionary<string, Secret>(names.Count, StringComparer.Ordinal);
        var missing = new List<string>();
        foreach (var name in names)
        {
            if (known.TryGetValue(name, out var value)) values[name] = value;
            else missing.Add(name);
        }
        if (missing.Count > 0)
            foreach (var (name, value) in await store.RevealActiveAsync(missing, cancellationToken).ConfigureAwait(false))
                values[name] = value;
        return values;
    }

    public async Task LearnExpiryAsync(CredentialVersion version, DateTimeOffset expiresAt, string source, CancellationToken cancellationToken)
    {
        if (version.ExpiresAt == expiresAt) return;
        var meta = new Dictionary<string, string>(version.Metadata, StringComparer.Ordinal)
        {
            ["expires.source"] = source,
        };
        await store.SetMetadataAsync(version.Name, version.Version, meta, expiresAt, cancellationToken).ConfigureAwait(false);
        // Saving the conditions starts from the run's list: it must see what was written here.
        _learned[version.Name] = version with { Metadata = meta, ExpiresAt = expiresAt };
    }

    public async Task<IReadOnlyDictionary<string, IReadOnlyDictionary<string, ConditionMemory>>> LoadConditionsAsync(CancellationToken cancellationToken)
    {
        var result = new Dictionary<string, IReadOnlyDictionary<string, ConditionMemory>>(StringComparer.Ordinal);
        foreach (var v in (await ActiveVersionsAsync(cancellationToken).ConfigureAwait(false)).Values)
        {
            var memory = FromMetadata(v.Metadata);
            if (memory.Count > 0) result[CheckReport.SubjectKey(SubjectKind.Credential, v.Name)] = memory;
        }
        // Read as bytes in one go (a text reader reads a multi-megabyte file in thousands of small async reads) and kept as
        // read: saving compares with it, and parses and writes the file only when a sink's or cache's memory changed.
        _file = null;
        if (File.Exists(FilePath))
        {
            try
            {
                using var doc = JsonDocument.Parse(await File.ReadAllBytesAsync(FilePath, cancellationToken).ConfigureAwait(false));
                var file = new Dictionary<string, Dictionary<string, (string? Status, string? Transition, string? LastTrue)>>(StringComparer.Ordinal);
                foreach (var subject in doc.RootElement.EnumerateObject())
                {
                    var conditions = new Dictionary<string, ConditionMemory>(StringComparer.Ordinal);
                    var raw = new Dictionary<string, (string?, string?, string?)>(StringComparer.Ordinal);
                    if (subject.Value.ValueKind == JsonValueKind.Object)
                        foreach (var c in subject.Value.EnumerateObject())
                        {
                            if (c.Value.ValueKind == JsonValueKind.Null) continue;
                            var status = c.Value.GetProperty("status").GetString();
                            var transition = c.Value.GetProperty("lastTransitionTime").GetString();
                            var lastTrue = c.Value.TryGetProperty("lastTrueTime", out var t) ? t.GetString() : null;
                            raw[c.Name] = (status, transition, lastTrue);
                            conditions[c.Name] = new ConditionMemory(Enum.Parse<ConditionStatus>(status!),
                                DateTimeOffset.Parse(transition!, CultureInfo.InvariantCulture),
                                lastTrue is null ? null : DateTimeOffset.Parse(lastTrue, CultureInfo.InvariantCulture));
                        }
                    result.TryAdd(subject.Name, conditions);
                    file.TryAdd(subject.Name, raw);
                }
                _file = file;
            }
            catch (Exception ex) when (ex is JsonException or FormatException or InvalidOperationException or ArgumentException or KeyNotFoundException)
            {
                // A damaged history only loses "when last true"; the checks themselves still run.
            }
        }
        return result;
    }

    public async Task RecordUsesAsync(IReadOnlyList<ServiceUse> uses, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(uses);
        var now = (time ?? TimeProvider.System).GetUtcNow();
        foreach (var use in uses)
            await store.AppendAuditAsync((use with { What = use.What + " (check)" }).ToAudit(now, actor), cancellationToken).ConfigureAwait(false);
    }

    public async Task SaveConditionsAsync(IReadOnlyList<CheckReport> reports, CancellationToken cancellationToken)
    {
        // The run's list (expiries learned during the run applied): a check that changes nothing writes nothing and
        // reads nothing more.
        var active = new Dictionary<string, CredentialVersion>(await ActiveVersionsAsync(cancellationToken).ConfigureAwait(false), StringComparer.Ordinal);
        foreach (var (name, learned) in _learned)
            if (active.TryGetValue(name, out var seen) && seen.Version == learned.Version) active[name] = learned;
        _learned.Clear();
        var read = _file;
        _file = null;
        var fileChanged = read is null || reports.Any(r => !(r.Kind == SubjectKind.Credential && active.ContainsKey(r.Name)) && FileRecordChanged(read, r));
        var file = new JsonObject();
        if (fileChanged && File.Exists(FilePath))
        {
            try { file = JsonNode.Parse(await File.ReadAllTextAsync(FilePath, cancellationToken).ConfigureAwait(false))?.AsObject() ?? new JsonObject(); }
            catch (JsonException) { file = new JsonObject(); }
        }
        var changed = new List<CheckReport>();
        foreach (var report in reports)
        {
            if (report.Kind == SubjectKind.Credential && active.TryGetValue(report.Name, out var v))
            {
                if (Remembered(v.Metadata, report) is not null) changed.Add(report);
                continue;
            }
            if (!fileChanged) continue;
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
        if (changed.Count > 0)
        {
            // Every credential's memory in one transaction: one commit, not one per credential (10k credentials: one
            // fsync). The versions are read again inside it, so a version another writer changed since the run read it
            // is merged from its current row, not overwritten with the run's copy.
            var transaction = await store.BeginAsync(cancellationToken).ConfigureAwait(false);
            await using var _ = transaction.ConfigureAwait(false);
            var current = Active(await store.ListVersionsAsync(cancellationToken).ConfigureAwait(false));
            foreach (var report in changed)
            {
                if (!current.TryGetValue(report.Name, out var v)) continue;
                active[report.Name] = v;
                if (Remembered(v.Metadata, report) is not { } meta) continue;
                await store.SetMetadataAsync(v.Name, v.Version, meta, v.ExpiresAt, cancellationToken).ConfigureAwait(false);
                active[report.Name] = v with { Metadata = meta };
            }
            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        }
        // Atomic (a crash keeps the previous memory), 0600 in a 0700 state directory made if missing; no secrets in it.
        if (fileChanged)
            AtomicFile.WriteIfChanged(Path.GetFullPath(FilePath), System.Text.Encoding.UTF8.GetBytes(file.ToJsonString(new JsonSerializerOptions { WriteIndented = true })),
            mode: 0x180, directoryMode: 0x1C0);
        Saved = [.. active.Values];
        _active = null; // the next run reads the store again
        _versions = null;
    }

    /// <summary>True when the record the save would write for <paramref name="report"/> (a sink, cache or host) is not the
    /// one <paramref name="read"/> holds: another set of condition types, another status, transition time, or "last true"
    /// (kept as stored while it is younger than <see cref="LastTrueResolution"/>, as the save keeps it).</summary>
    private static bool FileRecordChanged(Dictionary<string, Dictionary<string, (string? Status, string? Transition, string? LastTrue)>> read, CheckReport report)
    {
        if (!read.TryGetValue(report.Key, out var before) || before.Count != report.Conditions.Count) return true;
        foreach (var c in report.Conditions)
        {
            if (!before.TryGetValue(c.Type, out var was) || was.Status != c.Status.ToString()
                || was.Transition != c.LastTransitionTime.ToString("O", CultureInfo.InvariantCulture)) return true;
            var lastTrue = c.LastTrueTime?.ToString("O", CultureInfo.InvariantCulture);
            if (was.LastTrue == lastTrue) continue;
            var kept = c.Status == ConditionStatus.True && was.Status == nameof(ConditionStatus.True)
                && DateTimeOffset.TryParse(was.LastTrue, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var previous)
                && c.LastTrueTime is { } now && now >= previous && now - previous < LastTrueResolution;
            if (!kept) return true;
        }
        return false;
    }

    /// <summary>A credential's metadata with <paramref name="report"/>'s conditions remembered in it, or null when that
    /// changes nothing.</summary>
    private static Dictionary<string, string>? Remembered(IReadOnlyDictionary<string, string> metadata, CheckReport report)
    {
        if (!WouldChange(metadata, report)) return null; // the common case, without copying the metadata
        var meta = new Dictionary<string, string>(metadata, StringComparer.Ordinal);
        var stored = FromMetadata(metadata);
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
        return meta.Count == metadata.Count && meta.All(p => metadata.TryGetValue(p.Key, out var was) && was == p.Value) ? null : meta;
    }

    /// <summary>Whether <see cref="Remembered"/> would change anything: the same decisions, made without a copy.</summary>
    private static bool WouldChange(IReadOnlyDictionary<string, string> metadata, CheckReport report)
    {
        foreach (var c in report.Conditions)
        {
            if (!metadata.TryGetValue($"{Prefix}{c.Type}.status", out var status) || status != c.Status.ToString()) return true;
            if (!metadata.TryGetValue($"{Prefix}{c.Type}.lastTransition", out var transition)
                || transition != c.LastTransitionTime.ToString("O", CultureInfo.InvariantCulture)) return true;
            if (c.LastTrueTime is not { } now) continue;
            var hasLastTrue = metadata.TryGetValue($"{Prefix}{c.Type}.lastTrue", out var lastTrue);
            if (hasLastTrue && lastTrue == now.ToString("O", CultureInfo.InvariantCulture)) continue;
            // The stored status and transition equal the report's (checked above, so both parse), so the stored memory is
            // True exactly when the report is: only the stored "last true" is left to read (as FromMetadata reads it).
            var keep = c.Status == ConditionStatus.True && hasLastTrue
                && DateTimeOffset.TryParse(lastTrue, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var previous)
                && now - previous < LastTrueResolution && now >= previous;
            if (!keep) return true;
        }
        return false;
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
