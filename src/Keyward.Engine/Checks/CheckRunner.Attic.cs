using System.Collections.Concurrent;
using Keyward.Core.Attic;
using Keyward.Core.Errors;
using Keyward.Core.Manifest;
using Keyward.Core.Secrets;
using Keyward.Crypto.Attic;
using Keyward.Crypto.Nix;
using Keyward.Services.Attic;

using Keyward.Services;

namespace Keyward.Engine.Checks;

public sealed partial class CheckRunner
{
    /// <summary>The run's HS256 signing keys, one per signer (its value is the run's): a key keeps one keyed HMAC state per
    /// thread, so the thousands of tokens one signer signed are verified without setting the key up again for each.
    /// Disposed when the run ends.</summary>
    private readonly ConcurrentDictionary<string, Lazy<AtticSigningKey>> _signingKeys = new(StringComparer.Ordinal);

    /// <summary><see cref="AtticTokens.Verify"/> of <paramref name="jwt"/> with <paramref name="signer"/>'s active value: a secret's
    /// key is shared within the run; any other kind's (an RSA key, or a kind that cannot sign and throws) is made for this
    /// token and let go, as before.</summary>
    private DecodedAtticToken VerifyWithSigner(string jwt, Credential signer, Secret value, AtticTokenCredential cred)
    {
        var audiences = cred.Audiences.Count > 0 ? cred.Audiences : null;
        if (signer.Kind == CredentialKind.Secret)
        {
            var shared = _signingKeys.GetOrAdd(signer.Name, _ => new Lazy<AtticSigningKey>(() => AtticSigningKey.ForSigner(signer.Kind, value, signer.Name))).Value;
            return AtticTokens.Verify(jwt, shared, _time, cred.Issuer, audiences);
        }
        using var key = AtticSigningKey.ForSigner(signer.Kind, value, signer.Name);
        return AtticTokens.Verify(jwt, key, _time, cred.Issuer, audiences);
    }

    private void DisposeSigningKeys()
    {
        foreach (var key in _signingKeys.Values)
            if (key.IsValueCreated) key.Value.Dispose();
        _signingKeys.Clear();
    }

    private const string NotVisibleNote =
        "Attic answers 401 both when the cache does not exist and when the token grants nothing on its name (or is invalid: a bad token is treated as anonymous)";

    /// <summary>Drift between the declared cache shape and the live configuration (the fields reconcile enforces).</summary>
    public static IReadOnlyList<(string Field, string Live, string Declared)> Drift(AtticCacheSpec spec, AtticCacheConfig live)
    {
        var d = new List<(string, string, string)>();
        if (live.IsPublic != spec.IsPublic) d.Add(("is_public", Show(live.IsPublic), Show(spec.IsPublic)));
        if (live.StoreDir != spec.StoreDir) d.Add(("store_dir", live.StoreDir ?? "(unset)", spec.StoreDir));
        if (live.Priority != spec.Priority) d.Add(("priority", Show(live.Priority), Show(spec.Priority)));
        var upstream = live.UpstreamCacheKeyNames ?? [];
        if (!upstream.SequenceEqual(spec.UpstreamCacheKeyNames, StringComparer.Ordinal))
            d.Add(("upstream_cache_key_names", "[" + string.Join(", ", upstream) + "]", "[" + string.Join(", ", spec.UpstreamCacheKeyNames) + "]"));
        if (spec.RetentionPeriod is { } r)
        {
            var want = AtticRetention.Period((uint)Math.Min(uint.MaxValue, (long)r.Value.TotalSeconds));
            if (live.RetentionPeriod != want) d.Add(("retention_period", live.RetentionPeriod?.ToString() ?? "(unset)", want.ToString()));
        }
        return d;
    }

    private static string Show(bool? b) => b is null ? "(unset)" : b.Value ? "true" : "false";

    private static string Show(int? i) => i?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "(unset)";

