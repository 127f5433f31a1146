using Keyward.Core.Manifest;

namespace Keyward.Engine.Apply;

public enum ChangeAction
{
    Create,
    Update,
    Unchanged,
    /// <summary>Nothing can be done now (e.g. a token waiting for bootstrap); reported, not an error.</summary>
    Pending,
}

/// <summary>The planned change of one credential, with the reason a person reads.</summary>
public sealed record CredentialChange(Credential Credential, ChangeAction Action, string Reason, int? CurrentVersion)
{
    /// <summary>Due by policy: apply hands it to the rotation executor (journaled, with its derived tokens and sinks)
    /// instead of minting it in place.</summary>
    public bool ViaRotation { get; init; }
}

/// <summary>The planned change of one sink file.</summary>
public sealed record SinkChange(Sink Sink, ChangeAction Action, string Reason, string TargetPath);

/// <summary>A credential that will become due within the look-ahead window.</summary>
public sealed record UpcomingRenewal(string Credential, DateTimeOffset DueAt, string Reason);

/// <summary>What <c>keyward plan</c> prints and <c>keyward apply</c> executes.</summary>
public sealed record ApplyPlan(
    KeywardManifest Manifest,
    IReadOnlyList<CredentialChange> Credentials,
    IReadOnlyList<SinkChange> Sinks,
    IReadOnlyList<UpcomingRenewal> Upcoming)
{
    /// <summary>External values read while planning, reused by execution (so a source is read once).</summary>
    internal IReadOnlyDictionary<string, Keyward.Core.Secrets.Secret> Imported { get; init; } = new Dictionary<string, Keyward.Core.Secrets.Secret>();

    /// <summary>What planning found on disk, sink by sink (the sinks it inspected), and what it rendered them against.</summary>
    public Delivery.PlannedInspections? Inspections { get; init; }

    /// <summary>A rotation journal that is still open: apply plans but refuses to execute until it is resumed or aborted.</summary>
    public long? OpenJournal { get; init; }

    /// <summary>Credentials due by policy that apply rotates after its own changes.
    /// (Tokens marked ViaRotation are re-minted by their signer's rotation, not rotated on their own.)</summary>
    public IEnumerable<string> DueRotations => Credentials.Where(c => c.ViaRotation && c.Credential is not AtticTokenCredential).Select(c => c.Credential.Name);

    public bool HasChanges =>
        Credentials.Any(c => c.Action is ChangeAction.Create or ChangeAction.Update) ||
        Sinks.Any(s => s.Action is ChangeAction.Create or ChangeAction.Update);
}

/// <summary>What happened when a plan ran.</summary>
public sealed record ApplyReport(
    ApplyPlan Plan,
    int CredentialsWritten,
    int FilesWritten,
    IReadOnlyList<HookOutcome> Hooks)
{
    public bool Failed => Hooks.Any(h => !h.Success);
}

public sealed record HookOutcome(string Sink, string Hook, bool Success, string Message);

/// <summary>What <see cref="ApplyEngine.ApplyAsync"/> did: the plan's report, recipients the store's data key was
/// re-wrapped to, and the rotation policy made due (none when <paramref name="Rotated"/> is empty).</summary>
public sealed record ApplyOutcome(ApplyReport Report, int RecipientsAdded, int Recipients, IReadOnlyList<string> Rotated,
    Rotation.RotationOutcome? Rotation);
