using Keyward.Core.Manifest;
using Keyward.Server.Controller;
using Keyward.Engine.Checks;
using Keyward.Services;

namespace Keyward.Server.Metrics;

/// <summary>
/// The controller's metrics, in cert-manager's style, from the last pass's snapshot (so there are no stale series):
/// expiry per credential, ready status (one series per condition, 1 on the current one), sink drift, rotations,
/// leadership, the loop's last run, the manifest's validity. Labels carry names and kinds only. The per-credential,
/// per-cache and per-sink families are rendered once per snapshot (<see cref="PerSubject"/>); the rest at each scrape.
/// </summary>
public sealed class ControllerMetrics(ServerState state, ControllerStatus status, IControllerLeader leader) : IMetricsSource
{
    private static readonly string[] Statuses = ["True", "False", "Unknown"];

    private sealed record Rendered(ControllerSnapshot Snapshot, KeywardManifest? Manifest, RenderedFamilies Block);

    private Rendered? _rendered;

    public void Collect(MetricsWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        var manifest = state.Manifest;
        writer.Append(PerSubject(status.Snapshot, manifest));

        writer.Family("keyward_sink_repairs_total", MetricType.Counter, "Times the loop rewrote a sink because it differed from the store, since the server started.");
        foreach (var (sink, n) in status.SinkRepairs.OrderBy(p => p.Key, StringComparer.Ordinal))
            writer.Sample(n, ("sink", sink));

        writer.Family("keyward_rotation_total", MetricType.Counter, "New versions the loop made, by credential and result (renewed, committed, awaiting-continue, aborted, failed), since the server started.");
        foreach (var ((credential, result), n) in status.Rotations.OrderBy(p => p.Key.Credential, StringComparer.Ordinal).ThenBy(p => p.Key.Result, StringComparer.Ordinal))
            writer.Sample(n, ("credential", credential), ("result", result));

        writer.Family("keyward_controller_leader", MetricType.Gauge, "1 on the replica that runs the controller loop, 0 elsewhere.");
        writer.Sample(leader.IsLeader ? 1 : 0);

        writer.Family("keyward_controller_last_run_timestamp_seconds", MetricType.Gauge, "When the last controller pass finished (Unix seconds; 0 before the first).");
        writer.Sample(status.LastRun is { } last ? last.ToUnixTimeMilliseconds() / 1000.0 : 0);

        writer.Family("keyward_controller_interval_seconds", MetricType.Gauge, "The configured interval between controller passes.");
        writer.Sample(state.Options.Interval.TotalSeconds);

        writer.Family("keyward_controller_last_pass_duration_seconds", MetricType.Gauge, "How long the last controller pass took.");
        writer.Sample(status.LastDurationSeconds);

        writer.Family("keyward_controller_passes_total", MetricType.Counter, "Controller passes run since the server started.");
        writer.Sample(status.Passes);

        writer.Family("keyward_controller_pass_failures_total", MetricType.Counter, "Controller passes in which a step failed, since the server started.");
        writer.Sample(status.FailedPasses);

        writer.Family("keyward_controller_step_failures", MetricType.Gauge, "Consecutive failures of a step that is backing off (apply, rotation, service/NAME).");
        foreach (var (key, failures, _, _) in status.Backoff?.Snapshot() ?? [])
            writer.Sample(failures, ("step", key));

        writer.Family("keyward_manifest_valid", MetricType.Gauge, "1 when the manifest file on disk is the valid one in use, 0 when an edit made it invalid (the last valid one is kept).");
        writer.Sample(state.ManifestErrors.Count == 0 && manifest is not null ? 1 : 0);
    }

    /// <summary>
    /// The families with a series per credential, cache and sink (nearly all of the output: 3 MB at 10,000 credentials),
    /// which depend only on the last pass's snapshot and the manifest in use. Both are replaced whole, never changed in
    /// place (a pass publishes a new snapshot, a reload a new manifest), so the block rendered for one pair is exact for as
    /// long as both are the ones in use: rendered once per pass (at the first scrape after it) instead of per scrape.
    /// </summary>
    private RenderedFamilies PerSubject(ControllerSnapshot snapshot, KeywardManifest? manifest)
    {
        if (Volatile.Read(ref _rendered) is { } cached && ReferenceEquals(cached.Snapshot, snapshot) && ReferenceEquals(cached.Manifest, manifest))
            return cached.Block;
        var block = MetricsWriter.Prerender(writer => WritePerSubject(writer, snapshot, manifest));
        Volatile.Write(ref _rendered, new Rendered(snapshot, manifest, block));
        return block;
    }

    private static void WritePerSubject(MetricsWriter writer, ControllerSnapshot snapshot, KeywardManifest? manifest)
    {
        writer.Family("keyward_credential_expiration_timestamp_seconds", MetricType.Gauge, "Expiry of the active version of a credential (Unix seconds), for those that expire.");
        foreach (var v in snapshot.Active.OrderBy(v => v.Name, StringComparer.Ordinal))
            if (v.ExpiresAt is { } exp)
                writer.Sample(exp.ToUnixTimeSeconds(), ("credential", v.Name), ("kind", v.Kind));

        var reports = new Dictionary<string, CheckReport>(snapshot.Reports.Count, StringComparer.Ordinal);
        foreach (var r in snapshot.Reports) reports[r.Key] = r;

        writer.Family("keyward_credential_ready_status", MetricType.Gauge, "Readiness of a credential from its last checks (Ready and Verified): 1 on the current condition (True, False or Unknown).");
        foreach (var c in manifest?.Credentials ?? [])
        {
            var current = Readiness(reports.GetValueOrDefault(CheckReport.SubjectKey(SubjectKind.Credential, c.Name)));
            foreach (var s in Statuses) writer.Sample(s == current ? 1 : 0, ("credential", c.Name), ("condition", s));
        }

        writer.Family("keyward_cache_ready_status", MetricType.Gauge, "Readiness of a declared Attic cache (service/cache) from its last checks: 1 on the current condition.");
        foreach (var r in snapshot.Reports.Where(r => r.Kind == SubjectKind.Cache))
        {
            var current = Readiness(r);
            foreach (var s in Statuses) writer.Sample(s == current ? 1 : 0, ("cache", r.Name), ("condition", s));
        }

        writer.Family("keyward_sink_drift", MetricType.Gauge, "1 when a sink differed from what Keyward renders at the end of the last pass (the loop could not repair it), else 0.");
        foreach (var sink in manifest?.Sinks ?? [])
        {
            var r = reports.GetValueOrDefault(CheckReport.SubjectKey(SubjectKind.Sink, sink.Name));
            writer.Sample(r is not null && r.Conditions.Any(c => c.IsFailure && c.Status == ConditionStatus.False) ? 1 : 0, ("sink", sink.Name));
        }
    }

    /// <summary>cert-manager's ready condition for one subject: False when a check failed, Unknown when one could not be
    /// decided (or no pass has checked it yet), else True. ExpiresSoon is a warning, not readiness.</summary>
    internal static string Readiness(CheckReport? report)
    {
        if (report is null) return "Unknown";
        var relevant = report.Conditions.Where(c => c.Type != ConditionTypes.ExpiresSoon).ToArray();
        if (relevant.Any(c => c.Status == ConditionStatus.False)) return "False";
        if (relevant.Length == 0 || relevant.Any(c => c.Status == ConditionStatus.Unknown)) return "Unknown";
        return "True";
    }
}
