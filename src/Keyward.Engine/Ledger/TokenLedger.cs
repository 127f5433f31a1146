using Keyward.Core.Errors;
using Keyward.Core.Store;

namespace Keyward.Engine.Ledger;

/// <summary>What <c>keyward revoke</c> did: the ledger entry, and whether it was already revoked before.</summary>
public sealed record RevokeResult(LedgerEntry Token, bool AlreadyRevoked);

/// <summary>
/// The ledger of Attic tokens Keyward minted (Attic itself keeps no record of the tokens it accepts): list it, and mark
/// a token revoked, by its JWT id or by the credential whose active version it is. Revocation is recorded and audited
/// here; it is enforced where requests are checked against the ledger (the server's auth gate). Until then a revoked
/// token still works against Attic: re-mint it (<c>keyward rotate NAME</c>) to make it useless now.
/// </summary>
public sealed class TokenLedger(ICredentialStore store, EngineOptions options)
{
    public async Task<IReadOnlyList<LedgerEntry>> ListAsync(string? credential, CancellationToken cancellationToken)
    {
        var all = await store.ListLedgerAsync(cancellationToken).ConfigureAwait(false);
        return all.Where(t => credential is null || t.Credential == credential)
            .OrderBy(t => t.Credential, StringComparer.Ordinal).ThenByDescending(t => t.Version).ThenBy(t => t.IssuedAt).ToArray();
    }

    /// <param name="nameOrId">A token id (the JWT's jti) from <c>keyward tokens</c>, or a credential name: its active version's token.</param>
    public async Task<RevokeResult> RevokeAsync(string nameOrId, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(nameOrId);
        var ledger = await store.ListLedgerAsync(cancellationToken).ConfigureAwait(false);
        var token = ledger.FirstOrDefault(t => t.TokenId == nameOrId);
        if (token is null)
        {
            var ofCredential = ledger.Where(t => t.Credential == nameOrId).ToArray();
            if (ofCredential.Length == 0)
                throw ErrorCodes.StoreTokenMissing.Exception($"'{nameOrId}' is neither a token id in the ledger nor a credential with minted tokens");
            var active = await store.GetActiveAsync(nameOrId, cancellationToken).ConfigureAwait(false);
            // Operator tokens (operator:NAME) have no credential version: the one not yet revoked is meant.
            var candidates = ofCredential.Where(t => Operators.OperatorTokens.IsOperatorEntry(t) ? t.RevokedAt is null
                : active is not null && t.Version == active.Version).ToArray();
            if (candidates.Length != 1)
                throw ErrorCodes.StoreTokenMissing.Exception(
                    candidates.Length == 0
                        ? $"credential '{nameOrId}' has no token for its active version in the ledger"
                        : $"credential '{nameOrId}' has {candidates.Length} tokens for its active version",
                    $"name the token by its id: `keyward tokens {nameOrId}` lists them");
            token = candidates[0];
        }
        if (token.RevokedAt is not null) return new RevokeResult(token, AlreadyRevoked: true);

        var now = options.Time.GetUtcNow();
        await using (var tx = await store.BeginAsync(cancellationToken).ConfigureAwait(false))
        {
            await store.RevokeTokenAsync(token.TokenId, now, cancellationToken).ConfigureAwait(false);
            await store.AppendAuditAsync(new AuditEvent(now, options.Actor, "revoke", token.Credential, token.Version, token.Fingerprint,
                $"token {token.TokenId} (subject {token.Subject})"), cancellationToken).ConfigureAwait(false);
            await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
        }
        return new RevokeResult(token with { RevokedAt = now }, AlreadyRevoked: false);
    }
}
