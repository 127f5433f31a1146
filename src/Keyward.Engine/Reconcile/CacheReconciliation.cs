using Keyward.Engine;
using Keyward.Core.Errors;
using Keyward.Core.Manifest;
using Keyward.Core.Secrets;
using Keyward.Crypto.Nix;
using Keyward.Services;
using Keyward.Engine.Checks;
using Keyward.Core.Store;

namespace Keyward.Engine.Reconcile;

/// <summary>
/// Brings every declared Attic cache to its declared shape (<c>keyward reconcile</c>, and the server's loop): for each
/// Attic service with caches, read its admin token and each cache's signing key from the store, then create or patch.
/// </summary>
/// <param name="actor">Who reconciles: each cache reconciled with the admin token is audited as <c>service.use</c> under it.</param>
/// <param name="routineUses">For a loop that reconciles again and again (<c>keyward serve</c>): a reconcile that changed
/// nothing (up to date, or a failure) is audited when it is new, changed or a day old (<see cref="RoutineUseFilter"/>); one
/// that created or patched a cache always is. Null (<c>keyward reconcile</c>): every one is audited.</param>
public sealed class CacheReconciliation(ICredentialStore store, ServiceClients clients, string actor = "reconcile", RoutineUseFilter? routineUses = null)
{
    /// <summary>The Attic services that declare caches (what there is to reconcile).</summary>
    public static IReadOnlyList<Service> Declared(KeywardManifest manifest)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        return manifest.Services.Where(s => s.Kind == ServiceKind.Attic && s.Caches.Count > 0).ToArray();
    }

    /// <summary>Reconciles every cache of one service; <paramref name="each"/> hears each result as it comes.</summary>
    public async Task<IReadOnlyList<CacheReconcileResult>> ServiceAsync(Service service, bool dryRun, Action<CacheReconcileResult>? each, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(service);
        var results = new List<CacheReconcileResult>();
        using var admin = await ValueAsync(service.Token, $"service '{service.Name}' needs an admin token (token: CREDENTIAL) to reconcile", cancellationToken).ConfigureAwait(false);
        var adminVersion = await store.GetActiveAsync(service.Token!, cancellationToken).ConfigureAwait(false);
        var reconciler = new AtticReconciler(clients.Attic(service));
        foreach (var cache in service.Caches)
        {
            Secret? key = null;
            try
            {
                string? publicKey = null;
                if (cache.SigningKey is { } keyName)
                {
                    key = await ValueAsync(keyName, $"cache '{cache.Name}' declares signing key '{keyName}'", cancellationToken).ConfigureAwait(false);
                    using var parsed = NixSecretKey.Parse(key);
                    publicKey = parsed.PublicKey.ToString();
                }
                var use = new ServiceUse(service.Name, service.Token!, adminVersion?.Version, adminVersion?.Fingerprint,
                    $"reconcile cache {cache.Name}{(dryRun ? " (dry run: GET cache-config only)" : "")}", "");
                CacheReconcileResult r;
                try
                {
                    r = await reconciler.ReconcileAsync(service, cache, admin, key, publicKey, dryRun, cancellationToken).ConfigureAwait(false);
                }
                catch (KeywardException ex)
                {
                    await AuditAsync(use with { Outcome = ServiceUse.Failed(ex) }, changed: false, cancellationToken).ConfigureAwait(false);
                    throw;
                }
                await AuditAsync(use with { Outcome = r.Action.ToString() }, r.Action is ReconcileAction.Created or ReconcileAction.Patched, cancellationToken).ConfigureAwait(false);
                results.Add(r);
                each?.Invoke(r);
            }
            finally
            {
                key?.Dispose();
            }
        }
        return results;
    }

    /// <param name="changed">The use changed the cache at the service: audited every time.</param>
    private async Task AuditAsync(ServiceUse use, bool changed, CancellationToken cancellationToken)
    {
        if (!changed && routineUses is not null && routineUses.Due([use]).Count == 0) return;
        await store.AppendAuditAsync(use.ToAudit(clients.Time.GetUtcNow(), actor), cancellationToken).ConfigureAwait(false);
        routineUses?.Recorded([use]);
    }

    private async Task<Secret> ValueAsync(string? name, string why, CancellationToken ct)
    {
        if (name is null) throw ErrorCodes.ServiceCredentialMissing.Exception(why);
        var values = await store.RevealActiveAsync([name], ct).ConfigureAwait(false);
        return values.TryGetValue(name, out var v) ? v
            : throw ErrorCodes.ServiceCredentialMissing.Exception($"{why}, but '{name}' has no active version");
    }
}
