using System.Security.Cryptography;
using System.Text;
using Keyward.Core.Errors;
using Keyward.Core.Secrets;
using Keyward.Core.Store;

namespace Keyward.Engine.Operators;

/// <summary>A newly minted operator token: the bearer value (shown once, never stored) and its ledger entry.</summary>
public sealed record NewOperatorToken(Secret Token, LedgerEntry Entry);

/// <summary>
/// Bearer tokens for the server's operator API, minted by Keyward and kept only as a keyed fingerprint (the store's
/// HMAC) in the token ledger, so no store contract changes and <c>keyward revoke</c>/<c>keyward tokens</c> cover them.
/// A token is <c>kwop_&lt;id&gt;_&lt;secret&gt;</c>: the id finds the ledger entry, the whole token's fingerprint must
/// match it (compared in constant time). The entry's credential is <c>operator:NAME</c>, its subject NAME.
/// </summary>
public sealed class OperatorTokens(ICredentialStore store, EngineOptions options)
{
    public const string CredentialPrefix = "operator:";
    public const string TokenPrefix = "kwop_";
    private const string Permissions = "operator API: read";

    public static bool IsOperatorEntry(LedgerEntry entry) =>
        entry is not null && entry.Credential.StartsWith(CredentialPrefix, StringComparison.Ordinal);

    public static void ValidateName(string name)
    {
        if (string.IsNullOrEmpty(name) || name.Length > 64 || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '@' or '-'))
            throw ErrorCodes.OperatorTokenNameInvalid.Exception($"'{name}' is not a valid operator token name");
    }

    /// <summary>Mints a token for <paramref name="name"/>, records its fingerprint in the ledger and audits it.</summary>
    public async Task<NewOperatorToken> CreateAsync(string name, TimeSpan validity, CancellationToken cancellationToken)
    {
        ValidateName(name);
        var id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
        var secret = Base64Url(RandomNumberGenerator.GetBytes(32));
        var bytes = Encoding.ASCII.GetBytes($"{TokenPrefix}{id}_{secret}");
        var token = Secret.FromBytes(bytes);
        var now = options.Time.GetUtcNow();
        var entry = new LedgerEntry(id, CredentialPrefix + name, 0, name, Permissions, now, now + validity, store.Fingerprint(bytes), "keyward", 0, null);
        CryptographicOperations.ZeroMemory(bytes);
        await using (var tx = await store.BeginAsync(cancellationToken).ConfigureAwait(false))
        {
            await store.RecordTokenAsync(entry, cancellationToken).ConfigureAwait(false);
            await store.AppendAuditAsync(new AuditEvent(now, options.Actor, "operator-token-create", entry.Credential, null, entry.Fingerprint,
                $"token {id}, expires {entry.ExpiresAt:yyyy-MM-dd}"), cancellationToken).ConfigureAwait(false);
            await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
        }
        return new NewOperatorToken(token, entry);
    }

    /// <summary>The ledger entry of a presented bearer token when it is a current operator token (known, fingerprint
    /// matches, not revoked, not expired); null otherwise. The reason is for the audit log (never the token).</summary>
    public async Task<(LedgerEntry? Entry, string Reason)> VerifyAsync(string presented, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(presented);
        if (!presented.StartsWith(TokenPrefix, StringComparison.Ordinal) || presented.Length > 200) return (null, "not an operator token");
        var rest = presented.AsSpan(TokenPrefix.Length);
        var sep = rest.IndexOf('_');
        if (sep <= 0) return (null, "not an operator token");
        var id = rest[..sep].ToString();
        var entry = (await store.ListLedgerAsync(cancellationToken).ConfigureAwait(false)).FirstOrDefault(e => e.TokenId == id && IsOperatorEntry(e));
        if (entry is null) return (null, "unknown operator token");
        var bytes = Encoding.ASCII.GetBytes(presented);
        var fingerprint = store.Fingerprint(bytes);
        CryptographicOperations.ZeroMemory(bytes);
        if (!CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(fingerprint), Encoding.ASCII.GetBytes(entry.Fingerprint)))
            return (null, $"wrong secret for operator token {id}");
        if (entry.RevokedAt is not null) return (null, $"operator token {id} ({entry.Subject}) is revoked");
        if (entry.ExpiresAt <= options.Time.GetUtcNow()) return (null, $"operator token {id} ({entry.Subject}) expired");
        return (entry, "ok");
    }

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
