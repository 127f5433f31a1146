using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using Keyward.Core.Errors;
using Keyward.Crypto.Oidc;
using Keyward.Services.Http;

namespace Keyward.Services.Oidc;

/// <summary>How the issuers' keys are fetched and kept.</summary>
public sealed record OidcKeyCacheOptions
{
    /// <summary>Keys older than this are fetched again on the next use (issuers rotate keys; GitHub publishes the next
    /// key ahead of use, so a token with an unknown kid also triggers a fetch, below).</summary>
    public TimeSpan RefreshAfter { get; init; } = TimeSpan.FromHours(1);

    /// <summary>At most one fetch per issuer in this interval because of an unknown kid (PyPI: 60 s): a stream of
    /// tokens with made-up kids never becomes a stream of requests to the issuer.</summary>
    public TimeSpan UnknownKeyRefetchInterval { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Time allowed for each of the discovery document and the JWKS (connect, headers and body).</summary>
    public TimeSpan FetchTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Discovery documents and key sets larger than this are refused.</summary>
    public int MaxDocumentBytes { get; init; } = 256 * 1024;
}

/// <summary>
/// The signing keys of trusted OIDC issuers: discovery (<c>{issuer}/.well-known/openid-configuration</c>, whose
/// <c>issuer</c> must be the issuer itself) then <c>jwks_uri</c>, cached per issuer. Bounded: only issuers the manifest
/// trusts are ever fetched (the caller checks first), and each keeps one key set. A failed refresh keeps serving the
/// keys already known; with none known it refuses (KW1417). One fetch at a time per issuer.
/// </summary>
public sealed class OidcKeyCache(HttpClient http, OidcKeyCacheOptions options, TimeProvider time) : IDisposable
{
    private sealed class Entry : IDisposable
    {
        public readonly SemaphoreSlim Gate = new(1, 1);
        public JsonWebKeySet? Keys;
        public DateTimeOffset FetchedAt;
        public DateTimeOffset LastUnknownKeyFetch = DateTimeOffset.MinValue;

        public void Dispose() => Gate.Dispose();
    }

    public void Dispose()
    {
        foreach (var e in _issuers.Values) e.Dispose();
    }

    private readonly ConcurrentDictionary<string, Entry> _issuers = new(StringComparer.Ordinal);
    private long _fetches;

    /// <summary>How many key-set fetches were made (for tests and metrics).</summary>
    public long Fetches => Interlocked.Read(ref _fetches);

    /// <summary>The key <paramref name="kid"/> of <paramref name="issuer"/> (a trusted issuer's exact iss text).</summary>
    public async Task<JsonWebKey> GetKeyAsync(string issuer, string kid, CancellationToken cancellationToken)
    {
        var entry = _issuers.GetOrAdd(issuer, _ => new Entry());
        var now = time.GetUtcNow();
        if (Volatile.Read(ref entry.Keys) is { } keys && now - entry.FetchedAt < options.RefreshAfter && keys.Find(kid) is { } hit) return hit;

        await entry.Gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            now = time.GetUtcNow();
            keys = entry.Keys;
            var stale = keys is null || now - entry.FetchedAt >= options.RefreshAfter;
            if (!stale && keys!.Find(kid) is { } found) return found; // another request fetched meanwhile
            if (!stale && now - entry.LastUnknownKeyFetch < options.UnknownKeyRefetchInterval)
                throw ErrorCodes.OidcKeyUnknown.Exception($"issuer {issuer} publishes no key '{Clip(kid)}' (keys fetched {(now - entry.FetchedAt).TotalSeconds:0} s ago; not fetched again within {options.UnknownKeyRefetchInterval.TotalSeconds:0} s)");
            if (!stale) entry.LastUnknownKeyFetch = now;
            try
            {
                var fresh = await FetchAsync(issuer, cancellationToken).ConfigureAwait(false);
                Volatile.Write(ref entry.Keys, fresh);
                entry.FetchedAt = time.GetUtcNow();
                keys = fresh;
            }
            catch (KeywardException) when (keys is not null)
            {
                // The issuer is unreachable: keep verifying with the keys we have; a stale set is retried on the next use.
            }
            return keys!.Find(kid) ?? throw ErrorCodes.OidcKeyUnknown.Exception($"issuer {issuer} publishes no key '{Clip(kid)}'");
        }
        finally
        {
            entry.Gate.Release();
        }
    }

