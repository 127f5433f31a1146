using Keyward.Core.Graph;

namespace Keyward.Core.Rotation;

/// <summary>The rotation rules (ARCHITECTURE.md rules 1–4, plus two for what the four do not cover).</summary>
public enum RotationRule
{
    /// <summary>Rule 1: re-mint one consumer token; its signer and every public key stay.</summary>
    ConsumerToken,
    /// <summary>Rule 2: a JWT signing secret (or RSA key): every token it signed is re-minted.</summary>
    SigningSecret,
    /// <summary>Rule 3: a cache signing key: two-phase rollover (trust old+new, switch, retire old).</summary>
    CacheSigningKey,
    /// <summary>Rule 4: storage (S3) credentials: the storage plane only.</summary>
    StorageCredential,
    /// <summary>A secret or key nothing is derived from: regenerate and re-deliver.</summary>
    StandaloneSecret,
    /// <summary>A token minted by its provider: re-imported (or bootstrapped), never minted by Keyward.</summary>
    ExternalToken,
}

public enum RotationReason
{
    Manual,
    Scheduled,
    Exposed,
}

/// <summary>What happens to a target at one step.</summary>
public enum StepAction
{
    Stage,
    ReMint,
    ReImport,
    PropagatePublicKey,
    ReRender,
    Restart,
    Reload,
    Run,
    SwitchSigning,
    Verify,
    Activate,
    /// <summary>Wait until a host's agent confirms it has what the server renders for it now (its report's fingerprints).</summary>
    Deliver,
    RetirePublicKey,
    Retire,
    Revoke,
}

public enum RotationPhase
{
    /// <summary>A rotation done in one go.</summary>
    Single,
    /// <summary>Two-phase rollover, phase one: publish old+new public keys, then wait.</summary>
    PublishTrust,
    /// <summary>Two-phase rollover, phase two: switch signing, retire the old key.</summary>
    SwitchSigning,
}

public static class RotationNames
{
    public static string Name(this RotationRule r) => r switch
    {
        RotationRule.ConsumerToken => "consumer-token",
        RotationRule.SigningSecret => "signing-secret",
        RotationRule.CacheSigningKey => "cache-signing-key",
        RotationRule.StorageCredential => "storage-credential",
        RotationRule.StandaloneSecret => "standalone-secret",
        RotationRule.ExternalToken => "external-token",
        _ => throw new ArgumentOutOfRangeException(nameof(r)),
    };

    public static string Name(this StepAction a) => a switch
    {
        StepAction.Stage => "stage",
        StepAction.ReMint => "re-mint",
        StepAction.ReImport => "re-import",
        StepAction.PropagatePublicKey => "propagate-public-key",
        StepAction.ReRender => "re-render",
        StepAction.Restart => "restart",
        StepAction.Reload => "reload",
        StepAction.Run => "run",
        StepAction.SwitchSigning => "switch-signing",
        StepAction.Verify => "re-verify",
        StepAction.Activate => "activate",
        StepAction.Deliver => "deliver",
        StepAction.RetirePublicKey => "retire-public-key",
        StepAction.Retire => "retire",
        StepAction.Revoke => "revoke",
        _ => throw new ArgumentOutOfRangeException(nameof(a)),
    };

    public static string Name(this RotationPhase p) => p switch
    {
        RotationPhase.Single => "single",
        RotationPhase.PublishTrust => "phase-1",
        RotationPhase.SwitchSigning => "phase-2",
        _ => throw new ArgumentOutOfRangeException(nameof(p)),
    };

    public static string Name(this RotationReason r) => r switch
    {
        RotationReason.Manual => "manual",
        RotationReason.Scheduled => "scheduled",
        RotationReason.Exposed => "exposed",
        _ => throw new ArgumentOutOfRangeException(nameof(r)),
    };

    public static string Description(this RotationRule r) => r switch
    {
        RotationRule.ConsumerToken => "rule 1: one consumer token — re-mint that token only; its signing secret and every public key stay",
        RotationRule.SigningSecret => "rule 2: a token signing secret — every token it signed becomes invalid and is re-minted, and their sinks updated",
        RotationRule.CacheSigningKey => "rule 3: a cache signing key — two-phase rollover: every consumer trusts old+new first, then the cache switches, then the old key is retired",
        RotationRule.StorageCredential => "rule 4: storage credentials — the storage plane only; no public key or token changes",
        RotationRule.StandaloneSecret => "a secret nothing is derived from — regenerate it and re-deliver it",
        RotationRule.ExternalToken => "an externally minted token — Keyward cannot mint it: create a new one at the provider (or bootstrap it) and re-import",
        _ => throw new ArgumentOutOfRangeException(nameof(r)),
    };
}

/// <summary>What to rotate and why. <see cref="Exposed"/> names what leaked; the planner refuses a set broader than
/// the exposure needs unless <see cref="Broad"/>.</summary>
public sealed record RotationIntent(
    IReadOnlyList<string> Credentials,
    RotationReason Reason = RotationReason.Manual,
    IReadOnlyList<string>? Exposed = null,
    bool Broad = false);

/// <summary>One requested credential and the rule that applies to it.</summary>
public sealed record PlannedRotation(string Credential, string Kind, RotationRule Rule, string Why, IReadOnlyList<string> Derived);

/// <summary>One step of a plan, in execution order. <see cref="Version"/> is the version a retire step retires, when known.</summary>
public sealed record PlanStep(int Order, RotationPhase Phase, StepAction Action, NodeKind TargetKind, string Target, string Detail, string? Credential = null);

public sealed record RotationPlan(
    DateTimeOffset At,
    RotationIntent Intent,
    IReadOnlyList<PlannedRotation> Rotations,
    IReadOnlyList<PlanStep> Steps,
    IReadOnlyList<string> Unchanged,
    IReadOnlyList<string> Notes)
{
    public bool IsTwoPhase => Steps.Any(s => s.Phase == RotationPhase.SwitchSigning);

    /// <summary>Every credential the plan gives a new version (roots and re-minted tokens).</summary>
    public IEnumerable<string> NewVersions => Steps
        .Where(s => s.Action is StepAction.Stage or StepAction.ReMint or StepAction.ReImport)
        .Select(s => s.Target);
}
