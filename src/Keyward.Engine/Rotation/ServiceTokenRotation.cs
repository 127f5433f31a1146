using System.Globalization;
using Keyward.Core.Errors;
using Keyward.Core.Manifest;
using Keyward.Core.Rotation;
using Keyward.Core.Secrets;
using Keyward.Services;
using Keyward.Engine.Checks;
using Keyward.Services.Coder;
using Keyward.Services.Gitea;
using Keyward.Core.Store;

namespace Keyward.Engine.Rotation;

/// <summary>A token created through its service's API during a rotation (validated before it is returned).</summary>
public sealed record CreatedServiceToken(Secret Value, DateTimeOffset? ExpiresAt, IReadOnlyDictionary<string, string> Metadata);

/// <summary>
/// The rotation of an external token its own service can re-issue: the stage step creates the new token through the API
/// with the current one, the retire step deletes the old one. Credentials it does not handle are re-imported from their
/// source as before.
/// </summary>
public interface IServiceTokenRotator
{
    /// <summary>True when the new value of <paramref name="credential"/> is created through its service's API.</summary>
    bool Handles(ExternalCredential credential);

    Task<CreatedServiceToken> CreateAsync(ExternalCredential credential, Secret current, CancellationToken cancellationToken);

    /// <summary>Deletes the retired token at the service, authenticated with the new one. Idempotent (already gone is fine).</summary>
    Task DeleteAsync(ExternalCredential credential, Secret retired, Secret current, CancellationToken cancellationToken);
}

/// <summary>
/// Coder: <c>POST /api/v2/users/me/keys/tokens</c> with the current token (lifetime in nanoseconds: the credential's
/// <c>rotation.maxAge</c>, 30 days by default, capped by <c>tokenconfig</c>'s maximum), validate the new one with
/// <c>GET /api/v2/users/me</c> and learn its <c>expires_at</c>, and after activation <c>DELETE /api/v2/users/me/keys/{id}</c>
/// of the old one. The new token gets the same scope as the one that created it (Coder allows no more). Every call with a
/// stored token is audited: actor, service and what was done, never the value.
/// </summary>
public sealed class CoderTokenRotator(ICredentialStore store, KeywardManifest manifest, ServiceClients clients, TimeProvider time, string actor) : IServiceTokenRotator
{
    public static readonly TimeSpan DefaultLifetime = TimeSpan.FromDays(30);

    private Service? ServiceOf(ExternalCredential c) =>
        ApiRotation.For(manifest, c) == ApiRotationKind.Coder ? manifest.Services.First(s => s.Kind == ServiceKind.Coder && s.Token == c.Name) : null;

    public bool Handles(ExternalCredential credential) => ServiceOf(credential) is not null;

