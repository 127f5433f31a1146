namespace Keyward.Core.Errors;

// 08xx: graph, plan, rotation, journal, audit.
public static partial class ErrorCodes
{
    public static readonly ErrorCode NotInManifest = new("KW0801", ErrorKind.BadInput, "no credential of that name in the manifest", "run `keyward graph -f FILE` to list the credentials the manifest declares");
    public static readonly ErrorCode RotationBroaderThanExposure = new("KW0802", ErrorKind.BadInput, "rotation is broader than the exposure needs", "rotate only what `keyward plan exposed NAME` proposes, or pass --broad to rotate more on purpose");
    public static readonly ErrorCode RotationMissesExposure = new("KW0803", ErrorKind.BadInput, "rotation does not contain the exposure", "include every credential `keyward plan exposed NAME` proposes");
    public static readonly ErrorCode GraphvizMissing = new("KW0804", ErrorKind.Failed, "Graphviz `dot` is not installed", "install Graphviz (apt-get install graphviz) or use --format dot and render it elsewhere");
    public static readonly ErrorCode GraphvizFailed = new("KW0805", ErrorKind.Failed, "Graphviz `dot` failed", "run with --format dot and check the output with `dot -Tsvg` by hand");
    public static readonly ErrorCode RotationInProgress = new("KW0806", ErrorKind.Failed, "a rotation is already in progress", "finish it with `keyward rotate --resume` (or `--continue` for a waiting two-phase rollover), or roll it back with `keyward rotate --abort`");
    public static readonly ErrorCode NoRotationInProgress = new("KW0807", ErrorKind.BadInput, "no rotation is in progress", "`--resume`, `--continue` and `--abort` act on an open rotation; start one with `keyward rotate NAME`");
    public static readonly ErrorCode RotationStepFailed = new("KW0808", ErrorKind.Failed, "a rotation step failed", "fix the cause and run `keyward rotate --resume`, or roll back with `keyward rotate --abort`");
    public static readonly ErrorCode RotationAwaitingContinue = new("KW0809", ErrorKind.Failed, "a two-phase rollover is waiting for its second phase", "once every consumer trusts the new public key, run `keyward rotate --continue` (or `--abort` to drop the new key)");
    public static readonly ErrorCode RotationVerifyFailed = new("KW0810", ErrorKind.Failed, "post-rotation verification failed", "inspect the named sink or token, fix it, then `keyward rotate --resume`; or `keyward rotate --abort`");
    public static readonly ErrorCode AuditTampered = new("KW0811", ErrorKind.Failed, "the audit log's hash chain is broken", "an audit row was edited, reordered or deleted; restore the state directory from a backup and investigate");
    public static readonly ErrorCode InvalidSince = new("KW0812", ErrorKind.BadInput, "invalid --since value", "give a duration (24h, 7d) or a date (2025-01-31 or an ISO 8601 timestamp)");
    public static readonly ErrorCode NotRotatable = new("KW0813", ErrorKind.BadInput, "credential cannot be rotated by Keyward", "external credentials are minted by their provider: create a new token there, update its source and run `keyward import`");
    public static readonly ErrorCode RotationAwaitingHosts = new("KW0815", ErrorKind.Failed, "a rotation is waiting for hosts to confirm the new version", "bring the named hosts' agents back (`keyward agent --once` on each, or start its --watch unit); then `keyward rotate --resume` (or `--continue`) checks again and goes on, and `keyward serve` does so on every pass; the old version stays valid until then; `keyward rotate --abort` rolls back");
    public static readonly ErrorCode ServiceTokenNotRotatable = new("KW0816", ErrorKind.BadInput, "the service's API cannot create this token's successor", "Gitea creates tokens only with Basic auth and the user's password (a token cannot create a token): declare `adminUser` and `adminPassword` on the service so Keyward can, or create the token by hand (`gitea admin user generate-access-token`), give the credential a `source` holding it and rotate again");
    public static readonly ErrorCode JournalCorrupt = new("KW0814", ErrorKind.Failed, "the rotation journal cannot be read", "the journal's intent does not match the manifest; roll back with `keyward rotate --abort`");
}
