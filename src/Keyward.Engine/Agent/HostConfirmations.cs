using Keyward.Core.Manifest;
using Keyward.Core.Store;

namespace Keyward.Engine.Agent;

/// <summary>A host and those of its sinks whose agent has not confirmed what the server renders for them now.</summary>
public sealed record HostGap(string Host, IReadOnlyList<string> Sinks)
{
    public override string ToString() => $"{Host} ({string.Join(", ", Sinks)})";
}

/// <summary>
/// What each host's agent last confirmed, kept in the store (so every process sharing it — <c>keyward rotate</c>, serve's
/// controller — sees it): one sink record per host and sink, named <c>host:HOST/SINK</c>, holding the keyed fingerprint
/// the agent reported it wrote (empty when it reported a failure). The server writes them when a report arrives; the
/// rotation's deliver step compares them with what <see cref="HostBundleBuilder"/> renders now.
/// </summary>
public static class HostConfirmations
{
    public const string RecordPrefix = "host:";

    public static string RecordName(string host, string sink) => $"{RecordPrefix}{host}/{sink}";

    /// <summary>The records a report means: its host's declared sinks only, the fingerprint of each written (or already
    /// current, or repaired) sink, none for a failed one.</summary>
    public static IReadOnlyList<SinkRecord> FromReport(KeywardManifest manifest, string host, AgentReport report, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        ArgumentNullException.ThrowIfNull(report);
        var mine = manifest.SinksOfHost(host).ToDictionary(s => s.Name, StringComparer.Ordinal);
        return [.. report.Sinks.Where(s => mine.ContainsKey(s.Name))
            .Select(s => new SinkRecord(RecordName(host, s.Name), mine[s.Name].Path, s.State is "current" or "written" or "repaired" ? s.Fingerprint : "", now))];
    }

    /// <summary>For each (host, sinks): the sinks whose confirmed fingerprint is not the one the server renders now — a
    /// host that never reported, reported another fingerprint or a failure, or whose sink cannot be rendered yet has not
    /// confirmed it. Hosts no longer declared are not waited for.</summary>
    public static async Task<IReadOnlyList<HostGap>> GapsAsync(ICredentialStore store, KeywardManifest manifest,
        IEnumerable<(string Host, IReadOnlyCollection<string> Sinks)> wanted, DateTimeOffset now, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(manifest);
        ArgumentNullException.ThrowIfNull(wanted);
        var confirmed = (await store.ListSinksAsync(ct).ConfigureAwait(false))
            .Where(r => r.Name.StartsWith(RecordPrefix, StringComparison.Ordinal)).ToDictionary(r => r.Name, r => r.ContentFingerprint, StringComparer.Ordinal);
        var gaps = new List<HostGap>();
        foreach (var (host, sinks) in wanted)
        {
            if (manifest.FindHost(host) is null || sinks.Count == 0) continue;
            using var bundle = await HostBundleBuilder.BuildAsync(store, manifest, host, now, ct).ConfigureAwait(false);
            var rendered = bundle.Sinks.ToDictionary(s => s.Name, s => s.Fingerprint, StringComparer.Ordinal);
            var missing = sinks.Where(s => !rendered.TryGetValue(s, out var fp) || confirmed.GetValueOrDefault(RecordName(host, s)) != fp).ToList();
            if (missing.Count > 0) gaps.Add(new HostGap(host, missing));
        }
        return gaps;
    }
}
