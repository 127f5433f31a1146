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

    /// <summary>conditions.json as <see cref="LoadConditionsAsync"/> read it, or null when it was missing or unreadable.</summary>
    private ConditionFile? _file;

    /// <summary>Each active credential's memory as <see cref="LoadConditionsAsync"/> read it from its metadata (only those
    /// that had one).</summary>
    private Dictionary<string, Dictionary<string, ConditionMemory>>? _credentialMemory;

    /// <summary>What a long-running checker keeps of conditions.json between runs (the server's passes); null parses the
    /// file at every run.</summary>
    public ConditionHistoryCache? History { get; init; }

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
        var credentials = new Dictionary<string, Dictionary<string, ConditionMemory>>(StringComparer.Ordinal);
        var reader = new MetadataReader();
        foreach (var v in (await ActiveVersionsAsync(cancellationToken).ConfigureAwait(false)).Values)
        {
            var memory = reader.Read(v.Metadata);
            if (memory.Count == 0) continue;
            result[CheckReport.SubjectKey(SubjectKind.Credential, v.Name)] = memory;
            credentials[v.Name] = memory;
        }
        _credentialMemory = credentials;
        // Read as bytes in one go (a text reader reads a multi-megabyte file in thousands of small async reads) and kept as
        // read: saving compares with it, and parses and writes the file only when a sink's or cache's memory changed. A
        // server keeps the parse of the bytes it read last (History) and takes it again while the file holds those bytes.
        _file = null;
        if (File.Exists(FilePath))
        {
            var file = History is null ? null : await History.LookupAsync(FilePath, cancellationToken).ConfigureAwait(false);
            if (file is null && Parse(await File.ReadAllBytesAsync(FilePath, cancellationToken).ConfigureAwait(false)) is { } parsed)
            {
                file = parsed;
                History?.Keep(parsed);
            }
            if (file is not null)
            {
                foreach (var (subject, memory) in file.Memory) result.TryAdd(subject, memory);
                _file = file;
            }
        }
        return result;
    }

    /// <summary>conditions.json's subjects, or null when it is damaged (a damaged history only loses "when last true"; the
    /// checks themselves still run, and the next save replaces it).</summary>
    private static ConditionFile? Parse(byte[] bytes)
    {
        try
        {
            using var doc = JsonDocument.Parse(bytes);
            var memory = new Dictionary<string, IReadOnlyDictionary<string, ConditionMemory>>(StringComparer.Ordinal);
            var raw = new Dictionary<string, Dictionary<string, (string? Status, string? Transition, string? LastTrue)>>(StringComparer.Ordinal);
            foreach (var subject in doc.RootElement.EnumerateObject())
            {
                var conditions = new Dictionary<string, ConditionMemory>(StringComparer.Ordinal);
                var texts = new Dictionary<string, (string?, string?, string?)>(StringComparer.Ordinal);
                if (subject.Value.ValueKind == JsonValueKind.Object)
                    foreach (var c in subject.Value.EnumerateObject())
                    {
                        if (c.Value.ValueKind == JsonValueKind.Null) continue;
                        var status = c.Value.GetProperty("status").GetString();
                        var transition = c.Value.GetProperty("lastTransitionTime").GetString();
                        var lastTrue = c.Value.TryGetProperty("lastTrueTime", out var t) ? t.GetString() : null;
                        texts[c.Name] = (status, transition, lastTrue);
                        conditions[c.Name] = new ConditionMemory(Enum.Parse<ConditionStatus>(status!),
                            DateTimeOffset.Parse(transition!, CultureInfo.InvariantCulture),
                            lastTrue is null ? null : DateTimeOffset.Parse(lastTrue, CultureInfo.InvariantCulture));
                    }
                memory.TryAdd(subject.Name, conditions);
                raw.TryAdd(subject.Name, texts);
            }
            return new ConditionFile(bytes, memory, raw);
        }
        catch (Exception ex) when (ex is JsonException or FormatException or InvalidOperationException or ArgumentException or KeyNotFoundException)
        {
            return null;
        }
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
        ArgumentNullException.ThrowIfNull(reports);
        var run = await ActiveVersionsAsync(cancellationToken).ConfigureAwait(false);
        var read = _file;
        var readCredentials = _credentialMemory;
        _file = null;
        _credentialMemory = null;
        // The common case (a pass in which no condition changed): decided on the memory the load parsed, without
        // formatting a time or copying the list.
        if (_learned.IsEmpty && read is not null && readCredentials is not null && Unchanged(reports, run, readCredentials, read))
        {
            Saved = [.. run.Values];
            _active = null; // the next run reads the store again
            _versions = null;
            return;
        }
        // The run's list (expiries learned during the run applied): a check that changes nothing writes nothing and
        // reads nothing more.
        var active = new Dictionary<string, CredentialVersion>(run, StringComparer.Ordinal);
        foreach (var (name, learned) in _learned)
            if (active.TryGetValue(name, out var seen) && seen.Version == learned.Version) active[name] = learned;
        _learned.Clear();
        var fileChanged = read is null || reports.Any(r => !(r.Kind == SubjectKind.Credential && active.ContainsKey(r.Name)) && FileRecordChanged(read.Raw, r));
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

    /// <summary>
    /// True when saving <paramref name="reports"/> would change nothing: every credential with an active version finds
    /// each of its conditions in the memory its metadata held, every other subject finds exactly its set of conditions in
    /// conditions.json, each with the same status, the same transition time, and the same "last true" or one kept (a
    /// condition still True whose stored "last true" is younger than <see cref="LastTrueResolution"/>) — the decisions
    /// <see cref="WouldChange"/> and <see cref="FileRecordChanged"/> make, on the parsed times instead of their texts. A
    /// memory that could not be parsed is absent here, so it counts as changed and takes the full path.
    /// </summary>
    private static bool Unchanged(IReadOnlyList<CheckReport> reports, IReadOnlyDictionary<string, CredentialVersion> active,
        Dictionary<string, Dictionary<string, ConditionMemory>> credentials, ConditionFile file)
    {
        foreach (var report in reports)
        {
            if (report.Kind == SubjectKind.Credential && active.ContainsKey(report.Name))
            {
                if (!credentials.TryGetValue(report.Name, out var memory) || !Same(memory, report, inFile: false)) return false;
            }
            else if (!file.Memory.TryGetValue(report.Key, out var memory) || memory.Count != report.Conditions.Count || !Same(memory, report, inFile: true))
                return false;
        }
        return true;
    }

    private static bool Same(IReadOnlyDictionary<string, ConditionMemory> memory, CheckReport report, bool inFile)
    {
        foreach (var c in report.Conditions)
        {
            if (!memory.TryGetValue(c.Type, out var was) || was.Status != c.Status || was.LastTransitionTime != c.LastTransitionTime) return false;
            if (was.LastTrueTime == c.LastTrueTime) continue;
            // No "last true" now: a credential's metadata keeps the stored one; the file's record would be written without it.
            if (c.LastTrueTime is not { } now)
            {
                if (inFile) return false;
                continue;
            }
            var kept = c.Status == ConditionStatus.True && was.LastTrueTime is { } previous && now >= previous && now - previous < LastTrueResolution;
            if (!kept) return false;
        }
        return true;
    }

    /// <summary>True when the record the save would write for <paramref name="report"/> (a sink, cache or host) is not the
    /// one <paramref name="read"/> holds: another set of condition types, another status, transition time, or "last true"
    /// (kept as stored while it is younger than <see cref="LastTrueResolution"/>, as the save keeps it).</summary>
    private static bool FileRecordChanged(IReadOnlyDictionary<string, Dictionary<string, (string? Status, string? Transition, string? LastTrue)>> read, CheckReport report)
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

    private static readonly (string Type, string Status, string Transition, string LastTrue)[] MetadataKeys =
        [.. new[] { ConditionTypes.Ready, ConditionTypes.Verified, ConditionTypes.ExpiresSoon }
            .Select(t => (t, $"{Prefix}{t}.status", $"{Prefix}{t}.lastTransition", $"{Prefix}{t}.lastTrue"))];

    /// <summary><see cref="FromMetadata"/> for every credential of one load: a pass writes one time for every condition it
    /// changes, so 10,000 credentials carry a handful of distinct (status, transition, last true) texts; each is parsed
    /// once, and the one <see cref="ConditionMemory"/> (immutable) shared.</summary>
    private sealed class MetadataReader
    {
        private readonly Dictionary<(string Status, string Transition, string? LastTrue), ConditionMemory?> _parsed = [];

        public Dictionary<string, ConditionMemory> Read(IReadOnlyDictionary<string, string> metadata)
        {
            var result = new Dictionary<string, ConditionMemory>(StringComparer.Ordinal);
            foreach (var (type, statusKey, transitionKey, lastTrueKey) in MetadataKeys)
            {
                if (!metadata.TryGetValue(statusKey, out var s) || !metadata.TryGetValue(transitionKey, out var lt)) continue;
                var texts = (s, lt, metadata.GetValueOrDefault(lastTrueKey));
                if (!_parsed.TryGetValue(texts, out var memory))
                    _parsed[texts] = memory = Parse(texts.s, texts.lt, texts.Item3);
                if (memory is not null) result[type] = memory;
            }
            return result;
        }
    }

    private static ConditionMemory? Parse(string s, string lt, string? tt)
    {
        if (!Enum.TryParse<ConditionStatus>(s, out var status)) return null;
        if (!DateTimeOffset.TryParse(lt, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var transition)) return null;
        DateTimeOffset? lastTrue = tt is not null && DateTimeOffset.TryParse(tt, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var t) ? t : null;
        return new ConditionMemory(status, transition, lastTrue);
    }

    internal static Dictionary<string, ConditionMemory> FromMetadata(IReadOnlyDictionary<string, string> metadata) =>
        new MetadataReader().Read(metadata);
}
