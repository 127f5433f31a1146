using Keyward.Core.Errors;
using Keyward.Engine.Ci;
using Keyward.Services.Http;
using Keyward.Services.Oidc;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Keyward.Server.Endpoints;

/// <summary>The body form of the exchange (attic-trusted-publisher's shape); a Bearer header works as well.</summary>
internal sealed record CiTokenRequest(string? Token);

internal sealed record CiTokenResponse(string Token, string TokenId, DateTimeOffset ExpiresAt, string Publisher);

/// <summary>A refusal: a reason category and the code's title, never the rules (they are in the server log and, for
/// genuine tokens, the audit log).</summary>
internal sealed record CiTokenRefusal(string Error, string Code, string Message);

/// <summary><c>POST /api/v1/ci/attic-token</c>: trusted publishing (docs/ci-tokens.md). Every issue and refusal is one
/// line of the server log (<see cref="ServeOptions.Log"/>, stderr), with the refusal's detail the answer leaves out. The job's OIDC ID token comes as
/// <c>Authorization: Bearer</c> or as <c>{"token": "…"}</c>; the answer is <c>{"token", "tokenId", "expiresAt",
/// "publisher"}</c>, or 400/401/403/503 with <see cref="CiTokenRefusal"/>.</summary>
internal static class CiEndpoints
{
    private const int MaxBodyBytes = 64 * 1024;

    public static void Map(WebApplication app)
    {
        var state = app.Services.GetRequiredService<ServerState>();
        var http = ServiceHttp.CreateClient();
        var keys = new OidcKeyCache(http, state.Options.Oidc, state.Time);
        var exchange = new CiTokenExchange(keys, state.Time);
        var log = state.Options.Log ?? (_ => { });
        app.Lifetime.ApplicationStopped.Register(() =>
        {
            keys.Dispose();
            http.Dispose();
        });
        app.MapPost("/api/v1/ci/attic-token", (RequestDelegate)(ctx => ExchangeAsync(ctx, state, exchange, log))).RequireRateLimiting(RateLimiting.ClientRateLimits.Ci);
    }

    private static async Task ExchangeAsync(HttpContext ctx, ServerState state, CiTokenExchange exchange, Action<string> log)
    {
        ctx.Response.Headers.CacheControl = "no-store";
        var ct = ctx.RequestAborted;
        var idToken = BearerOf(ctx.Request.Headers.Authorization.ToString());
        if (idToken is null)
        {
            if (ctx.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit) limit.MaxRequestBodySize = MaxBodyBytes;
            try
            {
                var body = await ctx.Request.ReadFromJsonAsync(ServerJson.Default.CiTokenRequest, ct).ConfigureAwait(false);
                idToken = body?.Token;
            }
            catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException or BadHttpRequestException)
            {
                idToken = null;
            }
        }
        if (string.IsNullOrWhiteSpace(idToken))
        {
            await RefuseAsync(ctx, StatusCodes.Status400BadRequest, "no-token", ErrorCodes.OidcTokenMalformed,
                "send the job's ID token as Authorization: Bearer TOKEN or as {\"token\": \"TOKEN\"}").ConfigureAwait(false);
            return;
        }
        var manifest = state.Manifest;
        if (manifest is null)
        {
            await RefuseAsync(ctx, StatusCodes.Status503ServiceUnavailable, "not-ready", ErrorCodes.ManifestInvalid, "the server has no valid manifest").ConfigureAwait(false);
            return;
        }
        try
        {
            var issued = await exchange.ExchangeAsync(idToken, manifest, c => state.OpenForWriteAsync("ci token", c), ct).ConfigureAwait(false);
            using (issued.Token)
            {
                log($"CI token {issued.TokenId} issued to {OneLine(issued.Subject)} by trusted publisher {issued.Publisher}");
                await ctx.Response.WriteAsJsonAsync(new CiTokenResponse(issued.Token.RevealString(), issued.TokenId, issued.ExpiresAt, issued.Publisher),
                    ServerJson.Default.CiTokenResponse, contentType: null, ct).ConfigureAwait(false);
            }
        }
        catch (KeywardException e)
        {
            var code = e.First.Code;
            log($"CI token refused ({code.Code}): {OneLine(e.First.Message)}");
            var (status, category) = Classify(code);
            await RefuseAsync(ctx, status, category, code, code.Title).ConfigureAwait(false);
        }
    }

    /// <summary>The HTTP status and reason category of a refusal: token problems 401, a genuine job no rule admits 403,
    /// the issuer or the store unavailable 503.</summary>
    internal static (int Status, string Category) Classify(ErrorCode code) => code.Code switch
    {
        "KW1410" => (401, "malformed-token"),
        "KW1411" => (401, "algorithm"),
        "KW1412" => (401, "signature"),
        "KW1413" => (401, "issuer"),
        "KW1414" => (401, "audience"),
        "KW1415" => (401, "expired"),
        "KW1416" => (403, "claims"),
        "KW1417" => (503, "issuer-unreachable"),
        "KW1418" => (401, "unknown-key"),
        "KW1419" => (401, "missing-claim"),
        "KW1420" => (401, "replayed"),
        _ => (503, "unavailable"),
    };

    private static Task RefuseAsync(HttpContext ctx, int status, string category, ErrorCode code, string message)
    {
        ctx.Response.StatusCode = status;
        if (status == StatusCodes.Status401Unauthorized) ctx.Response.Headers.WWWAuthenticate = "Bearer error=\"invalid_token\"";
        return ctx.Response.WriteAsJsonAsync(new CiTokenRefusal(category, code.Code, message), ServerJson.Default.CiTokenRefusal, contentType: null, ctx.RequestAborted);
    }

    internal static string? BearerOf(string authorization) =>
        authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) && authorization.Length > 7 ? authorization[7..].Trim() : null;

    /// <summary>A caller's text made one log line: an unverified token's kid or alg may hold a newline that would
    /// otherwise forge a line of the server's log.</summary>
    internal static string OneLine(string text) => string.Create(text.Length, text, (span, t) =>
    {
        for (var i = 0; i < t.Length; i++) span[i] = char.IsControl(t[i]) ? '?' : t[i];
    });
}
