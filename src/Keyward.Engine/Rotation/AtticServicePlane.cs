using System.Text.Json.Nodes;
using Keyward.Core.Errors;
using Keyward.Core.Manifest;
using Keyward.Core.Secrets;
using Keyward.Crypto.Nix;
using Keyward.Services;
using Keyward.Services.Attic;
using Keyward.Engine.Checks;
using Keyward.Core.Store;

namespace Keyward.Engine.Rotation;

/// <summary>
/// The live side of a cache-key rollover against Attic: phase two sets the new keypair on every cache of the service
/// that declares the rotated key (<c>PATCH /_api/v1/cache-config/{cache}</c> with <c>{"keypair":{"Keypair":"name:base64"}}</c>,
/// only that field, so no retention permission is needed), and the <c>cache-key SERVICE/CACHE</c> check compares the live
/// <c>public_key</c> with the active key. Requests use the service's admin token from the store.
/// </summary>
/// <param name="actor">Who rotates: every request made with a stored token is audited as <c>service.use</c> under it.</param>
public sealed class AtticServicePlane(ICredentialStore store, KeywardManifest manifest, ServiceClients clients, string actor = "rotation") : IRotationServicePlane
{
    public async Task SwitchCacheKeyAsync(Service service, string credential, Secret nixSecretKey, CancellationToken cancellationToken)
    {
        if (service.Kind != ServiceKind.Attic) return;
        var (token, version) = await AdminTokenAsync(service, cancellationToken).ConfigureAwait(false);
        using var _ = token;
        var attic = clients.Attic(service);
        foreach (var cache in service.Caches.Where(c => c.SigningKey == credential))
        {
            var patch = new JsonObject { ["keypair"] = new JsonObject { ["Keypair"] = nixSecretKey.RevealString().Trim() } };
            var use = new ServiceUse(service.Name, service.Token!, version.Version, version.Fingerprint, $"PATCH cache-config/{cache.Name} keypair (rotation of {credential})", "patched");
            try
            {
                await attic.ConfigureCacheAsync(cache.Name, patch, token, cancellationToken).ConfigureAwait(false);
            }
            catch (KeywardException ex)
            {
                await AuditAsync(use with { Outcome = ServiceUse.Failed(ex) }, cancellationToken).ConfigureAwait(false);
                throw;
            }
            await AuditAsync(use, cancellationToken).ConfigureAwait(false);
        }
    }

    private Task AuditAsync(ServiceUse use, CancellationToken cancellationToken) =>
        store.AppendAuditAsync(use.ToAudit(clients.Time.GetUtcNow(), actor), cancellationToken);

    public async Task<ServiceVerdict?> VerifyAsync(string checkOrService, CurrentValues current, CancellationToken cancellationToken)
    {
        const string cacheKey = "cache-key ", live = "live ";
        if (checkOrService.StartsWith(cacheKey, StringComparison.Ordinal))
            return await VerifyCacheKeyAsync(checkOrService[cacheKey.Length..], cancellationToken).ConfigureAwait(false);
        // "live NAME": the service accepts the token the rotation now delivers — the same check `keyward check` runs.
        if (checkOrService.StartsWith(live, StringComparison.Ordinal))
            return await CheckAsync(checkOrService[live.Length..], current, cancellationToken).ConfigureAwait(false);
        // A service: it works with the new credentials when it accepts its own (admin) token and serves its caches.
        if (manifest.Services.FirstOrDefault(s => s.Name == checkOrService) is { } service)
            return service.Token is { } token
                ? await CheckAsync(token, current, cancellationToken).ConfigureAwait(false)
                : new ServiceVerdict(VerdictStatus.Unverified, $"service '{service.Name}' declares no token to ask it with");
        return null;
    }

    /// <summary>Runs the check runner for one credential with the rotation's current values (the one token check).</summary>
    private async Task<ServiceVerdict> CheckAsync(string credential, CurrentValues current, CancellationToken cancellationToken)
    {
        if (manifest.FindCredential(credential) is not { } c) return new ServiceVerdict(VerdictStatus.Unverified, $"'{credential}' is not declared");
        var names = new[] { credential, (c as AtticTokenCredential)?.SignedBy }.OfType<string>()
            .Concat(manifest.Services.Select(s => s.Token).OfType<string>()).Distinct(StringComparer.Ordinal);
        var versions = new Dictionary<string, CredentialVersion>(StringComparer.Ordinal);
        var values = new Dictionary<string, Secret>(StringComparer.Ordinal);
        try
        {
            foreach (var n in names)
            {
                if (await current(n, cancellationToken).ConfigureAwait(false) is not { } v) continue;
                versions[n] = v.Version;
                values[n] = v.Value;
            }
            var runner = new CheckRunner(manifest, new FixedCheckState(versions, values, uses => AuditUsesAsync(uses, cancellationToken)), clients, new CheckOptions { Only = [credential] });
            var reports = await runner.RunAsync(cancellationToken).ConfigureAwait(false);
            // The credential's own conditions, and whether each cache it reaches is there (a cache whose settings drifted
            // is reconcile's business, not a failed rotation).
            var conditions = reports
                .Where(r => (r.Kind == SubjectKind.Credential && r.Name == credential) || r.Kind == SubjectKind.Cache)
                .SelectMany(r => r.Conditions.Where(x => x.Type == ConditionTypes.Ready || (x.Type == ConditionTypes.Verified && r.Kind == SubjectKind.Credential))
                    .Select(x => (r.Key, x))).ToArray();
            var failed = conditions.Where(x => x.x.Status == ConditionStatus.False).ToArray();
            if (failed.Length > 0)
                return new ServiceVerdict(VerdictStatus.Failed, string.Join("; ", failed.Select(f => $"{f.Key} {f.x.Reason}: {f.x.Message}")));
            var unknown = conditions.Where(x => x.x.Status == ConditionStatus.Unknown).ToArray();
            if (unknown.Length > 0)
                return new ServiceVerdict(VerdictStatus.Unverified, string.Join("; ", unknown.Select(f => $"{f.Key} {f.x.Reason}: {f.x.Message}")));
            var verified = conditions.Where(x => x.x.Type == ConditionTypes.Verified).Select(x => x.x.Message).FirstOrDefault();
            return new ServiceVerdict(VerdictStatus.Verified, verified ?? "ready");
        }
        finally
        {
            foreach (var v in values.Values) v.Dispose();
        }
    }