    private async Task<List<Observation>> CheckCacheAsync(Service service, AtticCacheSpec spec, CancellationToken ct)
    {
        var token = ServiceToken(service);
        AtticCacheLookup lookup;
        try
        {
            lookup = await LookupAsync(service, spec.Name, token is null ? "anonymous" : "admin", token, ct).ConfigureAwait(false);
        }
        catch (KeywardException ex)
        {
            return [FromError(ConditionTypes.Ready, ex)];
        }
        var who = token is null ? "anonymously" : $"with {service.Token}";
        var ready = lookup.Status switch
        {
            AtticLookupStatus.Found => Observation.True(ConditionTypes.Ready, "Exists", $"GET cache-config {who} answered 200"),
            AtticLookupStatus.NotFound => Observation.False(ConditionTypes.Ready, "NotFound", "the cache does not exist (404 NoSuchCache): run `keyward reconcile`"),
            AtticLookupStatus.Forbidden => Observation.False(ConditionTypes.Ready, "Forbidden", $"{service.Token ?? "anonymous"} may not read the cache configuration (403: it has a permission on the cache, but not pull)"),
            _ => Observation.False(ConditionTypes.Ready, "NotVisible", $"GET cache-config {who} answered 401: {NotVisibleNote}"),
        };
        if (lookup.Config is not { } live) return [ready];

        var problems = new List<string>();
        var reason = "MatchesManifest";
        foreach (var (field, l, d) in Drift(spec, live))
        {
            problems.Add($"{field} is {l}, declared {d}");
            reason = "Drifted";
        }
        // The anonymous probe is what every Nix client without a token sees.
        try
        {
            var info = await _clients.Attic(service).GetNixCacheInfoAsync(spec.Name, null, ct).ConfigureAwait(false);
            if (spec.IsPublic && info.StatusCode == 401)
            {
                problems.Add($"anonymous GET /{spec.Name}/nix-cache-info answered 401: the cache is not public-read");
                reason = "NotPublicRead";
            }
            else if (spec.IsPublic && info.StatusCode != 200)
            {
                problems.Add($"anonymous GET /{spec.Name}/nix-cache-info answered {info.StatusCode}");
                reason = "NotPublicRead";
            }
            else if (!spec.IsPublic && info.StatusCode == 200)
            {
                problems.Add($"anonymous GET /{spec.Name}/nix-cache-info answered 200: a private cache is readable without a token");
                reason = "PubliclyReadable";
            }
        }
        catch (KeywardException ex)
        {
            return [ready, FromError(ConditionTypes.Verified, ex)];
        }
        var verified = problems.Count == 0
            ? Observation.True(ConditionTypes.Verified, reason, $"is_public={Show(spec.IsPublic)}, store_dir, priority and upstream keys match; anonymous nix-cache-info {(spec.IsPublic ? "200" : "401")}")
            : Observation.False(ConditionTypes.Verified, reason, string.Join("; ", problems) + (reason == "Drifted" ? " (run `keyward reconcile`)" : ""));
        return [ready, verified];
    }