    private async Task<JsonWebKeySet> FetchAsync(string issuer, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _fetches);
        var discoveryUrl = new Uri(issuer.TrimEnd('/') + "/.well-known/openid-configuration");
        var discovery = await GetAsync(discoveryUrl, issuer, cancellationToken).ConfigureAwait(false);
        Uri? jwksUri;
        try
        {
            using var doc = JsonDocument.Parse(discovery);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object
                || !root.TryGetProperty("issuer", out var iss) || iss.ValueKind != JsonValueKind.String || iss.GetString() != issuer)
                throw Unreachable(issuer, "its discovery document names another issuer (OpenID Connect Discovery requires its own)");
            jwksUri = root.TryGetProperty("jwks_uri", out var j) && j.ValueKind == JsonValueKind.String && Uri.TryCreate(j.GetString(), UriKind.Absolute, out var u) ? u : null;
        }
        catch (JsonException)
        {
            throw Unreachable(issuer, "its discovery document is not JSON");
        }
        var issuerUri = new Uri(issuer);
        if (jwksUri is null || !(jwksUri.Scheme == Uri.UriSchemeHttps || (jwksUri.Scheme == Uri.UriSchemeHttp && issuerUri.IsLoopback && jwksUri.IsLoopback)))
            throw Unreachable(issuer, "its discovery document has no https jwks_uri");
        var jwks = await GetAsync(jwksUri, issuer, cancellationToken).ConfigureAwait(false);
        var set = JsonWebKeySet.Parse(jwks) ?? throw Unreachable(issuer, $"{jwksUri} is not a JWKS document");
        if (set.Count == 0) throw Unreachable(issuer, $"{jwksUri} holds no RS256 or ES256 signing key"); // an empty set is never cached
        return set;
    }

    private async Task<byte[]> GetAsync(Uri url, string issuer, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.FetchTimeout);
        try
        {
            using var response = await http.GetAsync(url, HttpCompletionOption.ResponseHeadersRead, timeout.Token).ConfigureAwait(false);
            if (response.StatusCode != HttpStatusCode.OK) throw Unreachable(issuer, $"GET {url} answered {(int)response.StatusCode}");
            if (response.Content.Headers.ContentLength > options.MaxDocumentBytes) throw Unreachable(issuer, $"GET {url} is larger than {options.MaxDocumentBytes} bytes");
            var stream = await response.Content.ReadAsStreamAsync(timeout.Token).ConfigureAwait(false);
            await using (stream.ConfigureAwait(false))
            {
                var buffer = new MemoryStream();
                var chunk = new byte[16 * 1024];
                int n;
                while ((n = await stream.ReadAsync(chunk, timeout.Token).ConfigureAwait(false)) > 0)
                {
                    if (buffer.Length + n > options.MaxDocumentBytes) throw Unreachable(issuer, $"GET {url} is larger than {options.MaxDocumentBytes} bytes");
                    buffer.Write(chunk, 0, n);
                }
                return buffer.ToArray();
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw Unreachable(issuer, $"GET {url} did not answer within {options.FetchTimeout.TotalSeconds:0.#} s");
        }
        catch (HttpRequestException e)
        {
            throw Unreachable(issuer, $"GET {url} failed: {e.HttpRequestError}");
        }
    }

    private static KeywardException Unreachable(string issuer, string why) =>
        ErrorCodes.OidcIssuerUnreachable.Exception($"issuer {issuer}: {why}");

    private static string Clip(string s) => s.Length > 64 ? s[..64] + "…" : s;
}
