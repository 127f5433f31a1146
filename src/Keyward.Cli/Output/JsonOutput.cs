namespace Keyward.Cli;

// The shapes of the CLI's --json outputs, serialized by CliJsonContext (camelCase: `DueAt` is written "dueAt").
// Property order is output order. These are the output contract (tests compare the text): rename nothing casually.

// apply, plan
internal sealed record ApplyJson(string Manifest, IReadOnlyList<ApplyCredentialJson> Credentials, IReadOnlyList<ApplySinkJson> Sinks,
    IReadOnlyList<ApplyUpcomingJson> Upcoming, ApplyAppliedJson? Applied);
internal sealed record ApplyCredentialJson(string Name, string Kind, string Action, string Reason, int? Version);
internal sealed record ApplySinkJson(string Name, string Path, string Action, string Reason);
internal sealed record ApplyUpcomingJson(string Credential, DateTimeOffset DueAt, string Reason);
internal sealed record ApplyAppliedJson(int CredentialsWritten, int FilesWritten, IReadOnlyList<ApplyHookJson> Hooks);
internal sealed record ApplyHookJson(string Sink, string Hook, bool Success, string Message);

// check
internal sealed record CheckJson(int Failed, IReadOnlyList<CheckReportJson> Reports);
internal sealed record CheckReportJson(string Kind, string Name, bool Failed, IReadOnlyList<CheckConditionJson> Conditions);
internal sealed record CheckConditionJson(string Type, string Status, string Reason, string Message, DateTimeOffset LastTransitionTime, DateTimeOffset? LastTrueTime);

// list, list --wide
internal sealed record ListRowJson(string Name, string Kind, int Version, string State, DateTimeOffset Created, DateTimeOffset? Expires,
    string Fingerprint, string Origin, IReadOnlyList<string> Sinks);
internal sealed record TaxonomyRowJson(string Name, string Kind, string Owner, string Purpose, string Secret, IReadOnlyList<string> Consumers,
    string Rotation, string Rule, string RuleDescription, string? Version);

// audit
internal sealed record AuditRowJson(long Sequence, DateTimeOffset At, string Actor, string Action, string Credential, int? Version,
    string? Fingerprint, string? Detail, string Hash);

// tokens, revoke
internal sealed record TokenJson(string Id, string Credential, int Version, string Subject, string Grants, DateTimeOffset Issued,
    DateTimeOffset Expires, DateTimeOffset? Revoked, string Status, string SignedBy, int SignedByVersion, string Fingerprint);
internal sealed record RevokeJson(string Id, string Credential, int Version, string Subject, DateTimeOffset? Revoked, bool AlreadyRevoked);

// plan --rotate, rotate
internal sealed record RotationPlanJson(DateTimeOffset At, string Reason, IReadOnlyList<string>? Exposed, bool TwoPhase,
    IReadOnlyList<RotationJson> Rotations, IReadOnlyList<RotationStepJson> Steps, IReadOnlyList<string> Unchanged, IReadOnlyList<string> Notes,
    IReadOnlyList<RotationHostJson> Hosts);

internal sealed record RotationHostJson(string Host, IReadOnlyList<string> Sinks);
internal sealed record RotationJson(string Credential, string Kind, string Rule, string Why, IReadOnlyList<string> Derived);
internal sealed record RotationStepJson(int Order, string Phase, string Action, string Kind, string Target, string Detail);
internal sealed record RotateJson(long Journal, string State, IReadOnlyList<string> Log);

// reconcile
internal sealed record ReconcileJson(string Service, string Cache, string Action, IReadOnlyList<DriftJson> Drift, IReadOnlyList<string> Notes);
internal sealed record DriftJson(string Field, string Live, string Declared);

// store (init, show, recover, add-recipient...)
internal sealed record StoreRecipientsJson(string Identity, IReadOnlyList<StoreRecipientJson> Recipients);
internal sealed record StoreRecipientJson(string Recipient, string Role);

// export agenix, import agenix
internal sealed record AgenixExportJson(string Directory, string SecretsNix, bool SecretsNixWritten, IReadOnlyList<AgenixExportFileJson> Files,
    IReadOnlyList<SkippedJson> Skipped);
internal sealed record AgenixExportFileJson(string Credential, string Path, int Version, string Fingerprint, IReadOnlyList<string> Recipients, bool Written);
internal sealed record SkippedJson(string Credential, string Reason);
internal sealed record AgenixImportJson(string Directory, IReadOnlyList<AgenixImportFileJson> Files);
internal sealed record AgenixImportFileJson(string File, string Credential, string Action, string? Kind, int? Version, string? Fingerprint, string Reason);

// export sops, import sops
internal sealed record SopsExportJson(string File, bool Written, IReadOnlyList<string> Recipients, IReadOnlyList<SopsExportKeyJson> Keys,
    IReadOnlyList<string> Skipped);
internal sealed record SopsExportKeyJson(string Credential, string Key, int Version, string Fingerprint);
internal sealed record SopsImportJson(string File, IReadOnlyList<string> Recipients, IReadOnlyList<SopsImportKeyJson> Keys);
internal sealed record SopsImportKeyJson(string Key, string? Credential, string Action, string? Kind, int? Version, string? Fingerprint, string Reason);
