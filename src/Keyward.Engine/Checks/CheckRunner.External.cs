using Keyward.Core.Errors;
using Keyward.Core.Manifest;
using Keyward.Core.Secrets;
using Keyward.Core.Store;

using Keyward.Services;

namespace Keyward.Engine.Checks;

public sealed partial class CheckRunner
{
    private static ServiceKind? KindFor(ExternalProvider p) => p switch
    {
        ExternalProvider.Coder => ServiceKind.Coder,
        ExternalProvider.Gitea => ServiceKind.Gitea,
        ExternalProvider.GitHub => ServiceKind.GitHub,
        ExternalProvider.GitLab => ServiceKind.GitLab,
        _ => null,
    };

    /// <summary>The service a token belongs to: the one naming it as its token, else the only one of its kind,
    /// else the one whose host matches the credential's host.</summary>
    internal Service? ServiceFor(ExternalCredential c)
    {
        if (KindFor(c.Provider) is not { } kind) return null;
        var candidates = _manifest.Services.Where(s => s.Kind == kind).ToArray();
        return candidates.FirstOrDefault(s => s.Token == c.Name)
            ?? (candidates.Length == 1 ? candidates[0] : null)
            ?? candidates.FirstOrDefault(s => c.Host is not null && (s.Url.Host == c.Host || s.Url.Host.EndsWith("." + c.Host, StringComparison.OrdinalIgnoreCase)));
    }

    private static string ValidationRequest(ServiceKind kind) => kind switch
    {
        ServiceKind.Coder => "GET /api/v2/users/me",
        ServiceKind.Gitea => "GET /api/v1/user",
        ServiceKind.GitHub => "GET /user",
        ServiceKind.GitLab => "GET /api/v4/personal_access_tokens/self",
        _ => "?",
    };

    private async Task<(Observation? Verified, DateTimeOffset? Learned)> CheckExternalAsync(ExternalCredential c, Secret value, CredentialVersion? version, CancellationToken ct)
    {
        if (ServiceFor(c) is not { } service) return (null, null);
        TokenValidation result;
        try
        {
            result = await UsingAsync(service, c.Name, $"validate ({ValidationRequest(service.Kind)})", () => service.Kind switch
            {
                ServiceKind.Coder => _clients.Coder(service).ValidateAsync(value, ct),
                ServiceKind.Gitea => _clients.Gitea(service).ValidateAsync(value, ct),
                ServiceKind.GitHub => _clients.GitHub(service).ValidateAsync(value, ct),
                ServiceKind.GitLab => _clients.GitLab(service).ValidateAsync(value, ct),
                _ => throw new InvalidOperationException(),
            }, v => v.Status.ToString()).ConfigureAwait(false);
        }
        catch (KeywardException ex)
        {
            return (FromError(ConditionTypes.Verified, ex), null);
        }
        if (result.ExpiresAt is { } learned && version is not null)
            await _state.LearnExpiryAsync(version, learned, service.Kind.ToString().ToLowerInvariant(), ct).ConfigureAwait(false);
        var who = result.Subject is null ? "" : $" (user {result.Subject})";
        var scopes = result.Scopes is { Count: > 0 } s ? $"; scopes {string.Join(",", s)}" : "";
        var obs = result.Status switch
        {
            TokenStatus.Valid => Observation.True(ConditionTypes.Verified, "Accepted", $"{service.Name}: {result.Message}{who}{scopes}"),
            TokenStatus.UnderScoped => Observation.False(ConditionTypes.Verified, "MissingScope", $"{service.Name}: {result.Message}"),
            _ => Observation.False(ConditionTypes.Verified, "Rejected", $"{service.Name}: {result.Message}"),
        };
        return (obs, result.ExpiresAt);
    }
}
