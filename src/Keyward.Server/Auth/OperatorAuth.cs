using Keyward.Engine;
using Keyward.Engine.Operators;
using Keyward.Core.Store;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Keyward.Server.Auth;

/// <summary>An API error body: a stable code and a sentence (never a value or a token).</summary>
public sealed record ApiError(string Code, string Error);

/// <summary>
/// Operator authentication for any route: <c>app.MapGet(...).RequireOperator()</c>. The request must carry
/// <c>Authorization: Bearer kwop_…</c>, a token <c>keyward operator-token create NAME</c> minted (kept in the ledger as a
/// keyed fingerprint only), not revoked (<c>keyward revoke</c>) and not expired; otherwise 401 with
/// <c>WWW-Authenticate: Bearer</c>. Every call that gets through is audited after it ran (actor = the token's name,
/// action <c>api</c>, the method, path and status in the detail); refused calls are audited too (actor <c>anonymous</c>),
/// up to the client's rate limit of refusals (then 429, not audited).
/// </summary>
public static class OperatorAuth
{
    private const string ItemKey = "keyward.operator";

    public static TBuilder RequireOperator<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder =>
        builder.AddEndpointFilter(new OperatorAuthFilter());

    /// <summary>The operator an authenticated request acts for (its ledger entry), or null.</summary>
    public static LedgerEntry? Operator(HttpContext context) =>
        context?.Items.TryGetValue(ItemKey, out var o) == true ? o as LedgerEntry : null;

    private sealed class OperatorAuthFilter : IEndpointFilter
    {
        public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
        {
            var http = context.HttpContext;
            var state = http.RequestServices.GetRequiredService<ServerState>();
            var ct = http.RequestAborted;
            var header = http.Request.Headers.Authorization.ToString();
            var what = $"{http.Request.Method} {http.Request.Path}";
            string? presented = header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? header[7..].Trim() : null;
            var reason = "no bearer token";
            await using var opened = await state.OpenForReadAsync(ct).ConfigureAwait(false);
            LedgerEntry? entry = null;
            if (presented is { Length: > 0 })
                (entry, reason) = await new OperatorTokens(opened.Store, new EngineOptions { Time = state.Time }).VerifyAsync(presented, ct).ConfigureAwait(false);
            if (entry is null)
            {
                // Refusals spend the client's permits (accepted calls never do): past the bound the answer is 429 and no
                // audit row is written, so guessing tokens can neither go fast nor fill the audit log.
                using var lease = http.RequestServices.GetRequiredService<RateLimiting.OperatorRefusalLimiter>().Refusal(http);
                if (!lease.IsAcquired)
                {
                    await RateLimiting.ClientRateLimits.RejectAsync(http, lease, ct).ConfigureAwait(false);
                    return Results.Empty;
                }
                await opened.Store.AppendAuditAsync(new AuditEvent(state.Time.GetUtcNow(), "anonymous", "api-refused", "*", null, null,
                    $"{what}: {reason}"), CancellationToken.None).ConfigureAwait(false);
                http.Response.Headers.WWWAuthenticate = "Bearer realm=\"keyward\"";
                return TypedResults.Json(new ApiError(Core.Errors.ErrorCodes.OperatorUnauthorized.Code, Core.Errors.ErrorCodes.OperatorUnauthorized.Title),
                    ServerJson.Default.ApiError, statusCode: StatusCodes.Status401Unauthorized);
            }
            http.Items[ItemKey] = entry;
            var result = await next(context).ConfigureAwait(false);
            var status = result is IStatusCodeHttpResult { StatusCode: { } code } ? code : http.Response.StatusCode;
            await opened.Store.AppendAuditAsync(new AuditEvent(state.Time.GetUtcNow(), entry.Subject, "api",
                http.Request.RouteValues.TryGetValue("name", out var n) && n is string name ? name : "*", null, null,
                $"{what} -> {status} (operator token {entry.TokenId})"), CancellationToken.None).ConfigureAwait(false);
            return result;
        }
    }
}
