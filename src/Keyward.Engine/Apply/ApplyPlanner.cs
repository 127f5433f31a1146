using Keyward.Core.Manifest;
using Keyward.Core.Rotation;
using Keyward.Core.Store;
using Keyward.Core.Time;
using Keyward.Engine.Delivery;
using Keyward.Engine.Minting;

namespace Keyward.Engine.Apply;

/// <summary>What the engine read from one external credential's source before planning: the keyed fingerprint of the
/// value it holds, or null when it has no source or holds the bootstrap placeholder.</summary>
public sealed record ExternalReading(string Source, string? Fingerprint)
{
    public static readonly ExternalReading NoSource = new("no source", null);
}

/// <summary>
/// Apply's decisions as pure functions, like <see cref="RotationPlanner"/>: from the manifest, the store's facts, the
/// due policy, what the external sources hold and what the disk looks like, to the change each credential and sink
/// needs and why. <see cref="ApplyEngine.PlanAsync"/> gathers those inputs (the only I/O) and calls these.
/// </summary>
public static class ApplyPlanner
{
    /// <summary>One change per credential of <paramref name="manifest"/>, in manifest order. Tokens are decided after their
    /// signers (a signer's new value re-mints them).</summary>
    public static IReadOnlyList<CredentialChange> Credentials(KeywardManifest manifest, StoreFacts facts, DueReport due,
        IReadOnlyDictionary<string, ExternalReading> externals, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        ArgumentNullException.ThrowIfNull(facts);
        ArgumentNullException.ThrowIfNull(due);
        ArgumentNullException.ThrowIfNull(externals);
        var dueNow = due.Due.Where(d => d.Rotatable).ToDictionary(d => d.Credential, StringComparer.Ordinal);
        var byName = new Dictionary<string, CredentialChange>(StringComparer.Ordinal);
        foreach (var c in manifest.Credentials.OrderBy(c => c is AtticTokenCredential ? 1 : 0))
        {
            var current = facts.Active(c.Name);
            byName[c.Name] = c switch
            {
                ExternalCredential e => External(manifest, e, current, facts.Versions, externals.GetValueOrDefault(e.Name) ?? ExternalReading.NoSource, dueNow.GetValueOrDefault(c.Name)),
                AtticTokenCredential t => Token(t, current, byName, facts, now),
                _ => Generated(c, current, dueNow.GetValueOrDefault(c.Name)),
            };
        }
        return [.. manifest.Credentials.Select(c => byName[c.Name])];
    }

    private static CredentialChange Generated(Credential c, CredentialVersion? current, DueItem? due)
    {
        if (current is null) return new(c, ChangeAction.Create, "no stored value yet: generate", null);
        if (current.Metadata.TryGetValue(SpecFingerprint.MetadataKey, out var stored) && !SpecFingerprint.Matches(c, stored))
            return new(c, ChangeAction.Unchanged, $"declaration changed since version {current.Version} was made: run `keyward plan rotate {c.Name}` to see what re-keying touches", current.Version);
        if (due is not null)
            return new(c, ChangeAction.Update, $"due: {due.Reason}: rotate (what it touches: `keyward plan rotate {c.Name}`)", current.Version) { ViaRotation = true };
        return new(c, ChangeAction.Unchanged, $"version {current.Version} is current", current.Version);
    }

    private static CredentialChange Token(AtticTokenCredential t, CredentialVersion? current, Dictionary<string, CredentialChange> planned,
        StoreFacts facts, DateTimeOffset now)
    {
        var signerChange = planned.GetValueOrDefault(t.SignedBy);
        if (current is null)
            return new(t, ChangeAction.Create, $"no token yet: mint, signed by {t.SignedBy}", null);
        if (signerChange is { ViaRotation: true })
            return new(t, ChangeAction.Update, $"re-minted by the rotation of {t.SignedBy}", current.Version) { ViaRotation = true };
        if (signerChange is { Action: ChangeAction.Create or ChangeAction.Update })
            return new(t, ChangeAction.Update, $"signer {t.SignedBy} gets a new value: re-mint", current.Version);
        if (facts.Active(t.SignedBy) is { } signer &&
            VersionMetadata.Of(current).SignedByVersion is { } sv && sv != signer.Version)
            return new(t, ChangeAction.Update, $"signed by {t.SignedBy} version {sv}, now version {signer.Version}: re-mint", current.Version);
        if (current.Metadata.TryGetValue(SpecFingerprint.MetadataKey, out var stored) && !SpecFingerprint.Matches(t, stored))
            return new(t, ChangeAction.Update, "subject, validity, permissions, issuer or audiences changed: re-mint", current.Version);
        if (current.ExpiresAt is { } exp)
        {
            var renewAt = exp - t.EffectiveRenewBefore;
            if (now >= renewAt)
                return new(t, ChangeAction.Update, exp <= now
                    ? $"expired {HumanDuration.InWords(exp - now)}: re-mint"
                    : $"inside the renew-before window ({HumanDuration.Format(t.EffectiveRenewBefore)}), expires {HumanDuration.InWords(exp - now)}: re-mint", current.Version);
        }
        return new(t, ChangeAction.Unchanged, current.ExpiresAt is { } e ? $"version {current.Version} valid, expires {HumanDuration.InWords(e - now)}" : $"version {current.Version} is current", current.Version);
    }

