using System.Collections.Concurrent;
using Keyward.Core.Manifest;
using Keyward.Engine.Agent;
using Keyward.Core.Store;

namespace Keyward.Server.Agent;

/// <summary>What the server knows of each host, in memory (the audit log keeps the history): when its agent was last
/// seen, the bundle version last delivered, and each sink's last report (fingerprint, state, drift).</summary>
internal sealed class HostStatusBoard
{
    private sealed class Entry
    {
        public DateTimeOffset? LastSeen;
        public string? DeliveredVersion;
        public DateTimeOffset? DeliveredAt;
        public string? CurrentVersion;
        public Dictionary<string, string> CurrentFingerprints = new(StringComparer.Ordinal);
        public readonly Dictionary<string, (SinkReport Report, DateTimeOffset At)> Reports = new(StringComparer.Ordinal);
    }

    private readonly ConcurrentDictionary<string, Entry> _hosts = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string> _persisted = new(StringComparer.Ordinal);

    /// <summary>True when this server already wrote <paramref name="record"/>'s confirmation to the store.</summary>
    public bool Persisted(SinkRecord record) => _persisted.TryGetValue(record.Name, out var fp) && fp == record.ContentFingerprint;

    public void MarkPersisted(SinkRecord record) => _persisted[record.Name] = record.ContentFingerprint;

    private Entry Of(string host) => _hosts.GetOrAdd(host, _ => new Entry());

    public void Seen(string host, DateTimeOffset at)
    {
        var e = Of(host);
        lock (e) e.LastSeen = at;
    }

    /// <summary>The version the server renders for the host now, and its sinks' fingerprints.</summary>
    public void Current(string host, string version, IEnumerable<BundleSink> sinks)
    {
        var e = Of(host);
        lock (e)
        {
            e.CurrentVersion = version;
            e.CurrentFingerprints = sinks.ToDictionary(s => s.Name, s => s.Fingerprint, StringComparer.Ordinal);
        }
    }

    public void Delivered(string host, string version, DateTimeOffset at)
    {
        var e = Of(host);
        lock (e)
        {
            e.DeliveredVersion = version;
            e.DeliveredAt = at;
        }
    }

    public void Reported(string host, AgentReport report, DateTimeOffset at)
    {
        var e = Of(host);
        lock (e)
        {
            e.LastSeen = at;
            foreach (var s in report.Sinks) e.Reports[s.Name] = (s, at);
        }
    }

    /// <summary>Every declared host, in manifest order; sinks are the host's declared sinks.</summary>
    public IReadOnlyList<HostStatusView> View(KeywardManifest? manifest)
    {
        if (manifest is null) return [];
        var list = new List<HostStatusView>();
        foreach (var h in manifest.Hosts)
        {
            var e = Of(h.Name);
            lock (e)
            {
                var sinks = manifest.SinksOfHost(h.Name).Select(s =>
                {
                    e.Reports.TryGetValue(s.Name, out var r);
                    e.CurrentFingerprints.TryGetValue(s.Name, out var current);
                    var ok = r.Report is not null && current is not null && r.Report.Fingerprint == current && r.Report.State != "failed";
                    return new HostSinkStatusView(s.Name, r.Report?.Fingerprint, r.Report?.State, !ok, r.Report?.Message, r.Report is null ? null : r.At);
                }).ToList();
                list.Add(new HostStatusView(h.Name, h.KeyText, e.LastSeen, e.DeliveredVersion, e.DeliveredAt, e.CurrentVersion, sinks));
            }
        }
        return list;
    }
}
