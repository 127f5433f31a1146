namespace Keyward.Services;

public enum TokenStatus
{
    /// <summary>The service accepted the token (2xx).</summary>
    Valid,
    /// <summary>The service accepted the token but it lacks a scope the probe needs (Gitea/Forgejo 403).</summary>
    UnderScoped,
    /// <summary>401: missing, invalid, expired or revoked.</summary>
    Invalid,
}

/// <summary>What a service said about a token: never the token itself. <see cref="Subject"/> is the user it
/// belongs to, <see cref="ExpiresAt"/> and <see cref="Scopes"/> what the service reports (when it does).</summary>
public sealed record TokenValidation(TokenStatus Status, string Message, string? Subject = null,
    DateTimeOffset? ExpiresAt = null, IReadOnlyList<string>? Scopes = null);
