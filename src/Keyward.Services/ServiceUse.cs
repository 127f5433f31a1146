using Keyward.Core.Errors;
using Keyward.Core.Store;

namespace Keyward.Services;

/// <summary>
/// One use of a stored token against a service (check, reconcile, bootstrap, rotate): which service, which credential and
/// version, what was asked and what came back. It becomes the audit event <c>service.use</c>; it never holds the value.
/// </summary>
/// <param name="Service">The manifest's service name.</param>
/// <param name="Credential">The credential whose stored value authenticated the request.</param>
/// <param name="Version">The version used, when it is known (a token read from its source before import has none).</param>
/// <param name="What">What was asked, e.g. <c>GET /api/v2/users/me (check)</c>.</param>
/// <param name="Outcome">What the service answered: <c>valid</c>, <c>invalid</c>, <c>created</c>, or an error code.</param>
public sealed record ServiceUse(string Service, string Credential, int? Version, string? Fingerprint, string What, string Outcome)
{
    public const string AuditAction = "service.use";

    /// <summary>The outcome of a call that failed with <paramref name="error"/>: its code and message (which never carry a value).</summary>
    public static string Failed(KeywardException error)
    {
        ArgumentNullException.ThrowIfNull(error);
        return $"failed: {error.First.Code.Code} {error.First.Message}";
    }

    /// <summary>The audit detail: <c>SERVICE: WHAT -> OUTCOME</c>.</summary>
    public string Detail => $"{Service}: {What} -> {Outcome}";

    public AuditEvent ToAudit(DateTimeOffset at, string actor) => new(at, actor, AuditAction, Credential, Version, Fingerprint, Detail);
}
