using System.Buffers;
using System.Buffers.Text;
using System.Text;
using Keyward.Core.Attic;
using Keyward.Core.Errors;
using Keyward.Core.Manifest;
using Keyward.Crypto.Attic;
using Keyward.Store;
using Keyward.Core.Store;

namespace Keyward.Engine.Gate;

/// <summary>What the gate answers: allowed (2xx), no valid token (401) or a token that may not do this (403).</summary>
public enum GateVerdict
{
    Allow,
    Unauthorized,
    Forbidden,
}

/// <summary>The gate's decision, the reason (a short category, safe to show: it names no secret and no rule) and the
/// ledger id of the token when it has one.</summary>
public readonly record struct GateDecision(GateVerdict Verdict, string Reason, string? TokenId = null);

/// <summary>
/// The Attic revocation gate behind nginx <c>auth_request</c>: a request passes when its token (Bearer, or Basic with
/// the token as password, as Nix sends netrc credentials) is signed by the active or previous version of a signer of
/// the manifest's Attic tokens, is within its time claims, is in Keyward's ledger (unless foreign tokens are allowed)
/// and not revoked, and — with <c>checkPermissions</c> — grants the cache and action of the original request.
/// <para>Fast: an immutable snapshot (verification keys, ledger by fingerprint, settings) answers every request in
/// memory; <see cref="StoreChangeProbe"/> tells per request whether anything committed to the store since, so a
/// <c>keyward revoke</c> from the CLI counts from the very next request. Without a probe (a non-SQLite store) the
/// snapshot is rebuilt for every request.</para>
/// </summary>
public sealed class AtticGate(Func<CancellationToken, Task<OpenedState>> openForRead, Func<KeywardManifest?> manifest, TimeProvider time) : IAsyncDisposable
{
    private sealed record SignerKey(string Signer, int Version, AtticSigningKey Key);

    private sealed record Snapshot(long Stamp, KeywardManifest Manifest, IReadOnlyList<SignerKey> Keys, Dictionary<string, LedgerEntry> LedgerByFingerprint,
        HashSet<string> PublicCaches)
    {
        /// <summary>Tokens whose signature verified under this snapshot's keys, with their ledger entry as of this
        /// snapshot: a repeat request skips the HMAC, the JSON and the fingerprint. Dropped with the snapshot, so a
        /// revocation (any store commit) empties it; time claims are checked on every request.</summary>
        public readonly System.Collections.Concurrent.ConcurrentDictionary<string, (DecodedAtticToken Token, LedgerEntry? Entry)> Verified = new(StringComparer.Ordinal);
    }

    /// <summary>Bound on <see cref="Snapshot.Verified"/>: beyond it, tokens are verified every time.</summary>
    private const int MaxVerified = 10_000;

    private readonly SemaphoreSlim _rebuild = new(1, 1);
    private OpenedState? _state;
    private StoreChangeProbe? _probe;
    private Snapshot? _snapshot;
    private long _rebuilds;

    /// <summary>How many times the snapshot was rebuilt (tests and metrics).</summary>
    public long Rebuilds => Interlocked.Read(ref _rebuilds);

    public async ValueTask<GateDecision> DecideAsync(string? authorization, string? originalUri, string? originalMethod, CancellationToken cancellationToken)
    {
        var snapshot = await CurrentAsync(cancellationToken).ConfigureAwait(false);
        if (snapshot is null) return new(GateVerdict.Unauthorized, "keyward-not-ready");
        var settings = snapshot.Manifest.Gate;

        var token = BearerOf(authorization);
        if (token is null)
            return authorization is null && settings.AllowAnonymous ? new(GateVerdict.Allow, "anonymous") : new(GateVerdict.Unauthorized, authorization is null ? "no-token" : "unreadable-authorization");

        if (snapshot.Verified.TryGetValue(token, out var known))
        {
            var now = time.GetUtcNow().ToUnixTimeSeconds();
            var t = known.Token;
            if (t.ExpiresAtSeconds < now || t.NotBeforeSeconds > now || t.IssuedAtSeconds > now) return new(GateVerdict.Unauthorized, "expired");
            return Admit(snapshot, settings, t, known.Entry, originalUri, originalMethod);
        }

        DecodedAtticToken? decoded = null;
        var expired = false;
        foreach (var k in snapshot.Keys)
        {
            try
            {
                decoded = AtticTokens.Verify(token, k.Key, time);
                break;
            }
            catch (KeywardException e) when (e.First.Code == ErrorCodes.AtticTokenExpired || e.First.Code == ErrorCodes.AtticTokenNotYetValid)
            {
                expired = true; // the signature verified: no other key will do better
                break;
            }
            catch (KeywardException)
            {
                // another signer's key, or not a token at all: try the next key
            }
        }
        if (expired) return new(GateVerdict.Unauthorized, "expired");
        if (decoded is null) return new(GateVerdict.Unauthorized, "unknown-signer");

        var fingerprint = _state!.Store.Fingerprint(Encoding.ASCII.GetBytes(token));
        var entry = snapshot.LedgerByFingerprint.GetValueOrDefault(fingerprint);
        if (snapshot.Verified.Count < MaxVerified) snapshot.Verified.TryAdd(token, (decoded, entry));
        return Admit(snapshot, settings, decoded, entry, originalUri, originalMethod);
    }