    private async Task<Observation?> CheckSigningKeyAsync(NixSigningKeyCredential key, Secret value, CancellationToken ct)
    {
        var caches = AtticCaches().Where(x => x.Cache.SigningKey == key.Name).ToArray();
        if (caches.Length == 0) return null;
        NixPublicKey declared;
        try
        {
            using var sk = NixSecretKey.Parse(value);
            declared = sk.PublicKey;
        }
        catch (KeywardException ex)
        {
            return Observation.False(ConditionTypes.Verified, "Malformed", ex.First.Message);
        }
        var notes = new List<string>();
        foreach (var (service, cache) in caches)
        {
            var token = ServiceToken(service);
            AtticCacheLookup lookup;
            try { lookup = await LookupAsync(service, cache.Name, token is null ? "anonymous" : "admin", token, ct).ConfigureAwait(false); }
            catch (KeywardException ex) { return FromError(ConditionTypes.Verified, ex); }
            if (lookup.Config?.PublicKey is not { } liveText)
                return Observation.Unknown(ConditionTypes.Verified, "CacheNotVisible", $"cannot read {service.Name}/{cache.Name}'s public key ({lookup.Response.StatusCode})");
            if (!NixPublicKey.TryParse(liveText, out var live) || live is null || !live.Equals(declared))
                return Observation.False(ConditionTypes.Verified, "KeyMismatch",
                    $"{service.Name}/{cache.Name} serves public key {liveText}, but the declared key's public half is {declared}");

            var attic = _clients.Attic(service);
            var hashes = _options.NarInfoHashes.ToList();
            if (hashes.Count < _options.NarInfoSamples)
            {
                try { hashes.AddRange(await attic.ListNarInfoHashesAsync(cache.Name, token, _options.NarInfoSamples, ct).ConfigureAwait(false)); }
                catch (KeywardException) { /* no listing: the explicit samples are all there is */ }
            }
            var checkedCount = 0;
            foreach (var hash in hashes.Distinct(StringComparer.Ordinal).Take(Math.Max(_options.NarInfoSamples, _options.NarInfoHashes.Count)))
            {
                Keyward.Services.Http.ServiceResponse r;
                try { r = await attic.GetNarInfoAsync(cache.Name, hash, token, ct).ConfigureAwait(false); }
                catch (KeywardException ex) { return FromError(ConditionTypes.Verified, ex); }
                if (r.StatusCode != 200)
                    return Observation.False(ConditionTypes.Verified, "NarInfoUnavailable", $"GET /{cache.Name}/{hash}.narinfo answered {r.StatusCode}");
                NarInfo info;
                try { info = NarInfo.Parse(r.Body); }
                catch (Exception ex) when (ex is KeywardException or FormatException)
                {
                    return Observation.False(ConditionTypes.Verified, "NarInfoMalformed", $"{hash}.narinfo cannot be parsed");
                }
                var result = NarInfoVerifier.Verify(info, [declared]);
                if (!result.IsValid)
                    return Observation.False(ConditionTypes.Verified, "BadNarInfoSignature", $"{info.StorePath}: {result.Detail} (trusted: {declared})");
                checkedCount++;
            }
            if (token is not null && hashes.Count > 0) Used(service, service.Token!, $"GET /{cache.Name}/*.narinfo (samples)", $"{checkedCount} verified");
            notes.Add(checkedCount == 0
                ? $"{service.Name}/{cache.Name} serves this key (no narinfo sample available)"
                : $"{service.Name}/{cache.Name} serves this key and {checkedCount} sampled narinfo(s) verify");
        }
        return Observation.True(ConditionTypes.Verified, "KeyMatches", string.Join("; ", notes));
    }

