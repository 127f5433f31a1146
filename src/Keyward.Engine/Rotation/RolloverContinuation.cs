using Keyward.Core.Manifest;
using Keyward.Core.Store;

namespace Keyward.Engine.Rotation;

/// <summary>What the server's loop decides about an open rotation journal.</summary>
public enum OpenRotationAction
{
    /// <summary>No open rotation journal.</summary>
    None,
    /// <summary>A rotation stopped in the middle (crash, failed step) or paused for hosts: <c>ResumeAsync(false)</c> finishes it
    /// (a pause for hosts is checked again, and goes on once they have confirmed).</summary>
    Resume,
    /// <summary>A cache-key rollover waits for phase two, its keys have <c>autoContinue</c> and the overlap has passed:
    /// <c>ResumeAsync(true)</c> runs phase two.</summary>
    Continue,
    /// <summary>Waiting for a person (<c>keyward rotate --continue</c>), for the overlap to pass, or being aborted.</summary>
    Wait,
}

/// <summary>The decision and, when waiting, why and until when.</summary>
public sealed record OpenRotation(OpenRotationAction Action, long? JournalId, IReadOnlyList<string> Credentials, string Reason, DateTimeOffset? WaitUntil);

/// <summary>
/// When the server may move an open rotation on by itself: a journal stopped mid-way is resumed; a two-phase
/// rollover waiting in <c>awaiting-continue</c> is continued once every nix-signing-key in it has
/// <c>rotation.autoContinue: true</c> (in the manifest in use now) and the longest of their <c>overlap</c>s has passed
/// since phase one ended. Without autoContinue it waits for <c>keyward rotate --continue</c>.
/// </summary>
public static class RolloverContinuation
{
    public static async Task<OpenRotation> DecideAsync(ICredentialStore store, KeywardManifest manifest, DateTimeOffset now, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(manifest);
        var open = (await store.OpenJournalsAsync(cancellationToken).ConfigureAwait(false)).FirstOrDefault(j => j.Operation == RotationStatus.Operation);
        if (open is null) return new OpenRotation(OpenRotationAction.None, null, [], "no open rotation", null);
        var intent = JournalIntent.Parse(open.Intent);
        var names = intent.Names;
        if (open.Status == RotationStatus.Aborting)
            return new OpenRotation(OpenRotationAction.Wait, open.Id, names, "being aborted: finish it with `keyward rotate --abort`", null);
        if (open.Status == RotationStatus.AwaitingHosts)
            return new OpenRotation(OpenRotationAction.Resume, open.Id, names, "waits for hosts to confirm the new version: check again", null);
        if (open.Status != RotationStatus.AwaitingContinue)
            return new OpenRotation(OpenRotationAction.Resume, open.Id, names, "stopped mid-way: resume", null);
        var keys = intent.Snapshot.Keys.Select(manifest.FindCredential).OfType<NixSigningKeyCredential>().ToArray();
        var manual = keys.Where(k => manifest.EffectivePolicy(k).AutoContinue != true).Select(k => k.Name).ToArray();
        if (keys.Length == 0 || manual.Length > 0)
            return new OpenRotation(OpenRotationAction.Wait, open.Id, names,
                $"waits for `keyward rotate --continue` ({string.Join(", ", manual.Length > 0 ? manual : names)} without rotation.autoContinue)", null);
        var phaseOneEnded = open.Steps.Count > 0 ? open.Steps.Max(s => s.At) : open.StartedAt;
        var until = phaseOneEnded + HoldFor(manifest, keys);
        return now >= until
            ? new OpenRotation(OpenRotationAction.Continue, open.Id, names, "autoContinue, overlap passed: phase two", null)
            : new OpenRotation(OpenRotationAction.Wait, open.Id, names, "autoContinue: phase two once the overlap has passed", until);
    }

    private static TimeSpan HoldFor(KeywardManifest manifest, IReadOnlyList<NixSigningKeyCredential> keys) =>
        keys.Select(k => manifest.EffectivePolicy(k).Overlap?.Value ?? TimeSpan.Zero).DefaultIfEmpty(TimeSpan.Zero).Max();
}
