using System.Globalization;
using Keyward.Core.Manifest;
using Keyward.Core.Time;
using Keyward.Engine.Agent;
using Keyward.Services;
using Keyward.Core.Store;

namespace Keyward.Engine.Checks;

/// <summary>
/// One report per declared host for <c>keyward check</c>, from what the server records in the store when an agent
/// reports (<see cref="HostConfirmations"/>): <b>Ready</b> — the host's agent has reported (when it last confirmed a
/// sink); <b>Verified</b> — it has confirmed every one of its sinks as the server renders it now (otherwise the stale
/// sinks are named: a rotation the host has not received, a failed write, a host that never reported).
/// </summary>
internal sealed class HostVerifier(ICredentialStore store, KeywardManifest manifest, TimeProvider time) : IHostVerifier
{
    private IReadOnlyList<SinkRecord>? _records;

    private async Task<IReadOnlyList<SinkRecord>> RecordsAsync(CancellationToken ct) =>
        _records ??= [.. (await store.ListSinksAsync(ct).ConfigureAwait(false)).Where(r => r.Name.StartsWith(HostConfirmations.RecordPrefix, StringComparison.Ordinal))];

    public async Task<IReadOnlyList<string>> HostsAsync(CancellationToken cancellationToken) =>
        (await RecordsAsync(cancellationToken).ConfigureAwait(false)).Count == 0 ? [] : [.. manifest.Hosts.Select(h => h.Name)];

    public async Task<IReadOnlyList<Observation>> VerifyAsync(string host, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var sinks = manifest.SinksOfHost(host).Select(s => s.Name).ToList();
        var mine = (await RecordsAsync(cancellationToken).ConfigureAwait(false))
            .Where(r => r.Name.StartsWith(HostConfirmations.RecordName(host, ""), StringComparison.Ordinal)).ToList();
        var list = new List<Observation>(2);
        if (mine.Count == 0)
            list.Add(Observation.False(ConditionTypes.Ready, "NeverReported", $"no report from the agent on {host} is recorded"));
        else
        {
            var last = mine.Max(r => r.WrittenAt);
            list.Add(Observation.True(ConditionTypes.Ready, "Reported",
                $"the agent on {host} last confirmed a new version at {last.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture)} ({HumanDuration.InWords(last - now)})"));
        }
        if (sinks.Count == 0)
        {
            list.Add(Observation.True(ConditionTypes.Verified, "NoSinks", $"no sink is declared for {host}"));
            return list;
        }
        var gaps = await HostConfirmations.GapsAsync(store, manifest, [(host, sinks)], now, cancellationToken).ConfigureAwait(false);
        list.Add(gaps.Count == 0
            ? Observation.True(ConditionTypes.Verified, "Confirmed", $"the agent on {host} confirmed {string.Join(", ", sinks)} as the server renders {(sinks.Count == 1 ? "it" : "them")} now")
            : Observation.False(ConditionTypes.Verified, "Stale",
                $"the agent on {host} has not confirmed {string.Join(", ", gaps[0].Sinks)} as the server renders {(gaps[0].Sinks.Count == 1 ? "it" : "them")} now (a new version it has not received, a failed write, or no report)"));
        return list;
    }
}
