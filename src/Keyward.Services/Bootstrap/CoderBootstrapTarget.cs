using Keyward.Core.Manifest;
using Keyward.Core.Secrets;
using Keyward.Services.Coder;

namespace Keyward.Services.Bootstrap;

/// <summary>Coder: ready = <c>GET /api/v2/buildinfo</c> 200; fresh = <c>GET /api/v2/users/first</c> 404; token creation = login with the first admin's
/// email and password, then <c>POST /users/me/keys/tokens</c> with a lifetime (nanoseconds) within <c>tokenconfig</c>.</summary>
public sealed class CoderBootstrapTarget(Service service, CoderClient client, Secret? adminPassword, TimeSpan lifetime, TimeProvider time) : IBootstrapTarget
{
    public string Service => service.Name;

    public async Task<ServiceReadiness> ProbeAsync(CancellationToken cancellationToken)
    {
        await client.GetBuildInfoAsync(cancellationToken).ConfigureAwait(false);
        return await client.FirstUserExistsAsync(cancellationToken).ConfigureAwait(false) ? ServiceReadiness.Ready : ServiceReadiness.Fresh;
    }

    public Task<TokenValidation> ValidateAsync(Secret token, CancellationToken cancellationToken) => client.ValidateAsync(token, cancellationToken);

    public async Task<Secret?> TryCreateTokenAsync(CancellationToken cancellationToken)
    {
        if (adminPassword is null || service.AdminUser is null) return null;
        var session = await client.LoginAsync(service.AdminUser, adminPassword, cancellationToken).ConfigureAwait(false);
        var max = await client.GetMaxTokenLifetimeAsync("me", session, cancellationToken).ConfigureAwait(false);
        var life = lifetime < max ? lifetime : max;
        var name = ServiceTokenNames.Next(time);
        return await client.CreateTokenAsync("me", name, life, session, cancellationToken).ConfigureAwait(false);
    }

    public string Instructions(BootstrapState state, string placeholderPath)
    {
        var url = service.Url.AbsoluteUri.TrimEnd('/');
        var hours = (int)Math.Max(1, Math.Min(lifetime.TotalHours, 168));
        return state switch
        {
            BootstrapState.Fresh =>
                $"Coder at {url} has no users yet. Create the first (owner) user, in the browser at {url} or with:\n" +
                $"  coder login {url} --first-user-username admin --first-user-email admin@example.org --first-user-trial=false\n" +
                "Keyward keeps probing (with --wait) and moves on as soon as the user exists.",
            _ =>
                (state == BootstrapState.Invalid ? $"The token held for Coder at {url} is refused (invalid, expired or revoked).\n" : $"Coder at {url} has a user but Keyward holds no API token.\n") +
                "Create one as the owner and put it in this file (owners are capped at 168h unless CODER_MAX_ADMIN_TOKEN_LIFETIME is raised):\n" +
                $"  coder login {url}\n" +
                $"  coder tokens create --name keyward-bootstrap --lifetime {hours}h > {placeholderPath}\n" +
                "Or declare the admin's email (adminUser) and password credential (adminPassword) on the service and Keyward creates it.",
        };
    }
}
