using Keyward.Core.Manifest;
using Keyward.Core.Rotation;
using Keyward.Core.Time;
using Keyward.Core.Store;

namespace Keyward.Engine.Rotation;

/// <summary>
/// How long <c>keyward rotate</c> waits at a pause for hosts: the <c>rotation.hostDeadline</c> of the credentials whose
/// deliver steps the open rotation waits at (the longest when several set one), else <see cref="Default"/>.
/// <c>--host-deadline</c> overrides it.
/// </summary>
public static class HostDeadlines
{
    public static readonly HumanDuration Default = HumanDuration.Parse("2m");

    /// <summary>The deadline for the pause of the open rotation (<see cref="Default"/> when none is paused at a deliver step).</summary>
    public static async Task<HumanDuration> ForOpenRotationAsync(ICredentialStore store, KeywardManifest manifest, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(manifest);
        if (await RotationTrust.OpenRotationAsync(store, ct).ConfigureAwait(false) is not var (journal, done)) return Default;
        var next = journal.Steps.OrderBy(s => s.Order).FirstOrDefault(s => !done.Contains(s.Order));
        if (next is not { Action: StepAction.Deliver }) return Default;
        // A phase of a cache-key rollover waits for that key's hosts; a single-phase run for every credential it renews.
        IEnumerable<string> credentials = next.Credential is { } c ? [c] : journal.Snapshot.Keys;
        return For(manifest, credentials);
    }

    /// <summary>The longest hostDeadline the effective policies of <paramref name="credentials"/> set, else <see cref="Default"/>.</summary>
    public static HumanDuration For(KeywardManifest manifest, IEnumerable<string> credentials)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        ArgumentNullException.ThrowIfNull(credentials);
        HumanDuration? longest = null;
        foreach (var name in credentials)
            if (manifest.FindCredential(name) is { } cred && manifest.EffectivePolicy(cred).HostDeadline is { } d && (longest is null || d.Value > longest.Value.Value))
                longest = d;
        return longest ?? Default;
    }
}