    private async Task<(Observation? Verified, DateTimeOffset? Expires)> CheckAtticTokenAsync(AtticTokenCredential cred, Secret value, CancellationToken ct)
    {
        var jwt = value.RevealString();
        // Local proof: the token verifies with the active signing secret Keyward delivers to atticd. Tried first: a token
        // that verifies is well-formed, and its verified claims are the decoded ones (one parse instead of two). One that
        // does not takes the order below, which says why (malformed, expired, then the signature).
        var signer = _values.TryGetValue(cred.SignedBy, out var signing) ? _manifest.FindCredential(cred.SignedBy) : null;
        DecodedAtticToken? proven = null;
        KeywardException? refused = null;
        if (signer is not null)
        {
            try
            {
                proven = VerifyWithSigner(jwt, signer, signing!, cred);
            }
            catch (KeywardException ex)
            {
                refused = ex;
            }
        }
        DecodedAtticToken decoded;
        if (proven is not null) decoded = proven;
        else
        {
            try { decoded = AtticTokens.Decode(jwt); }
            catch (KeywardException ex) { return (Observation.False(ConditionTypes.Verified, "Malformed", ex.First.Message), null); }
        }
        if (decoded.ExpiresAt is { } exp && exp <= _now)
            return (Observation.False(ConditionTypes.Verified, "Expired", $"the token expired at {exp:u}; atticd would treat it as anonymous"), exp);
        if (refused is not null)
            return (Observation.False(ConditionTypes.Verified, "SignatureMismatch",
                $"the token does not verify with the active {cred.SignedBy} ({refused.First.Code.Code}): atticd will treat it as anonymous; re-mint it with `keyward apply`"), decoded.ExpiresAt);
        string? local = proven is null ? null : $"signature verifies with the active {cred.SignedBy}";

        var notes = new List<string>();
        if (local is not null) notes.Add(local);
        foreach (var (service, cache) in AtticCaches())
        {
            var access = decoded.PermissionsFor(cache.Name);
            if (!access.Any) continue;
            var attic = _clients.Attic(service);
            try
            {
                var withToken = await UsingAsync(service, cred.Name, $"GET cache-config/{cache.Name}", () => attic.GetCacheConfigAsync(cache.Name, value, ct), l => l.Status.ToString()).ConfigureAwait(false);
                var anonymous = await LookupAsync(service, cache.Name, "anonymous", null, ct).ConfigureAwait(false);
                var where = $"{service.Name}/{cache.Name}";
                switch (withToken.Status)
                {
                    case AtticLookupStatus.NotVisible:
                        return (Observation.False(ConditionTypes.Verified, "Rejected",
                            $"{where}: GET cache-config with the token answered 401 although it grants {string.Join(",", access.Permissions.Select(p => p.JwtKey()))}: atticd treated it as anonymous (invalid, expired, revoked or signed by another secret)"), decoded.ExpiresAt);
                    case AtticLookupStatus.NotFound:
                        return (Observation.False(ConditionTypes.Verified, "CacheMissing", $"{where} does not exist (404): run `keyward reconcile`"), decoded.ExpiresAt);
                    case AtticLookupStatus.Forbidden when access.Can(AtticPermission.Pull):
                        return (Observation.False(ConditionTypes.Verified, "PermissionMismatch", $"{where}: the token claims pull but atticd answered 403"), decoded.ExpiresAt);
                }
                var indistinct = anonymous.Status == AtticLookupStatus.Found;
                if (access.Can(AtticPermission.Push))
                {
                    var push = await UsingAsync(service, cred.Name, $"POST /_api/v1/get-missing-paths ({cache.Name}, push probe)", () => attic.ProbePushAsync(cache.Name, value, ct),
                        r => r.StatusCode.ToString(System.Globalization.CultureInfo.InvariantCulture)).ConfigureAwait(false);
                    if (push.StatusCode is 401 or 403)
                        return (Observation.False(ConditionTypes.Verified, push.StatusCode == 401 ? "Rejected" : "PermissionMismatch",
                            $"{where}: push probe (POST get-missing-paths, no paths) answered {push.StatusCode}"), decoded.ExpiresAt);
                    notes.Add($"{where}: pull and push probes accepted");
                }
                else if (indistinct && local is null)
                    notes.Add($"{where}: public cache, so atticd answers an invalid token like an anonymous one; only the expiry was checked");
                else
                    notes.Add($"{where}: {(access.Can(AtticPermission.Pull) ? "pull probe accepted" : "token recognised (403 for a non-pull permission)")}");
            }
            catch (KeywardException ex)
            {
                return (FromError(ConditionTypes.Verified, ex), decoded.ExpiresAt);
            }
        }
        return notes.Count == 0 ? (null, decoded.ExpiresAt)
            : (Observation.True(ConditionTypes.Verified, "Accepted", string.Join("; ", notes)), decoded.ExpiresAt);
    }
}