    public async Task<CreatedServiceToken> CreateAsync(ExternalCredential credential, Secret current, CancellationToken cancellationToken)
    {
        var service = ServiceOf(credential) ?? throw new InvalidOperationException($"no coder service uses '{credential.Name}'");
        var coder = clients.Coder(service);
        var held = await store.GetActiveAsync(credential.Name, cancellationToken).ConfigureAwait(false);
        ServiceUse Use(string what) => new(service.Name, credential.Name, held?.Version, held?.Fingerprint, what, "");
        var wanted = manifest.EffectivePolicy(credential).MaxAge?.Value ?? DefaultLifetime;
        var max = await AuditedAsync(Use("GET /api/v2/users/me/keys/tokens/tokenconfig with the current token"),
            () => coder.GetMaxTokenLifetimeAsync("me", current, cancellationToken), m => $"max {m.TotalHours:0.#}h", cancellationToken).ConfigureAwait(false);
        var lifetime = wanted < max ? wanted : max;
        var name = ServiceTokenNames.Next(time);
        var created = await AuditedAsync(Use($"POST /api/v2/users/me/keys/tokens '{name}' (lifetime {lifetime.TotalHours:0.#}h) with the current token"),
            () => coder.CreateTokenAsync("me", name, lifetime, current, cancellationToken), t => $"created key {CoderClient.KeyId(t) ?? "?"}", cancellationToken).ConfigureAwait(false);
        TokenValidation validation;
        try
        {
            validation = await AuditedAsync(new ServiceUse(service.Name, credential.Name, null, null, "GET /api/v2/users/me with the new token", ""),
                () => coder.ValidateAsync(created, cancellationToken), v => v.Status.ToString(), cancellationToken).ConfigureAwait(false);
        }
        catch (KeywardException)
        {
            created.Dispose();
            throw;
        }
        if (validation.Status != TokenStatus.Valid)
        {
            created.Dispose();
            throw ErrorCodes.RotationVerifyFailed.Exception($"{service.Name}: the token Coder just created is refused: {validation.Message}");
        }
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["provider"] = credential.Provider.Name(),
            ["tokenName"] = name,
        };
        if (CoderClient.KeyId(created) is { } id) metadata["keyId"] = id;
        if (validation.Subject is not null) metadata["subject"] = validation.Subject;
        return new CreatedServiceToken(created, validation.ExpiresAt ?? time.GetUtcNow() + lifetime, metadata);
    }

    public async Task DeleteAsync(ExternalCredential credential, Secret retired, Secret current, CancellationToken cancellationToken)
    {
        var service = ServiceOf(credential) ?? throw new InvalidOperationException($"no coder service uses '{credential.Name}'");
        if (CoderClient.KeyId(retired) is not { } id) return; // not an API token (a session token expires on its own)
        var active = await store.GetActiveAsync(credential.Name, cancellationToken).ConfigureAwait(false);
        await AuditedAsync(new ServiceUse(service.Name, credential.Name, active?.Version, active?.Fingerprint,
                $"DELETE /api/v2/users/me/keys/{id} (the retired token) with the new token", ""),
            async () =>
            {
                try
                {
                    await clients.Coder(service).DeleteTokenAsync("me", id, current, cancellationToken).ConfigureAwait(false);
                    return "deleted";
                }
                catch (KeywardException ex) when (ex.First.Code == ErrorCodes.ServiceNotFound)
                {
                    return "already gone"; // a resumed rotation, or deleted by hand
                }
            }, o => o, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Runs one request made with a stored token and audits it (service.use) with its outcome, or the error it failed with.</summary>
    private async Task<T> AuditedAsync<T>(ServiceUse use, Func<Task<T>> call, Func<T, string> outcome, CancellationToken cancellationToken)
    {
        T result;
        try
        {
            result = await call().ConfigureAwait(false);
        }
        catch (KeywardException ex)
        {
            await store.AppendAuditAsync((use with { Outcome = ServiceUse.Failed(ex) }).ToAudit(time.GetUtcNow(), actor), cancellationToken).ConfigureAwait(false);
            throw;
        }
        await store.AppendAuditAsync((use with { Outcome = outcome(result) }).ToAudit(time.GetUtcNow(), actor), cancellationToken).ConfigureAwait(false);
        return result;
    }
}

/// <summary>Every service whose API creates its own token's successor, each handling the credentials of its kind.</summary>
public sealed class ServiceTokenRotators(params IReadOnlyList<IServiceTokenRotator> rotators) : IServiceTokenRotator
{
    private IServiceTokenRotator? For(ExternalCredential credential) => rotators.FirstOrDefault(r => r.Handles(credential));

    public bool Handles(ExternalCredential credential) => For(credential) is not null;

    public Task<CreatedServiceToken> CreateAsync(ExternalCredential credential, Secret current, CancellationToken cancellationToken) =>
        (For(credential) ?? throw new InvalidOperationException($"no service creates '{credential.Name}'")).CreateAsync(credential, current, cancellationToken);

    public Task DeleteAsync(ExternalCredential credential, Secret retired, Secret current, CancellationToken cancellationToken) =>
        (For(credential) ?? throw new InvalidOperationException($"no service creates '{credential.Name}'")).DeleteAsync(credential, retired, current, cancellationToken);
}

/// <summary>
/// Gitea/Forgejo, when the service declares <c>adminUser</c> and <c>adminPassword</c>: the token routes accept only Basic
/// auth with the user's password (<c>reqBasicOrRevProxyAuth</c>; a token cannot create a token), so the stage step creates
/// the next token with <c>POST /api/v1/users/{adminUser}/tokens</c> (named <c>keyward-YYYYMMDDHHMMSS</c>, the declared
/// scopes plus <c>read:user</c>), validates it with <c>GET /api/v1/user</c>, and the retire step finds the old one in
/// <c>GET /api/v1/users/{adminUser}/tokens</c> by its last eight characters and deletes it by id
/// (<c>DELETE …/tokens/{id}</c>). Gitea tokens carry no expiry. Each request is audited as <c>service.use</c>.
/// </summary>
public sealed class GiteaTokenRotator(ICredentialStore store, KeywardManifest manifest, ServiceClients clients, TimeProvider time, string actor) : IServiceTokenRotator
{
    private Service? ServiceOf(ExternalCredential c) =>
        ApiRotation.For(manifest, c) == ApiRotationKind.Gitea ? manifest.Services.First(s => s.Kind == ServiceKind.Gitea && s.Token == c.Name) : null;

    public bool Handles(ExternalCredential credential) => ServiceOf(credential) is not null;

    public async Task<CreatedServiceToken> CreateAsync(ExternalCredential credential, Secret current, CancellationToken cancellationToken)
    {
        var service = ServiceOf(credential) ?? throw new InvalidOperationException($"no gitea service with a password uses '{credential.Name}'");
        var user = service.AdminUser!;
        var (password, pv) = await PasswordAsync(service, cancellationToken).ConfigureAwait(false);
        using var _ = password;
        var gitea = clients.Gitea(service);
        var scopes = Services.Bootstrap.GiteaScopes.For(service);
        var name = ServiceTokenNames.Next(time);
        var use = new ServiceUse(service.Name, service.AdminPassword!, pv.Version, pv.Fingerprint,
            $"POST /api/v1/users/{user}/tokens '{name}' scopes {string.Join(",", scopes)} (Basic auth) to create the next {credential.Name}", "");
        GiteaCreatedToken created;
        try
        {
            created = await gitea.CreateTokenAsync(user, password, name, scopes, cancellationToken).ConfigureAwait(false);
        }
        catch (KeywardException ex)
        {
            await AuditAsync(use with { Outcome = ServiceUse.Failed(ex) }, cancellationToken).ConfigureAwait(false);
            throw;
        }
        await AuditAsync(use with { Outcome = $"created token id {created.Id}" }, cancellationToken).ConfigureAwait(false);
        TokenValidation validation;
        try
        {
            validation = await gitea.ValidateAsync(created.Value, cancellationToken).ConfigureAwait(false);
        }
        catch (KeywardException)
        {
            created.Value.Dispose();
            throw;
        }
        await AuditAsync(new ServiceUse(service.Name, credential.Name, null, null, "GET /api/v1/user with the new token", validation.Status.ToString()), cancellationToken).ConfigureAwait(false);
        if (validation.Status != TokenStatus.Valid)
        {
            created.Value.Dispose();
            throw ErrorCodes.RotationVerifyFailed.Exception($"{service.Name}: the token Gitea just created (id {created.Id}) is refused: {validation.Message}");
        }
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["provider"] = credential.Provider.Name(),
            ["tokenName"] = created.Name,
            ["tokenId"] = created.Id.ToString(CultureInfo.InvariantCulture),
            ["scopes"] = string.Join(",", scopes),
        };
        if (validation.Subject is not null) metadata["subject"] = validation.Subject;
        return new CreatedServiceToken(created.Value, null, metadata);
    }

    public async Task DeleteAsync(ExternalCredential credential, Secret retired, Secret current, CancellationToken cancellationToken)
    {
        var service = ServiceOf(credential) ?? throw new InvalidOperationException($"no gitea service with a password uses '{credential.Name}'");
        var user = service.AdminUser!;
        var (password, pv) = await PasswordAsync(service, cancellationToken).ConfigureAwait(false);
        using var _ = password;
        var gitea = clients.Gitea(service);
        var oldEight = LastEight(retired);
        var newEight = LastEight(current);
        var list = new ServiceUse(service.Name, service.AdminPassword!, pv.Version, pv.Fingerprint,
            $"GET /api/v1/users/{user}/tokens (Basic auth) to find the retired {credential.Name}", "");
        IReadOnlyList<GiteaToken> tokens;
        try
        {
            tokens = await gitea.ListTokensAsync(user, password, cancellationToken).ConfigureAwait(false);
        }
        catch (KeywardException ex)
        {
            await AuditAsync(list with { Outcome = ServiceUse.Failed(ex) }, cancellationToken).ConfigureAwait(false);
            throw;
        }
        // Only the last eight characters are listed: delete only when exactly one token matches and it is not the new one.
        var matches = oldEight == newEight ? [] : tokens.Where(t => t.LastEight == oldEight).ToArray();
        if (matches.Length != 1)
        {
            await AuditAsync(list with { Outcome = matches.Length == 0 ? "the retired token is not listed (already deleted): nothing to delete" : $"{matches.Length} tokens end the same way: none deleted" }, cancellationToken).ConfigureAwait(false);
            return;
        }
        await AuditAsync(list with { Outcome = $"found token id {matches[0].Id}" }, cancellationToken).ConfigureAwait(false);
        var delete = new ServiceUse(service.Name, service.AdminPassword!, pv.Version, pv.Fingerprint,
            $"DELETE /api/v1/users/{user}/tokens/{matches[0].Id} (the retired {credential.Name}, Basic auth)", "deleted");
        try
        {
            await gitea.DeleteTokenAsync(user, password, matches[0].Id, cancellationToken).ConfigureAwait(false);
        }
        catch (KeywardException ex) when (ex.First.Code == ErrorCodes.ServiceNotFound)
        {
            delete = delete with { Outcome = "already gone" };
        }
        catch (KeywardException ex)
        {
            await AuditAsync(delete with { Outcome = ServiceUse.Failed(ex) }, cancellationToken).ConfigureAwait(false);
            throw;
        }
        await AuditAsync(delete, cancellationToken).ConfigureAwait(false);
    }

    private static string LastEight(Secret token)
    {
        var text = token.RevealString().Trim();
        return text.Length >= 8 ? text[^8..] : text;
    }

    private async Task<(Secret Value, CredentialVersion Version)> PasswordAsync(Service service, CancellationToken cancellationToken)
    {
        var name = service.AdminPassword!;
        var active = await store.GetActiveAsync(name, cancellationToken).ConfigureAwait(false)
            ?? throw ErrorCodes.RotationStepFailed.Exception($"the admin password '{name}' of Gitea service '{service.Name}' has no active version",
                $"store it (`keyward apply` imports its source), then `keyward rotate --resume`");
        return (await store.RevealAsync(name, active.Version, cancellationToken).ConfigureAwait(false), active);
    }

    private Task AuditAsync(ServiceUse use, CancellationToken cancellationToken) =>
        store.AppendAuditAsync(use.ToAudit(time.GetUtcNow(), actor), cancellationToken);
}
