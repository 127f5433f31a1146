namespace Keyward.Core.Errors;

// Engine (apply pipeline) codes share the general range: 00[2-4]x.
public static partial class ErrorCodes
{
    public static readonly ErrorCode ExternalSourceMissing = new("KW0020", ErrorKind.BadInput, "external credential source missing", "create the file or set the variable the manifest names, or fix the source");
    public static readonly ErrorCode ExternalSourceInvalid = new("KW0021", ErrorKind.BadInput, "external credential source unreadable", "check the source file's format");
    public static readonly ErrorCode ManifestInvalid = new("KW0022", ErrorKind.BadInput, "the manifest has errors", "fix the errors listed above and run the command again");
    public static readonly ErrorCode UnknownCredential = new("KW0023", ErrorKind.BadInput, "no such credential", "run `keyward list` to see the stored credentials");
    public static readonly ErrorCode NoValueYet = new("KW0024", ErrorKind.Failed, "credential has no stored value", "run `keyward apply` (or `keyward bootstrap` for bootstrap-managed tokens)");
    public static readonly ErrorCode HookFailed = new("KW0025", ErrorKind.Failed, "an onChange hook failed", "the files were written; fix the unit or command and run it by hand (apply re-runs hooks only when a file changes)");
    public static readonly ErrorCode TokenPatternShadowed = new("KW0027", ErrorKind.BadInput, "a wildcard cache pattern shadows a later pattern", "Attic uses the first matching pattern: list specific patterns before wildcards");
    public static readonly ErrorCode ExternalDue = new("KW0028", ErrorKind.Failed, "an externally minted token is due for renewal", "create a new token at the provider and update the credential's source; Keyward re-imports it on the next apply");
    public static readonly ErrorCode RotationOpen = new("KW0029", ErrorKind.Failed, "a rotation is in progress", "finish it with `keyward rotate --resume` (or `--continue` for a waiting cache-key rollover), or roll it back with `keyward rotate --abort`, then apply");
    public static readonly ErrorCode SignerMissing = new("KW0026", ErrorKind.Failed, "signing credential has no value", "apply the signing credential first (it is normally created in the same apply)");
}

public static class KeywardErrorExtensions
{
    public static KeywardException AsException(this KeywardError error) => new(error);
}
