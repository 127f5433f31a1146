using System.Text.Json.Nodes;
using Keyward.Core.Errors;
using Keyward.Core.Manifest;
using Keyward.Core.Secrets;
using Keyward.Services.Attic;
using Keyward.Engine.Checks;
using Keyward.Services;

namespace Keyward.Engine.Reconcile;

public enum ReconcileAction
{
    UpToDate,
    Created,
    Patched,
    WouldCreate,
    WouldPatch,
}

public sealed record FieldDrift(string Field, string Live, string Declared);

/// <summary>The outcome for one cache: what differed (the diff printed before acting) and what was done.</summary>
public sealed record CacheReconcileResult(string Service, string Cache, ReconcileAction Action, IReadOnlyList<FieldDrift> Drift, IReadOnlyList<string> Notes)
{
    /// <summary>The drift as a diff: <c>- field: live</c> / <c>+ field: declared</c>.</summary>
    public IEnumerable<string> DiffLines()
    {
        foreach (var d in Drift)
        {
            yield return $"-   {d.Field}: {d.Live}";
            yield return $"+   {d.Field}: {d.Declared}";
        }
    }
}

/// <summary>
/// Desired-state reconciliation of Attic caches: GET the config; absent → POST a full create; present → PATCH only
/// the drifted fields (<c>retention_period</c> only when declared, since it needs configure-cache-retention).
/// A second run finds no drift and sends no write.
/// </summary>
public sealed class AtticReconciler(AtticClient client)
{
    public async Task<CacheReconcileResult> ReconcileAsync(Service service, AtticCacheSpec spec, Secret adminToken, Secret? signingKey,
        string? declaredPublicKey, bool dryRun, CancellationToken cancellationToken)
    {
        var lookup = await client.GetCacheConfigAsync(spec.Name, adminToken, cancellationToken).ConfigureAwait(false);
        var notes = new List<string>();
        switch (lookup.Status)
        {
            case AtticLookupStatus.Forbidden:
                throw ErrorCodes.ReconcileFailed.Exception(
                    $"{service.Name}/{spec.Name}: the admin token may not read the cache configuration (403: it has a permission on the cache, but not pull)",
                    "mint the admin token with pull, create-cache and configure-cache on the cache");
            case AtticLookupStatus.NotFound or AtticLookupStatus.NotVisible:
                if (lookup.Status == AtticLookupStatus.NotVisible)
                    notes.Add("GET answered 401: either the cache does not exist, or the admin token grants nothing on it or is invalid (atticd treats a bad token as anonymous); trying to create it");
                var drift = new List<FieldDrift>
                {
                    new("keypair", "(absent)", signingKey is null ? "Generate" : $"Keypair ({declaredPublicKey ?? "declared key"})"),
                    new("is_public", "(absent)", spec.IsPublic ? "true" : "false"),
                    new("store_dir", "(absent)", spec.StoreDir),
                    new("priority", "(absent)", spec.Priority.ToString(System.Globalization.CultureInfo.InvariantCulture)),
                    new("upstream_cache_key_names", "(absent)", "[" + string.Join(", ", spec.UpstreamCacheKeyNames) + "]"),
                };
                if (dryRun) return new CacheReconcileResult(service.Name, spec.Name, ReconcileAction.WouldCreate, drift, notes);
                try
                {
                    await client.CreateCacheAsync(spec.Name, new AtticCreateCache(signingKey, spec.IsPublic, spec.StoreDir, spec.Priority, spec.UpstreamCacheKeyNames), adminToken, cancellationToken).ConfigureAwait(false);
                }
                catch (KeywardException ex) when (ex.First.Code == ErrorCodes.ServiceUnauthorized)
                {
                    throw ErrorCodes.ReconcileFailed.Exception(
                        $"{service.Name}/{spec.Name}: GET and POST both answered 401. The admin token grants nothing on '{spec.Name}', or atticd does not accept it at all (invalid, expired, or signed with another secret), and then it treats the request as anonymous",
                        "check the admin token with `keyward check`; it needs create-cache, configure-cache and pull on the cache");
                }
                catch (KeywardException ex) when (ex.First.Code == ErrorCodes.ServiceConflict)
                {
                    throw ErrorCodes.ReconcileFailed.Exception(
                        $"{service.Name}/{spec.Name}: the cache exists (CacheAlreadyExists) but the admin token cannot read it (401)",
                        "give the admin token pull on the cache so its configuration can be compared");
                }
                if (spec.RetentionPeriod is { } retention)
                {
                    var patch = new JsonObject { ["retention_period"] = Period(retention.Value).ToJson() };
                    await client.ConfigureCacheAsync(spec.Name, patch, adminToken, cancellationToken).ConfigureAwait(false);
                    drift.Add(new FieldDrift("retention_period", "(absent)", Period(retention.Value).ToString()));
                }
                return new CacheReconcileResult(service.Name, spec.Name, ReconcileAction.Created, drift, notes);
        }

        var live = lookup.Config!;
        var fields = CheckRunner.Drift(spec, live).Select(d => new FieldDrift(d.Field, d.Live, d.Declared)).ToList();
        if (declaredPublicKey is not null && live.PublicKey is { } pk && pk != declaredPublicKey)
            notes.Add($"the cache signs with {pk}, not the declared key's {declaredPublicKey}; reconcile does not re-key a cache (that is a two-phase rotation: `keyward rotate {spec.SigningKey}`)");
        if (fields.Count == 0) return new CacheReconcileResult(service.Name, spec.Name, ReconcileAction.UpToDate, fields, notes);
        if (dryRun) return new CacheReconcileResult(service.Name, spec.Name, ReconcileAction.WouldPatch, fields, notes);

        var body = new JsonObject();
        foreach (var f in fields)
        {
            body[f.Field] = f.Field switch
            {
                "is_public" => spec.IsPublic,
                "store_dir" => spec.StoreDir,
                "priority" => spec.Priority,
                "upstream_cache_key_names" => new JsonArray(spec.UpstreamCacheKeyNames.Select(n => (JsonNode?)JsonValue.Create(n)).ToArray()),
                "retention_period" => Period(spec.RetentionPeriod!.Value.Value).ToJson(),
                _ => throw new InvalidOperationException(f.Field),
            };
        }
        await client.ConfigureCacheAsync(spec.Name, body, adminToken, cancellationToken).ConfigureAwait(false);
        return new CacheReconcileResult(service.Name, spec.Name, ReconcileAction.Patched, fields, notes);
    }

    private static AtticRetention Period(TimeSpan t) => AtticRetention.Period((uint)Math.Clamp((long)t.TotalSeconds, 0, int.MaxValue));
}