    private static GateDecision Admit(Snapshot snapshot, AtticGateSettings settings, DecodedAtticToken decoded, LedgerEntry? entry, string? originalUri, string? originalMethod)
    {
        if (entry is null && settings.ForeignTokens == ForeignTokens.Refuse) return new(GateVerdict.Unauthorized, "not-minted-by-keyward");
        if (entry?.RevokedAt is not null) return new(GateVerdict.Unauthorized, "revoked", entry.TokenId);

        if (settings.CheckPermissions && AtticRoute.Classify(originalMethod, originalUri) is { } route)
        {
            var allowed = decoded.PermissionsFor(route.Cache).Can(route.Permission)
                || (route.Permission == AtticPermission.Pull && snapshot.PublicCaches.Contains(route.Cache));
            if (!allowed) return new(GateVerdict.Forbidden, "not-granted", entry?.TokenId);
        }
        return new(GateVerdict.Allow, entry is null ? "foreign-token" : "ok", entry?.TokenId);
    }

    /// <summary>The token of <c>Bearer TOKEN</c> or <c>Basic base64(user:TOKEN)</c> (attic's <c>parse_authorization_header</c>).</summary>
    internal static string? BearerOf(string? authorization)
    {
        if (string.IsNullOrEmpty(authorization) || authorization.Length > 16 * 1024) return null;
        var space = authorization.IndexOf(' ', StringComparison.Ordinal);
        if (space <= 0) return null;
        var scheme = authorization.AsSpan(0, space);
        var rest = authorization.AsSpan(space + 1).Trim();
        if (rest.Length == 0) return null;
        if (scheme.Equals("bearer", StringComparison.OrdinalIgnoreCase)) return rest.ToString();
        if (!scheme.Equals("basic", StringComparison.OrdinalIgnoreCase)) return null;
        var buffer = ArrayPool<byte>.Shared.Rent(Base64.GetMaxDecodedFromUtf8Length(rest.Length));
        try
        {
            var ascii = Encoding.ASCII.GetBytes(rest.ToString());
            if (Base64.DecodeFromUtf8(ascii, buffer, out _, out var written) != OperationStatus.Done) return null;
            var text = Encoding.UTF8.GetString(buffer, 0, written);
            var colon = text.IndexOf(':', StringComparison.Ordinal);
            return colon >= 0 && colon < text.Length - 1 ? text[(colon + 1)..] : null;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private async ValueTask<Snapshot?> CurrentAsync(CancellationToken ct)
    {
        var m = manifest();
        if (m is null) return null;
        var current = Volatile.Read(ref _snapshot);
        if (current is not null && _probe is { } probe && ReferenceEquals(current.Manifest, m) && probe.Read() == current.Stamp) return current;

        await _rebuild.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            _state ??= await openForRead(ct).ConfigureAwait(false);
            _probe ??= StoreChangeProbe.TryOpen(_state);
            var stamp = _probe?.Read() ?? 0;
            current = _snapshot;
            if (current is not null && _probe is not null && ReferenceEquals(current.Manifest, m) && stamp == current.Stamp) return current; // rebuilt meanwhile
            var fresh = await BuildAsync(stamp, m, _state.Store, ct).ConfigureAwait(false);
            Volatile.Write(ref _snapshot, fresh);
            Interlocked.Increment(ref _rebuilds);
            return fresh;
        }
        finally
        {
            _rebuild.Release();
        }
    }

    private static async Task<Snapshot> BuildAsync(long stamp, KeywardManifest m, ICredentialStore store, CancellationToken ct)
    {
        var signers = m.Credentials.OfType<AtticTokenCredential>().Select(t => t.SignedBy)
            .Concat(m.TrustedPublishers.Select(p => p.SignedBy)).Distinct(StringComparer.Ordinal);
        var keys = new List<SignerKey>();
        foreach (var name in signers)
        {
            if (m.FindCredential(name) is not { Kind: CredentialKind.Secret or CredentialKind.RsaKey } spec) continue;
            var versions = await store.GetVersionsAsync(name, ct).ConfigureAwait(false);
            // The active version first (almost every token), then the previous one during a rotation's overlap.
            foreach (var v in versions.Where(v => v.State is VersionState.Active or VersionState.Previous).OrderBy(v => v.State == VersionState.Active ? 0 : 1))
            {
                using var value = await store.RevealAsync(name, v.Version, ct).ConfigureAwait(false);
                keys.Add(new SignerKey(name, v.Version, AtticSigningKey.ForSigner(spec.Kind, value, name)));
            }
        }
        var ledger = new Dictionary<string, LedgerEntry>(StringComparer.Ordinal);
        foreach (var e in await store.ListLedgerAsync(ct).ConfigureAwait(false)) ledger.TryAdd(e.Fingerprint, e);
        var publicCaches = m.Services.Where(s => s.Kind == ServiceKind.Attic).SelectMany(s => s.Caches).Where(c => c.IsPublic).Select(c => c.Name).ToHashSet(StringComparer.Ordinal);
        return new Snapshot(stamp, m, keys, ledger, publicCaches);
    }

    public async ValueTask DisposeAsync()
    {
        _probe?.Dispose();
        if (_state is not null) await _state.DisposeAsync().ConfigureAwait(false);
        _rebuild.Dispose();
    }
}
