using System.Globalization;
using System.Text;
using Keyward.Core.Errors;
using Keyward.Core.Manifest;
using Keyward.Core.Secrets;
using Keyward.Crypto.Oidc;
using Keyward.Engine.Minting;
using Keyward.Services.Oidc;
using Keyward.Store;
using Keyward.Core.Store;

namespace Keyward.Engine.Ci;

/// <summary>An Attic token minted for a CI job: the value (for the job only), its ledger id and expiry.</summary>
public sealed record CiTokenIssued(Secret Token, string TokenId, DateTimeOffset ExpiresAt, string Publisher, string Subject);

/// <summary>
/// Trusted publishing: a CI job's OIDC ID token in, a short-lived Attic token out. Checks, in this order: the token's
/// shape and algorithm (RS256/ES256 only), that its issuer is trusted by some publisher, the signature with the issuer's
/// key for its kid (<see cref="OidcKeyCache"/>), exp/nbf/iat with <see cref="Skew"/>, the audience, then each publisher's
/// claims in manifest order (the first that matches wins). The Attic token is minted by <see cref="CredentialMinter"/>
/// with the publisher's signer's active version, recorded in the ledger and audited with the job's claims, never a token.
/// Its ledger id is derived from the ID token (<see cref="ExchangeId"/>), so the ledger refuses a second exchange of one
/// ID token (KW1420) for as long as the ledger keeps the row — which is for good (docs/design.md, "CI token replay").
/// Every refusal is a <see cref="KeywardException"/> with a KW14xx code; refusals of a job whose token verified are
/// audited too (their detail names the publisher and the claim that did not match).
/// </summary>
public sealed class CiTokenExchange(OidcKeyCache keys, TimeProvider time, string actor = "keyward-serve")
{
    /// <summary>Clock skew allowed on exp, nbf and iat (PyPI: 30 s).</summary>
    public static readonly TimeSpan Skew = TimeSpan.FromSeconds(30);

    /// <summary>At most this many refusals (<c>ci-token-refused</c>, <c>ci-token-replayed</c>) are audited per minute of
    /// the clock; the rest are counted and the next audited refusal says how many were left out. A genuine token of a
    /// public issuer is anyone's to have (any GitHub repository's workflow can ask for one with Keyward's audience), so
    /// without a bound the audit log would be a way to fill the disk.</summary>
    public const int MaxRefusalAuditsPerMinute = 60;

    private readonly Lock _auditBudget = new();
    private long _auditMinute = long.MinValue;
    private int _auditedThisMinute;
    private long _notAudited;

    /// <summary>The claims written to the audit log, when the token has them (GitHub, Forgejo and GitLab names).</summary>
    public static readonly IReadOnlyList<string> AuditedClaims =
        ["sub", "repository", "repository_id", "ref", "workflow", "job_workflow_ref", "environment", "run_id", "run_attempt", "actor", "event_name", "project_path", "pipeline_id", "job_id"];