    /// <summary>"cache-key SERVICE/CACHE": the live public key must be the active key's public half.</summary>
    private async Task<ServiceVerdict?> VerifyCacheKeyAsync(string target, CancellationToken cancellationToken)
    {
        var parts = target.Split('/', 2);
        var service = manifest.Services.FirstOrDefault(s => s.Name == parts[0]);
        var cache = service?.Caches.FirstOrDefault(c => parts.Length == 2 && c.Name == parts[1]);
        if (service is null || cache?.SigningKey is not { } keyName) return null;
        var active = await store.GetActiveAsync(keyName, cancellationToken).ConfigureAwait(false);
        if (active is null) return null;
        using var value = await store.RevealAsync(keyName, active.Version, cancellationToken).ConfigureAwait(false);
        using var key = NixSecretKey.Parse(value);
        var (token, adminVersion) = await AdminTokenAsync(service, cancellationToken).ConfigureAwait(false);
        using var _ = token;
        var use = new ServiceUse(service.Name, service.Token!, adminVersion.Version, adminVersion.Fingerprint, $"GET cache-config/{cache.Name} (rotation verify)", "");
        AtticCacheLookup lookup;
        try
        {
            lookup = await clients.Attic(service).GetCacheConfigAsync(cache.Name, token, cancellationToken).ConfigureAwait(false);
        }
        catch (KeywardException ex)
        {
            await AuditAsync(use with { Outcome = ServiceUse.Failed(ex) }, cancellationToken).ConfigureAwait(false);
            throw;
        }
        await AuditAsync(use with { Outcome = lookup.Status.ToString() }, cancellationToken).ConfigureAwait(false);
        var live = lookup.Config?.PublicKey;
        if (live != key.PublicKey.ToString())
            throw ErrorCodes.RotationVerifyFailed.Exception($"cache '{cache.Name}' of '{service.Name}' serves public key {live ?? "(none)"}, expected {key.PublicKey}");
        return new ServiceVerdict(VerdictStatus.Verified, $"serves {live}");
    }

    /// <summary>Check state made of the rotation's current values: nothing is learned or remembered from these runs.</summary>
    private async Task AuditUsesAsync(IReadOnlyList<ServiceUse> uses, CancellationToken cancellationToken)
    {
        foreach (var use in uses) await AuditAsync(use with { What = use.What + " (rotation verify)" }, cancellationToken).ConfigureAwait(false);
    }

    private sealed class FixedCheckState(IReadOnlyDictionary<string, CredentialVersion> versions, IReadOnlyDictionary<string, Secret> values,
        Func<IReadOnlyList<ServiceUse>, Task> recordUses) : ICheckState
    {
        public Task RecordUsesAsync(IReadOnlyList<ServiceUse> uses, CancellationToken cancellationToken) => recordUses(uses);

        public Task<IReadOnlyDictionary<string, CredentialVersion>> ActiveVersionsAsync(CancellationToken cancellationToken) => Task.FromResult(versions);

        public Task<IReadOnlyDictionary<string, Secret>> RevealActiveAsync(IReadOnlyCollection<string> names, CancellationToken cancellationToken) =>
            Task.FromResult<IReadOnlyDictionary<string, Secret>>(names.Where(values.ContainsKey).ToDictionary(n => n, n => values[n], StringComparer.Ordinal));

        public Task LearnExpiryAsync(CredentialVersion version, DateTimeOffset expiresAt, string source, CancellationToken cancellationToken) => Task.CompletedTask;

        public Task<IReadOnlyDictionary<string, IReadOnlyDictionary<string, ConditionMemory>>> LoadConditionsAsync(CancellationToken cancellationToken) =>
            Task.FromResult<IReadOnlyDictionary<string, IReadOnlyDictionary<string, ConditionMemory>>>(new Dictionary<string, IReadOnlyDictionary<string, ConditionMemory>>());

        public Task SaveConditionsAsync(IReadOnlyList<CheckReport> reports, CancellationToken cancellationToken) => Task.CompletedTask;
    }

    private async Task<(Secret Value, CredentialVersion Version)> AdminTokenAsync(Service service, CancellationToken cancellationToken)
    {
        if (service.Token is not { } name)
            throw ErrorCodes.RotationStepFailed.Exception($"service '{service.Name}' declares no admin token (token: CREDENTIAL)", "add one, or switch the cache's keypair by hand");
        var active = await store.GetActiveAsync(name, cancellationToken).ConfigureAwait(false)
            ?? throw ErrorCodes.RotationStepFailed.Exception($"the admin token '{name}' of service '{service.Name}' has no value");
        return (await store.RevealAsync(name, active.Version, cancellationToken).ConfigureAwait(false), active);
    }
}
