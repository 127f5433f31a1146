using Keyward.Core.Errors;
using Keyward.Core.Manifest;
using Keyward.Core.Secrets;
using Keyward.Services.Gitea;

namespace Keyward.Services.Bootstrap;

/// <summary>Gitea/Forgejo: fresh = the installer still runs (<c>/api/v1/version</c> 404); token creation =
/// <c>POST /api/v1/users/{user}/tokens</c> with Basic auth and the declared scopes plus <c>read:user</c>.</summary>
public sealed class GiteaBootstrapTarget(Service service, GiteaClient client, Secret? adminPassword, TimeProvider time) : IBootstrapTarget
{
    public string Service => service.Name;

    /// <summary>The scopes every token gets: the declared ones plus <c>read:user</c>, so validation can tell 401 from 403.</summary>
    public IReadOnlyList<string> Scopes => GiteaScopes.For(service);

    public async Task<ServiceReadiness> ProbeAsync(CancellationToken cancellationToken) =>
        await client.GetVersionAsync(cancellationToken).ConfigureAwait(false) is null ? ServiceReadiness.Fresh : ServiceReadiness.Ready;

    public Task<TokenValidation> ValidateAsync(Secret token, CancellationToken cancellationToken) => client.ValidateAsync(token, cancellationToken);

    public async Task<Secret?> TryCreateTokenAsync(CancellationToken cancellationToken)
    {
        if (adminPassword is null || service.AdminUser is null) return null;
        var name = ServiceTokenNames.Next(time);
        try
        {
            var created = await client.CreateTokenAsync(service.AdminUser, adminPassword, name, Scopes, cancellationToken).ConfigureAwait(false);
            return created.Value;
        }
        catch (KeywardException ex) when (ex.First.Code == ErrorCodes.ServiceUnauthorized)
        {
            return null; // wrong password or the user does not exist yet: a human must act
        }
    }

    public string Instructions(BootstrapState state, string placeholderPath)
    {
        var url = service.Url.AbsoluteUri.TrimEnd('/');
        var user = service.AdminUser ?? "ADMIN";
        var scopes = string.Join(",", Scopes);
        return state switch
        {
            BootstrapState.Fresh =>
                $"Gitea at {url} is not installed yet (/api/v1/version answers 404). Finish the installer, or set\n" +
                "  GITEA__security__INSTALL_LOCK=true   (Forgejo: FORGEJO__security__INSTALL_LOCK=true)\n" +
                "and create the admin with the CLI on the server:\n" +
                $"  gitea admin user create --admin --username {user} --email {user}@example.org --random-password --must-change-password=false",
            _ =>
                (state == BootstrapState.Invalid ? $"The token held for Gitea at {url} is refused (invalid or deleted).\n" : $"Gitea at {url} has no API token for Keyward.\n") +
                "Create one on the server and put it in this file:\n" +
                $"  gitea admin user generate-access-token --username {user} --token-name keyward-bootstrap --scopes \"{scopes}\" --raw > {placeholderPath}\n" +
                "or over the API with the user's password (Basic auth; a token cannot create a token):\n" +
                $"  curl -fsS -u {user} -H 'Content-Type: application/json' -d '{{\"name\":\"keyward-bootstrap\",\"scopes\":[{string.Join(",", Scopes.Select(s => $"\"{s}\""))}]}}' {url}/api/v1/users/{user}/tokens | jq -r .sha1 > {placeholderPath}",
        };
    }
}

/// <summary>The scopes of every Gitea token Keyward creates (bootstrap and rotation): exactly the declared ones, plus
/// <c>read:user</c> so validation (<c>GET /api/v1/user</c>) can tell 401 from 403. Least privilege: nothing else.</summary>
public static class GiteaScopes
{
    public static IReadOnlyList<string> For(Service service)
    {
        ArgumentNullException.ThrowIfNull(service);
        return service.Scopes.Concat(["read:user"]).Distinct(StringComparer.Ordinal).ToArray();
    }
}
