using Keyward.Engine.Agent;
using Keyward.Server.Metrics;

namespace Keyward.Server.Agent;

/// <summary>The agent area's gauges on <c>/metrics</c>: when each host's agent was last seen, and which host sinks are
/// stale (not confirmed at the current version, or reported failed or drifted).</summary>
internal sealed class AgentMetrics(ServerState state, HostStatusBoard board) : IMetricsSource
{
    public void Collect(MetricsWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        var hosts = board.View(state.Manifest);
        writer.Family("keyward_agent_last_seen_timestamp_seconds", MetricType.Gauge, "When the host's agent last authenticated or reported (Unix time).");
        foreach (var h in hosts.Where(h => h.LastSeen is not null))
            writer.Sample(h.LastSeen!.Value.ToUnixTimeMilliseconds() / 1000.0, ("host", h.Host));
        writer.Family("keyward_host_sink_stale", MetricType.Gauge, "1 when the host has not confirmed the sink's current version (or reported it failed or drifted).");
        foreach (var h in hosts)
            foreach (var s in h.Sinks)
                writer.Sample(s.Stale ? 1 : 0, ("host", h.Host), ("sink", s.Sink));
    }

    /// <summary>The same gauges as text (for tests and diagnostics).</summary>
    public void Write(TextWriter w)
    {
        ArgumentNullException.ThrowIfNull(w);
        var sb = new System.Text.StringBuilder();
        Collect(new MetricsWriter(sb));
        w.Write(sb.ToString());
    }
}
