using Keyward.Engine;
using Keyward.Engine.Operators;
using Keyward.Server.Dashboard;
using Keyward.Core.Store;

namespace Keyward.Server.Auth;

/// <summary>The dashboard's login check: the same ledger-stored operator tokens as the API's bearer tokens
/// (<see cref="OperatorTokens"/>; revoked or expired ones are refused). Every attempt is audited, never the token.</summary>
internal sealed class LedgerOperatorAuthenticator(ServerState state) : IOperatorAuthenticator
{
    public async Task<string?> AuthenticateAsync(string token, CancellationToken cancellationToken)
    {
        await using var opened = await state.OpenForReadAsync(cancellationToken).ConfigureAwait(false);
        var (entry, reason) = await new OperatorTokens(opened.Store, new EngineOptions { Time = state.Time }).VerifyAsync(token, cancellationToken).ConfigureAwait(false);
        await opened.Store.AppendAuditAsync(new AuditEvent(state.Time.GetUtcNow(), entry?.Subject ?? "anonymous", entry is null ? "dashboard-login-refused" : "dashboard-login",
            "*", null, null, entry is null ? reason : $"operator token {entry.TokenId}"), CancellationToken.None).ConfigureAwait(false);
        return entry?.Subject;
    }
}
