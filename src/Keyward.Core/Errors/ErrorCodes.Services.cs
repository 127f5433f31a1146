namespace Keyward.Core.Errors;

// KW09xx: live services (HTTP adapters), checks and Attic reconciliation.
public static partial class ErrorCodes
{
    public static readonly ErrorCode ServiceUnreachable = new("KW0901", ErrorKind.Failed, "service unreachable",
        "check that the service is running and that its URL in the manifest is right (connection refused or DNS failure)");
    public static readonly ErrorCode ServiceTimeout = new("KW0902", ErrorKind.Failed, "service did not answer in time",
        "the service is slow or hanging; retry later or raise the timeout");
    public static readonly ErrorCode ServiceUnauthorized = new("KW0903", ErrorKind.Failed, "service refused the credential (401)",
        "the token is invalid, expired or revoked, or (Attic) grants nothing on that cache; re-issue or bootstrap it");
    public static readonly ErrorCode ServiceForbidden = new("KW0904", ErrorKind.Failed, "service accepted the credential but denied the action (403)",
        "the token is valid but lacks a permission or scope the action needs");
    public static readonly ErrorCode ServiceNotFound = new("KW0905", ErrorKind.Failed, "service has no such object (404)",
        "check the service's URL and the object's name (Attic: a missing cache is created by `keyward reconcile`)");
    public static readonly ErrorCode ServiceRejected = new("KW0906", ErrorKind.Failed, "service rejected the request (4xx)",
        "read the service's message; the request does not match what this service version accepts");
    public static readonly ErrorCode ServiceServerError = new("KW0907", ErrorKind.Failed, "service failed (5xx) after retries",
        "the service is unhealthy; check its logs");
    public static readonly ErrorCode ServiceMalformedResponse = new("KW0908", ErrorKind.Failed, "service answered something Keyward cannot read",
        "the URL may point at something else (a proxy, a login page) or the service version is not supported");
    public static readonly ErrorCode ServiceConflict = new("KW0909", ErrorKind.Failed, "service reports a conflict (409 or already exists)",
        "someone else created the object first; rerun to pick up the current state");
    public static readonly ErrorCode ChecksFailed = new("KW0910", ErrorKind.Failed, "one or more checks failed",
        "read the conditions above; `keyward check NAME --json` shows every field");
    public static readonly ErrorCode ServiceNotDeclared = new("KW0911", ErrorKind.BadInput, "no such service or credential in the manifest",
        "run `keyward list` or read the manifest's services: section for the declared names");
    public static readonly ErrorCode ServiceCredentialMissing = new("KW0912", ErrorKind.Failed, "the credential a service call needs has no stored value",
        "run `keyward apply` (minted tokens) or `keyward bootstrap` / import (external tokens) first");
    public static readonly ErrorCode ReconcileFailed = new("KW0913", ErrorKind.Failed, "Attic cache reconciliation failed",
        "the admin token needs create-cache (POST) and configure-cache (PATCH) on the cache, plus configure-cache-retention for retention_period");
    public static readonly ErrorCode ServiceUrlInvalid = new("KW0914", ErrorKind.BadInput, "service URL unusable",
        "give an absolute http(s) URL; Attic's API endpoint must end in '/'");
}
