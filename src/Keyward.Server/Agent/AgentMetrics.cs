using System.Globalization;
using Keyward.Engine.Agent;

namespace Keyward.Server.Agent;

/// <summary>The agent area's Prometheus gauges, in the text exposition format. Until the metrics extension interface of
/// <c>keyward serve</c> lands, the metrics endpoint calls <see cref="Write"/> (see docs/agent.md).</summary>
internal sealed class AgentMetrics(ServerState state, HostStatusBoard board)
{
    public void Write(TextWriter w)
    {
        ArgumentNullException.ThrowIfNull(w);
        var hosts = board.View(state.Manifest);
        w.Write("# HELP keyward_agent_last_seen_timestamp_seconds When the host's agent last authenticated or reported (Unix time).\n");
        w.Write("# TYPE keyward_agent_last_seen_timestamp_seconds gauge\n");
        foreach (var h in hosts.Where(h => h.LastSeen is not null))
            w.Write(string.Create(CultureInfo.InvariantCulture, $"keyward_agent_last_seen_timestamp_seconds{{host=\"{Escape(h.Host)}\"}} {h.LastSeen!.Value.ToUnixTimeMilliseconds() / 1000.0:0.###}\n"));
        w.Write("# HELP keyward_host_sink_stale 1 when the host has not confirmed the sink's current version (or reported it failed or drifted).\n");
        w.Write("# TYPE keyward_host_sink_stale gauge\n");
        foreach (var h in hosts)
            foreach (var s in h.Sinks)
                w.Write($"keyward_host_sink_stale{{host=\"{Escape(h.Host)}\",sink=\"{Escape(s.Sink)}\"}} {(s.Stale ? 1 : 0)}\n");
    }

    private static string Escape(string s) => s.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);
}
