using System.Text.Json.Nodes;
using Keyward.Core.Errors;
using Keyward.Core.Manifest;
using Keyward.Core.Secrets;
using Keyward.Crypto.Nix;
using Keyward.Services.Attic;
using Keyward.Services.Checks;
using Keyward.Store.Contract;

namespace Keyward.Engine.Rotation;

/// <summary>
/// The live side of a cache-key rollover against Attic: phase two sets the new keypair on every cache of the service
/// that declares the rotated key (<c>PATCH /_api/v1/cache-config/{cache}</c> with <c>{"keypair":{"Keypair":"name:base64"}}</c>,
/// only that field, so no retention permission is needed), and the <c>cache-key SERVICE/CACHE</c> check compares the live
/// <c>public_key</c> with the active key. Requests use the service's admin token from the store.
/// </summary>
public sealed class AtticServicePlane(ICredentialStore store, KeywardManifest manifest, ServiceClients clients) : IRotationServicePlane
{
    public async Task SwitchCacheKeyAsync(Service service, string credential, Secret nixSecretKey, CancellationToken cancellationToken)
    {
        if (service.Kind != ServiceKind.Attic) return;
        using var token = await AdminTokenAsync(service, cancellationToken).ConfigureAwait(false);
        var attic = clients.Attic(service);
        foreach (var cache in service.Caches.Where(c => c.SigningKey == credential))
        {
            var patch = new JsonObject { ["keypair"] = new JsonObject { ["Keypair"] = nixSecretKey.RevealString().Trim() } };
            await attic.ConfigureCacheAsync(cache.Name, patch, token, cancellationToken).ConfigureAwait(false);
        }
    }

    public async Task<string?> VerifyAsync(string checkOrService, CancellationToken cancellationToken)
    {
        // "cache-key SERVICE/CACHE": the live public key must be the active key's public half.
        const string prefix = "cache-key ";
        if (!checkOrService.StartsWith(prefix, StringComparison.Ordinal)) return null;
        var parts = checkOrService[prefix.Length..].Split('/', 2);
        var service = manifest.Services.FirstOrDefault(s => s.Name == parts[0]);
        var cache = service?.Caches.FirstOrDefault(c => parts.Length == 2 && c.Name == parts[1]);
        if (service is null || cache?.SigningKey is not { } keyName) return null;
        var active = await store.GetActiveAsync(keyName, cancellationToken).ConfigureAwait(false);
        if (active is null) return null;
        using var value = await store.RevealAsync(keyName, active.Version, cancellationToken).ConfigureAwait(false);
        using var key = NixSecretKey.Parse(value);
        using var token = await AdminTokenAsync(service, cancellationToken).ConfigureAwait(false);
        var lookup = await clients.Attic(service).GetCacheConfigAsync(cache.Name, token, cancellationToken).ConfigureAwait(false);
        var live = lookup.Config?.PublicKey;
        if (live != key.PublicKey.ToString())
            throw ErrorCodes.RotationVerifyFailed.Exception($"cache '{cache.Name}' of '{service.Name}' serves public key {live ?? "(none)"}, expected {key.PublicKey}");
        return $"serves {live}";
    }

    private async Task<Secret> AdminTokenAsync(Service service, CancellationToken cancellationToken)
    {
        if (service.Token is not { } name)
            throw ErrorCodes.RotationStepFailed.Exception($"service '{service.Name}' declares no admin token (token: CREDENTIAL)", "add one, or switch the cache's keypair by hand");
        var active = await store.GetActiveAsync(name, cancellationToken).ConfigureAwait(false)
            ?? throw ErrorCodes.RotationStepFailed.Exception($"the admin token '{name}' of service '{service.Name}' has no value");
        return await store.RevealAsync(name, active.Version, cancellationToken).ConfigureAwait(false);
    }
}
