using Keyward.Engine.Gate;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Keyward.Server.Endpoints;

/// <summary>
/// <c>GET /api/v1/attic/auth</c>: the revocation gate for nginx <c>auth_request</c> in front of atticd (docs/gate.md,
/// deploy/nginx/attic-gate.conf). Reads <c>Authorization</c>, and <c>X-Original-URI</c> / <c>X-Original-Method</c> when
/// nginx passes them; answers 204 (pass), 401 (no valid token: missing, bad, expired, revoked, foreign) or 403 (the token
/// does not grant this cache and action) — nginx turns anything else into a 500. No body, <c>no-store</c>: a cache in
/// front would delay revocation.
/// </summary>
internal static class GateEndpoints
{
    public static void Map(WebApplication app)
    {
        var state = app.Services.GetRequiredService<ServerState>();
        var gate = new AtticGate(state.OpenForReadAsync, () => state.Manifest, state.Time);
        app.Lifetime.ApplicationStopped.Register(() => _ = gate.DisposeAsync().AsTask());
        app.MapGet("/api/v1/attic/auth", (RequestDelegate)(ctx => DecideAsync(ctx, gate)));
    }

    private static async Task DecideAsync(HttpContext ctx, AtticGate gate)
    {
        var h = ctx.Request.Headers;
        var decision = await gate.DecideAsync(h.Authorization.Count == 0 ? null : h.Authorization.ToString(),
            h["X-Original-URI"].Count == 0 ? null : h["X-Original-URI"].ToString(),
            h["X-Original-Method"].Count == 0 ? null : h["X-Original-Method"].ToString(), ctx.RequestAborted).ConfigureAwait(false);
        var response = ctx.Response;
        response.Headers.CacheControl = "no-store";
        response.Headers["X-Keyward-Gate"] = decision.Reason;
        if (decision.TokenId is { } id) response.Headers["X-Keyward-Token-Id"] = id;
        switch (decision.Verdict)
        {
            case GateVerdict.Allow:
                response.StatusCode = StatusCodes.Status204NoContent;
                break;
            case GateVerdict.Forbidden:
                response.StatusCode = StatusCodes.Status403Forbidden;
                break;
            default:
                response.StatusCode = StatusCodes.Status401Unauthorized;
                response.Headers.WWWAuthenticate = $"Bearer error=\"invalid_token\", error_description=\"{decision.Reason}\"";
                break;
        }
    }
}
