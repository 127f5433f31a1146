using Keyward.Core.Graph;
using Keyward.Core.Manifest;
using Keyward.Engine.Rotation;
using Keyward.Engine.Checks;
using Keyward.Services;
using Keyward.Store;
using Keyward.Core.Store;

namespace Keyward.Server.Dashboard;

internal enum Health
{
    Ok,
    Pending,
    Expiring,
    Failed,
    Expired,
}

internal sealed record ConditionView(string Subject, string Type, ConditionStatus Status, DateTimeOffset Since, bool IsFailure);

internal sealed record CredentialRow(string Name, string Kind, string Owner, int? Version, DateTimeOffset? CreatedAt, DateTimeOffset? ExpiresAt,
    Health Health, IReadOnlyList<ConditionView> Conditions);

internal sealed record JournalRow(long Id, string Operation, string Status, DateTimeOffset StartedAt, int Steps, string? LastStep);

/// <summary>Everything one dashboard page shows, read from the manifest in use and the store: names, kinds, versions,
/// dates, conditions and audit lines — the store hands out values only through Reveal, which this never calls.</summary>
internal sealed record DashboardModel(
    string ManifestFile,
    DateTimeOffset Now,
    IReadOnlyList<CredentialRow> Credentials,
    IReadOnlyList<ConditionView> OtherConditions,
    CredentialGraph Graph,
    IReadOnlyList<AuditRecord> Audit,
    IReadOnlyList<JournalRow> Journals,
    IReadOnlyList<string> ManifestErrors)
{
    /// <summary>Declared hosts and their agents' freshness (from serve's in-memory status board).</summary>
    public IReadOnlyList<Engine.Agent.HostStatusView> Hosts { get; init; } = [];

    public static readonly TimeSpan ExpiringWithin = TimeSpan.FromDays(7);
    public const int AuditLines = 50;

    public static async Task<DashboardModel> ReadAsync(KeywardManifest manifest, IReadOnlyList<string> manifestErrors, OpenedState state,
        DateTimeOffset now, CancellationToken ct)
    {
        var store = state.Store;
        var versions = await store.ListVersionsAsync(ct).ConfigureAwait(false);
        var facts = await StoreFacts.ReadAsync(store, versions, ct).ConfigureAwait(false);
        var memory = await new StoreCheckState(store, state.Directory).LoadConditionsAsync(ct).ConfigureAwait(false);
        var active = versions.Where(v => v.State == VersionState.Active).GroupBy(v => v.Name, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.MaxBy(v => v.Version)!, StringComparer.Ordinal);

        var rows = new List<CredentialRow>();
        foreach (var c in manifest.Credentials)
        {
            var key = CheckReport.SubjectKey(SubjectKind.Credential, c.Name);
            var conditions = Conditions(key, memory);
            var v = active.GetValueOrDefault(c.Name);
            var health = v is null ? Health.Pending
                : v.ExpiresAt is { } e && e <= now ? Health.Expired
                : conditions.Any(x => x.IsFailure) ? Health.Failed
                : v.ExpiresAt is { } soon && soon - now <= ExpiringWithin ? Health.Expiring
                : Health.Ok;
            rows.Add(new CredentialRow(c.Name, c.Kind.Name(), c.Owner, v?.Version, v?.CreatedAt, v?.ExpiresAt, health, conditions));
        }
        var credentialKeys = manifest.Credentials.Select(c => CheckReport.SubjectKey(SubjectKind.Credential, c.Name)).ToHashSet(StringComparer.Ordinal);
        var others = memory.Keys.Where(k => !credentialKeys.Contains(k)).Order(StringComparer.Ordinal)
            .SelectMany(k => Conditions(k, memory)).ToList();

        var audit = await store.ReadAuditAsync(now - TimeSpan.FromDays(30), ct).ConfigureAwait(false);
        var journals = await store.OpenJournalsAsync(ct).ConfigureAwait(false);
        return new DashboardModel(manifest.File, now, rows, others, GraphBuilder.Build(manifest, facts, now),
            audit.Skip(Math.Max(0, audit.Count - AuditLines)).Reverse().ToList(),
            journals.Select(j => new JournalRow(j.Id, j.Operation, j.Status, j.StartedAt, j.Steps.Count,
                j.Steps.Count == 0 ? null : $"{j.Steps[^1].Kind} {j.Steps[^1].Target}: {j.Steps[^1].Status}")).ToList(),
            manifestErrors);
    }

    private static List<ConditionView> Conditions(string key, IReadOnlyDictionary<string, IReadOnlyDictionary<string, ConditionMemory>> memory) =>
        memory.TryGetValue(key, out var byType)
            ? byType.OrderBy(t => t.Key, StringComparer.Ordinal)
                .Select(t => new ConditionView(key, t.Key, t.Value.Status, t.Value.LastTransitionTime,
                    new Condition(t.Key, t.Value.Status, "", "", t.Value.LastTransitionTime, t.Value.LastTrueTime).IsFailure))
                .ToList()
            : [];
}
