using Keyward.Core.Manifest;
using Keyward.Engine.Delivery;
using Keyward.Core.Store;

namespace Keyward.Engine.Rotation;

/// <summary>
/// The trust lists of one sink while a rotation may be open — the one answer the rotation executor (for the authority's
/// sinks) and <see cref="Agent.HostBundleBuilder"/> (for a host's sinks) both render with: a key in the open rotation's
/// snapshot trusts old and new until the sink's retire-public-key step (<see cref="TrustLists.InRollover"/>); any other
/// key is settled (<see cref="TrustLists.Settled"/>).
/// </summary>
internal static class RotationTrust
{
    public static async Task<Dictionary<string, IReadOnlyList<string>>> ForSinkAsync(ICredentialStore store, KeywardManifest manifest, Sink sink,
        JournalIntent? journal, Func<string, bool> retired, DateTimeOffset now, CancellationToken ct)
    {
        var trust = new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);
        var trusted = (sink.NixConf?.TrustedPublicKeys ?? []).Concat(sink.Entries.Where(e => e.Take == EntryValue.PublicKey).Select(e => e.Credential));
        foreach (var name in trusted.Distinct(StringComparer.Ordinal))
        {
            if (manifest.FindCredential(name) is not NixSigningKeyCredential c) continue;
            var versions = await store.GetVersionsAsync(c.Name, ct).ConfigureAwait(false);
            var keys = journal is not null && journal.Snapshot.TryGetValue(c.Name, out var old)
                ? TrustLists.InRollover(versions, old, retired(c.Name), keepOld: journal.OverlapSeconds.ContainsKey(c.Name))
                : TrustLists.Settled(versions, manifest.EffectivePolicy(c).Overlap?.Value, now);
            if (keys.Count > 0) trust[c.Name] = keys;
        }
        return trust;
    }

    /// <summary>The open rotation journal's intent and the orders of its done steps; null when none is open (or its intent
    /// cannot be read: the executor reports that, the bundle then renders the settled trust).</summary>
    public static async Task<(JournalIntent Intent, HashSet<int> Done)?> OpenRotationAsync(ICredentialStore store, CancellationToken ct)
    {
        var open = (await store.OpenJournalsAsync(ct).ConfigureAwait(false)).FirstOrDefault(j => j.Operation == RotationStatus.Operation);
        if (open is null) return null;
        try
        {
            return (JournalIntent.Parse(open.Intent), RotationExecutor.DoneSteps(open));
        }
        catch (System.Text.Json.JsonException)
        {
            return null;
        }
    }

    /// <summary>True once the journal's retire-public-key step of <paramref name="key"/> for <paramref name="sink"/> is done. Per
    /// key: when two cache keys roll over together, the first key's retirement must not drop the second key's old half
    /// while the cache still signs with it.</summary>
    public static bool RetiredTrust(JournalIntent journal, HashSet<int> done, string sink, string key) =>
        journal.Steps.Any(s => s.Action == Core.Rotation.StepAction.RetirePublicKey && s.Target == sink && (s.Credential is null || s.Credential == key) && done.Contains(s.Order));
}