    public async Task<CiTokenIssued> ExchangeAsync(string idToken, KeywardManifest manifest, Func<CancellationToken, Task<OpenedState>> openForWrite, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        ArgumentNullException.ThrowIfNull(openForWrite);
        var jwt = OidcJwt.Parse(idToken.Trim());
        jwt.CheckAlgorithm();
        var issuer = jwt.Issuer ?? throw ErrorCodes.OidcClaimMissing.Exception("the token has no iss");
        var candidates = manifest.TrustedPublishers.Where(p => string.Equals(p.IssuerText, issuer, StringComparison.Ordinal)).ToList();
        if (candidates.Count == 0) throw ErrorCodes.OidcIssuerUntrusted.Exception($"issuer '{Clip(issuer)}' is not trusted by any publisher");

        var key = await keys.GetKeyAsync(issuer, jwt.KeyId!, cancellationToken).ConfigureAwait(false);
        jwt.VerifySignature(key);
        jwt.CheckTimes(time.GetUtcNow(), Skew);

        // From here on the token is genuine: refusals are the job's business and go to the audit log.
        var forAudience = candidates.Where(p => jwt.Audiences.Count == 1 && jwt.Audiences[0] == p.Audience).ToList();
        if (forAudience.Count == 0)
        {
            var e = Refusal(() => jwt.CheckAudience(candidates[0].Audience));
            await AuditRefusalAsync(jwt, candidates[0].LedgerName, e.First.Message, openForWrite, cancellationToken).ConfigureAwait(false);
            throw e;
        }
        var misses = new List<string>();
        TrustedPublisher? publisher = null;
        foreach (var p in forAudience)
        {
            var miss = FirstMismatch(p, jwt);
            if (miss is null) { publisher = p; break; }
            misses.Add($"{p.Name}: {miss}");
        }
        if (publisher is null)
        {
            var detail = "no publisher matches: " + string.Join("; ", misses);
            await AuditRefusalAsync(jwt, forAudience[0].LedgerName, detail, openForWrite, cancellationToken).ConfigureAwait(false);
            throw ErrorCodes.OidcNoRuleMatched.Exception(detail);
        }
        return await MintAsync(publisher, jwt, manifest, openForWrite, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Why <paramref name="p"/> does not match the job (the claim and its value: the job's own facts), or null.</summary>
    internal static string? FirstMismatch(TrustedPublisher p, OidcJwt jwt)
    {
        foreach (var m in p.Claims)
        {
            var actual = jwt.Claim(m.Claim);
            if (actual is null) return $"claim '{m.Claim}' is missing";
            if (!m.Matches(actual)) return $"claim '{m.Claim}' is '{Clip(actual)}'";
        }
        return null;
    }

    private async Task<CiTokenIssued> MintAsync(TrustedPublisher publisher, OidcJwt jwt, KeywardManifest manifest, Func<CancellationToken, Task<OpenedState>> openForWrite, CancellationToken ct)
    {
        var signerSpec = manifest.FindCredential(publisher.SignedBy)
            ?? throw ErrorCodes.UnknownCredential.Exception($"trusted publisher '{publisher.Name}' is signed by '{publisher.SignedBy}', which the manifest does not declare");
        var state = await openForWrite(ct).ConfigureAwait(false);
        await using (state.ConfigureAwait(false))
        {
            var store = state.Store;
            var active = await store.GetActiveAsync(publisher.SignedBy, ct).ConfigureAwait(false)
                ?? throw ErrorCodes.SignerMissing.Exception($"'{publisher.SignedBy}' (the signer of trusted publisher '{publisher.Name}') has no stored value", "run `keyward apply` first");
            using var signerValue = await store.RevealAsync(publisher.SignedBy, active.Version, ct).ConfigureAwait(false);
            var subject = jwt.Claim("sub") is { Length: > 0 } sub ? sub : publisher.LedgerName;
            var spec = new AtticTokenCredential(publisher.LedgerName, "ci", $"CI token for trusted publisher {publisher.Name}", null, [], publisher.Location,
                publisher.SignedBy, subject, publisher.Validity, null, publisher.Caches, null, []);
            var tokenId = ExchangeId(jwt, store.Fingerprint);
            var minted = new CredentialMinter(time).MintToken(spec, new SignerValue(signerSpec, signerValue, active.Version), 0, store.Fingerprint, tokenId);
            var ledger = minted.Ledger!;
            try
            {
                await using var tx = await store.BeginAsync(ct).ConfigureAwait(false);
                // The ledger's unique token id is the replay check: a second exchange of this ID token derives the same id,
                // and the insert refuses it (KW0312) atomically, on every store and across replicas sharing one.
                await store.RecordTokenAsync(ledger, ct).ConfigureAwait(false);
                await store.AppendAuditAsync(new AuditEvent(time.GetUtcNow(), actor, "ci-token", publisher.LedgerName, null, ledger.Fingerprint,
                    $"token {ledger.TokenId} ({ledger.PermissionsSummary}, until {ledger.ExpiresAt.ToString("u", CultureInfo.InvariantCulture)}) for {ClaimsDetail(jwt)}"), ct).ConfigureAwait(false);
                await tx.CommitAsync(ct).ConfigureAwait(false);
            }
            catch (KeywardException e) when (e.First.Code == ErrorCodes.StoreDuplicateToken)
            {
                minted.Value.Dispose();
                // The transaction rolled back; the refusal is audited on its own: a replayed ID token is a leaked one.
                if (RefusalAuditDetail($"ID token already exchanged for token {tokenId} (revoke it with `keyward revoke {tokenId}` if the job did not ask twice) — job {ClaimsDetail(jwt)}") is { } detail)
                    await store.AppendAuditAsync(new AuditEvent(time.GetUtcNow(), actor, "ci-token-replayed", publisher.LedgerName, null, null, detail), ct).ConfigureAwait(false);
                throw ErrorCodes.OidcTokenReplayed.Exception($"this ID token was already exchanged for token {tokenId}; each ID token buys one Attic token");
            }
            return new CiTokenIssued(minted.Value, ledger.TokenId, ledger.ExpiresAt, publisher.Name, subject);
        }
    }

    /// <summary>
    /// The ledger id (and jti) of the Attic token an ID token is exchanged for, derived from that ID token: its issuer
    /// and <c>jti</c> when it has one, else its signed part (<see cref="OidcJwt.SignedPart"/>, never the whole text, which
    /// an ES256 signature's twin or base64url's padding bits would change). Keyed with the store's fingerprint key, so
    /// the id says nothing about the ID token to whoever reads the ledger, and every replica of one store derives the
    /// same id. "ci-" + 32 hex digits: never equal to a random 16-digit id of another token.
    /// </summary>
    public static string ExchangeId(OidcJwt jwt, Func<ReadOnlySpan<byte>, string> fingerprint)
    {
        ArgumentNullException.ThrowIfNull(jwt);
        ArgumentNullException.ThrowIfNull(fingerprint);
        var identity = jwt.Claim("jti") is { Length: > 0 } jti
            ? Encoding.UTF8.GetBytes($"keyward/ci-exchange\njti\n{jwt.Issuer}\n{jti}")
            : [.. Encoding.UTF8.GetBytes($"keyward/ci-exchange\nsigned\n{jwt.Issuer}\n"), .. jwt.SignedPart];
        var fp = fingerprint(identity);
        return "ci-" + fp[(fp.IndexOf(':', StringComparison.Ordinal) + 1)..];
    }

    private async Task AuditRefusalAsync(OidcJwt jwt, string credential, string reason, Func<CancellationToken, Task<OpenedState>> openForWrite, CancellationToken ct)
    {
        if (RefusalAuditDetail($"{reason} — job {ClaimsDetail(jwt)}") is not { } detail) return;
        var state = await openForWrite(ct).ConfigureAwait(false);
        await using (state.ConfigureAwait(false))
            await state.Store.AppendAuditAsync(new AuditEvent(time.GetUtcNow(), actor, "ci-token-refused", credential, null, null, detail), ct).ConfigureAwait(false);
    }

    /// <summary>The detail to audit a refusal with, or null when this minute's budget
    /// (<see cref="MaxRefusalAuditsPerMinute"/>) is spent.</summary>
    private string? RefusalAuditDetail(string detail)
    {
        var minute = time.GetUtcNow().ToUnixTimeSeconds() / 60;
        lock (_auditBudget)
        {
            if (minute != _auditMinute)
            {
                _auditMinute = minute;
                _auditedThisMinute = 0;
            }
            if (_auditedThisMinute >= MaxRefusalAuditsPerMinute)
            {
                _notAudited++;
                return null;
            }
            _auditedThisMinute++;
            var skipped = _notAudited;
            _notAudited = 0;
            return skipped == 0 ? detail : $"{detail} ({skipped} earlier refusal(s) not audited: more than {MaxRefusalAuditsPerMinute} a minute)";
        }
    }

    /// <summary>The job's identifying claims as <c>name=value</c> pairs (issuer first).</summary>
    public static string ClaimsDetail(OidcJwt jwt)
    {
        ArgumentNullException.ThrowIfNull(jwt);
        var sb = new StringBuilder().Append("iss=").Append(Clip(jwt.Issuer ?? ""));
        foreach (var name in AuditedClaims)
            if (jwt.Claim(name) is { } v) sb.Append(' ').Append(name).Append('=').Append(Clip(v));
        return sb.ToString();
    }

    private static KeywardException Refusal(Action check)
    {
        try
        {
            check();
        }
        catch (KeywardException e)
        {
            return e;
        }
        throw new InvalidOperationException("the check did not refuse");
    }

    private static string Clip(string s)
    {
        var clean = new string([.. s.Select(c => char.IsControl(c) ? '?' : c)]);
        return clean.Length > 200 ? clean[..200] + "…" : clean;
    }
}