    private static CredentialChange External(KeywardManifest manifest, ExternalCredential e, CredentialVersion? current, IReadOnlyList<CredentialVersion> versions,
        ExternalReading reading, DueItem? due)
    {
        var change = ExternalValue(manifest, e, current, versions, reading);
        // Due (policy) and re-issued through its service's API: the rotation creates the next token; nothing is imported.
        return due is not null && change.Action == ChangeAction.Unchanged
            ? new(e, ChangeAction.Update, $"due: {due.Reason}: rotate (what it touches: `keyward plan rotate {e.Name}`)", current?.Version) { ViaRotation = true }
            : change;
    }

    private static CredentialChange ExternalValue(KeywardManifest manifest, ExternalCredential e, CredentialVersion? current, IReadOnlyList<CredentialVersion> versions,
        ExternalReading reading)
    {
        if (reading.Fingerprint is not { } fingerprint)
        {
            var why = e.Source is null ? "no source" : $"{reading.Source} holds the bootstrap placeholder";
            return current is null
                ? new(e, ChangeAction.Pending, $"{why}: waiting for {ApplyEngine.BootstrapHint(manifest, e)}", null)
                : new(e, ChangeAction.Unchanged, $"version {current.Version} (managed by bootstrap)", current.Version);
        }
        if (current is null) return new(e, ChangeAction.Create, $"import from {reading.Source}", null);
        if (current.Fingerprint == fingerprint)
            return new(e, ChangeAction.Unchanged, $"version {current.Version} matches {reading.Source}", current.Version);
        // A value Keyward replaced (a Coder token rotated through the API, then deleted) is never imported back.
        if (versions.FirstOrDefault(v => v.Name == e.Name && v.Version != current.Version && v.Fingerprint == fingerprint) is { } old)
            return new(e, ChangeAction.Unchanged, $"version {current.Version} is current; {reading.Source} still holds the replaced version {old.Version} (not imported)", current.Version);
        return new(e, ChangeAction.Update, $"{reading.Source} holds a different value: import", current.Version);
    }

    /// <summary>The change <paramref name="sink"/> needs because of its credentials' changes alone (waiting for one, or one
    /// of them gets a new value), or null when nothing it carries changes and only its file on disk can say.
    /// <paramref name="fileExists"/> is asked only when a credential changes (Create or Update), so a no-op plan of
    /// thousands of sinks costs no extra file lookup here.</summary>
    public static SinkChange? FromCredentials(Sink sink, IReadOnlyDictionary<string, CredentialChange> credentials, string targetPath, Func<string, bool> fileExists)
    {
        ArgumentNullException.ThrowIfNull(targetPath);
        return FromCredentials(sink, credentials, _ => targetPath, fileExists);
    }

    /// <summary><see cref="FromCredentials(Sink, IReadOnlyDictionary{string, CredentialChange}, string, Func{string, bool})"/>
    /// with the target path made only when the sink changes (a no-op plan of thousands of sinks makes none here).</summary>
    internal static SinkChange? FromCredentials(Sink sink, IReadOnlyDictionary<string, CredentialChange> credentials, Func<Sink, string> targetPathOf,
        Func<string, bool> fileExists)
    {
        ArgumentNullException.ThrowIfNull(sink);
        ArgumentNullException.ThrowIfNull(credentials);
        ArgumentNullException.ThrowIfNull(fileExists);
        // The sink's credentials in order, each once (the first pending one decides; else those that move, in order).
        // A loop rather than a query: a no-op plan asks this of every sink and none of them is pending or moving.
        CredentialChange? pending = null;
        List<string>? moving = null;
        foreach (var name in sink.CredentialNames)
        {
            if (!credentials.TryGetValue(name, out var change) || change is null) continue;
            if (change.Action == ChangeAction.Pending) pending ??= change;
            else if (change.Action is ChangeAction.Create or ChangeAction.Update) (moving ??= []).Add(change.Credential.Name);
        }
        if (pending is not null)
            return new SinkChange(sink, ChangeAction.Pending, $"waiting for {pending.Credential.Name}", targetPathOf(sink));
        if (moving is null) return null;
        var targetPath = targetPathOf(sink);
        return new SinkChange(sink, fileExists(targetPath) ? ChangeAction.Update : ChangeAction.Create,
            $"{string.Join(", ", moving)} {(moving.Count == 1 ? "changes" : "change")}", targetPath);
    }

    /// <summary>A sink whose credentials do not change: the shared inspection of its file says whether it is right, and
    /// for a live Secret whose file is right, the cluster's copy (deleted, edited, or its last write failed) may not be.</summary>
    public static SinkChange FromDisk(SinkInspection inspection, LiveInspection? live)
    {
        ArgumentNullException.ThrowIfNull(inspection);
        var change = inspection.State switch
        {
            SinkState.Pending => new SinkChange(inspection.Sink, ChangeAction.Pending, inspection.Summary, inspection.TargetPath),
            SinkState.Missing => new SinkChange(inspection.Sink, ChangeAction.Create, "file does not exist", inspection.TargetPath),
            SinkState.Current => new SinkChange(inspection.Sink, ChangeAction.Unchanged, "file matches", inspection.TargetPath),
            _ => new SinkChange(inspection.Sink, ChangeAction.Update, inspection.Summary, inspection.TargetPath),
        };
        if (change.Action == ChangeAction.Unchanged && live is { State: not (LiveState.InSync or LiveState.NotHere) })
            change = change with { Action = ChangeAction.Update, Reason = live.Message };
        return change;
    }
}
