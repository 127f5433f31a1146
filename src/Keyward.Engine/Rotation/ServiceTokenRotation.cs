using System.Globalization;
using Keyward.Core.Errors;
using Keyward.Core.Manifest;
using Keyward.Core.Secrets;
using Keyward.Services;
using Keyward.Services.Checks;
using Keyward.Services.Coder;
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
        manifest.Services.FirstOrDefault(s => s.Kind == ServiceKind.Coder && s.Token == c.Name);

    public bool Handles(ExternalCredential credential) => ServiceOf(credential) is not null;

    public async Task<CreatedServiceToken> CreateAsync(ExternalCredential credential, Secret current, CancellationToken cancellationToken)
    {
        var service = ServiceOf(credential) ?? throw new InvalidOperationException($"no coder service uses '{credential.Name}'");
        var coder = clients.Coder(service);
        var wanted = manifest.EffectivePolicy(credential).MaxAge?.Value ?? DefaultLifetime;
        var max = await coder.GetMaxTokenLifetimeAsync("me", current, cancellationToken).ConfigureAwait(false);
        var lifetime = wanted < max ? wanted : max;
        var name = "keyward-" + time.GetUtcNow().ToString("yyyyMMddHHmmss", CultureInfo.InvariantCulture);
        await AuditAsync(credential, $"{service.Name}: POST users/me/keys/tokens '{name}' (lifetime {lifetime.TotalHours:0.#}h) with the current token", cancellationToken).ConfigureAwait(false);
        var created = await coder.CreateTokenAsync("me", name, lifetime, current, cancellationToken).ConfigureAwait(false);
        var validation = await coder.ValidateAsync(created, cancellationToken).ConfigureAwait(false);
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
        await AuditAsync(credential, $"{service.Name}: DELETE users/me/keys/{id} (the retired token) with the new token", cancellationToken).ConfigureAwait(false);
        try
        {
            await clients.Coder(service).DeleteTokenAsync("me", id, current, cancellationToken).ConfigureAwait(false);
        }
        catch (KeywardException ex) when (ex.First.Code == ErrorCodes.ServiceNotFound)
        {
            // Already deleted (a resumed rotation, or by hand).
        }
    }

    private Task AuditAsync(ExternalCredential credential, string detail, CancellationToken cancellationToken) =>
        store.AppendAuditAsync(new AuditEvent(time.GetUtcNow(), actor, "service.use", credential.Name, null, null, detail), cancellationToken);
}
