namespace Keyward.Engine.Checks;

/// <summary>cert-manager's condition statuses.</summary>
public enum ConditionStatus
{
    True,
    False,
    Unknown,
}

/// <summary>The three condition types every report uses.</summary>
public static class ConditionTypes
{
    /// <summary>The value exists where it should (stored, delivered, the service object exists).</summary>
    public const string Ready = "Ready";
    /// <summary>Reality agrees with the manifest (the service accepts the token, the key matches, modes are right).</summary>
    public const string Verified = "Verified";
    /// <summary>True when expiry is within the warning window (a warning, not a failure).</summary>
    public const string ExpiresSoon = "ExpiresSoon";
}

/// <summary>What one check observed, before history (transition and last-true times) is merged in.</summary>
public sealed record Observation(string Type, ConditionStatus Status, string Reason, string Message)
{
    public static Observation True(string type, string reason, string message) => new(type, ConditionStatus.True, reason, message);
    public static Observation False(string type, string reason, string message) => new(type, ConditionStatus.False, reason, message);
    public static Observation Unknown(string type, string reason, string message) => new(type, ConditionStatus.Unknown, reason, message);
}

/// <summary>A condition as reported: status, a CamelCase reason, a sentence, when the status last changed and when it was last True.</summary>
public sealed record Condition(string Type, ConditionStatus Status, string Reason, string Message,
    DateTimeOffset LastTransitionTime, DateTimeOffset? LastTrueTime)
{
    /// <summary>Ready and Verified must be True; ExpiresSoon True is only a warning.</summary>
    public bool IsFailure => Type != ConditionTypes.ExpiresSoon && Status != ConditionStatus.True;

    public bool IsWarning => Type == ConditionTypes.ExpiresSoon && Status == ConditionStatus.True;
}

/// <summary>What is checked: a credential, an Attic cache (<c>service/cache</c>), a sink, or a host (its agent's confirmations).</summary>
public enum SubjectKind
{
    Credential,
    Cache,
    Sink,
    Host,
}

public sealed record CheckReport(SubjectKind Kind, string Name, IReadOnlyList<Condition> Conditions)
{
    public string Key => SubjectKey(Kind, Name);

    public bool Failed => Conditions.Any(c => c.IsFailure);

    public static string SubjectKey(SubjectKind kind, string name) => kind switch
    {
        SubjectKind.Credential => "credential/" + name,
        SubjectKind.Cache => "cache/" + name,
        SubjectKind.Sink => "sink/" + name,
        SubjectKind.Host => "host/" + name,
        _ => kind.ToString().ToLowerInvariant() + "/" + name,
    };
}

/// <summary>What was remembered about one condition from earlier runs.</summary>
public sealed record ConditionMemory(ConditionStatus Status, DateTimeOffset LastTransitionTime, DateTimeOffset? LastTrueTime);
