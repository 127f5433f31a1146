using System.Text.Json;
using System.Text.Json.Serialization;
using Keyward.Core.Graph;
using Keyward.Core.Rotation;
using Keyward.Core.Store;

namespace Keyward.Engine.Rotation;

/// <summary>What a rotation journal's intent column holds: the intent, the versions active when it started (what
/// <c>--abort</c> restores), and the plan's steps (so <c>--resume</c> replays the same steps even after the store changed).</summary>
internal sealed record JournalIntent(
    IReadOnlyList<string> Names,
    string Reason,
    IReadOnlyList<string> Exposed,
    bool Broad,
    bool AutoContinue,
    IReadOnlyDictionary<string, int> Snapshot,
    IReadOnlyDictionary<string, long> OverlapSeconds,
    IReadOnlyList<JournalPlanStep> Steps)
{
    public string Serialize() => JsonSerializer.Serialize(this, JournalJsonContext.Default.JournalIntent);

    public static JournalIntent Parse(string text) =>
        JsonSerializer.Deserialize(text, JournalJsonContext.Default.JournalIntent) ?? throw new JsonException("empty journal intent");
}

/// <summary>The journal intent's JSON, source-generated (NativeAOT): camelCase, nulls left out.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(JournalIntent))]
internal sealed partial class JournalJsonContext : JsonSerializerContext;

internal sealed record JournalPlanStep(int Order, RotationPhase Phase, StepAction Action, NodeKind Kind, string Target, string? Credential, string Detail);

/// <summary>Journal statuses of a rotation beyond the store's open/committed/aborted.</summary>
internal static class RotationStatus
{
    public const string Operation = "rotate";
    /// <summary>Open and running (the store's own status for a new journal).</summary>
    public const string Open = JournalStatuses.Open;
    /// <summary>Phase one of a two-phase rollover is done; waiting for <c>--continue</c>.</summary>
    public const string AwaitingContinue = "awaiting-continue";
    /// <summary><c>--continue</c> was given: phase two may run (also after a crash).</summary>
    public const string PhaseTwo = "phase-two";
    public const string Aborting = "aborting";
    /// <summary>Paused at a deliver step until the named hosts' agents confirm; <c>--resume</c>/<c>--continue</c> (and
    /// serve's controller) check again.</summary>
    public const string AwaitingHosts = "awaiting-hosts";

    public const string Started = "started";
    public const string Done = "done";
    public const string Failed = "failed";
    /// <summary>A deliver step found hosts that have not confirmed (journalled once per pause).</summary>
    public const string Waiting = "waiting";
}
