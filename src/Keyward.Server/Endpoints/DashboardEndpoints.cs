using Keyward.Core.Errors;
using Keyward.Server.Dashboard;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Keyward.Server.Endpoints;

/// <summary>
/// The read-only dashboard (issue 13): <c>GET /dashboard</c> and its two assets. Open without a login when serve
/// listens on loopback only (whoever reaches it is on this host) unless <see cref="ServeOptions.DashboardLogin"/>;
/// otherwise behind a login with an operator token: the token travels once in a POST body, never in a URL, and buys an
/// HttpOnly, SameSite=Strict session cookie (Secure over HTTPS, a TLS-terminating proxy's included); every POST carries
/// a CSRF token and a cross-origin <c>Origin</c> is refused.
/// </summary>
internal static class DashboardEndpoints
{
    private const string SessionCookie = "keyward_session";
    private const string LoginCsrfCookie = "keyward_login_csrf";

    public static void Map(WebApplication app)
    {
        var sessions = new DashboardSessions(app.Services.GetRequiredService<TimeProvider>());
        var state = app.Services.GetRequiredService<ServerState>();
        var options = state.Options;
        var requireLogin = options.DashboardLogin || options.ListensBeyondThisHost;
        var agents = app.Services.GetRequiredService<AgentEndpoints.AgentArea>();

        app.MapGet("/", () => TypedResults.Redirect("/dashboard"));
        app.MapGet("/dashboard/app.css", (HttpContext ctx) => Asset(ctx, DashboardAssets.Css, "text/css; charset=utf-8"));
        app.MapGet("/dashboard/app.js", (HttpContext ctx) => Asset(ctx, DashboardAssets.Js, "text/javascript; charset=utf-8"));

        app.MapGet("/dashboard", async (HttpContext ctx, CancellationToken ct) =>
        {
            Secure(ctx);
            DashboardSessions.Session? session = null;
            if (requireLogin && (session = sessions.Find(ctx.Request.Cookies[SessionCookie])) is null)
                return Results.Redirect("/dashboard/login");
            var manifest = state.Manifest;
            if (manifest is null)
                return Page(StatusCodes.Status503ServiceUnavailable, DashboardPage.Message("The manifest has not loaded",
                    state.ManifestErrors.Select(e => e.ToString())));
            try
            {
                await using var opened = await state.OpenForReadAsync(ct).ConfigureAwait(false);
                var model = await DashboardModel.ReadAsync(manifest, state.ManifestErrors.Select(e => e.ToString()).ToList(), opened, state.Time.GetUtcNow(), ct)
                    .ConfigureAwait(false) with { Hosts = agents.Board.View(manifest) };
                return Page(StatusCodes.Status200OK, DashboardPage.Render(model, session is not null, session?.Csrf));
            }
            catch (KeywardException e)
            {
                return Page(StatusCodes.Status503ServiceUnavailable, DashboardPage.Message("The store cannot be read", e.Errors.Select(x => $"{x} (hint: {x.Hint})")));
            }
        });

        app.MapGet("/dashboard/login", (HttpContext ctx) =>
        {
            Secure(ctx);
            if (!requireLogin) return Results.Redirect("/dashboard");
            return LoginForm(ctx, StatusCodes.Status200OK, null);
        });

        app.MapPost("/dashboard/login", async (HttpContext ctx, CancellationToken ct) =>
        {
            Secure(ctx);
            if (!requireLogin) return Results.Redirect("/dashboard");
            if (!SameOrigin(ctx) || !ctx.Request.HasFormContentType) return Results.StatusCode(StatusCodes.Status403Forbidden);
            var form = await ctx.Request.ReadFormAsync(ct).ConfigureAwait(false);
            if (!DashboardSessions.SameToken(form["csrf"].ToString(), ctx.Request.Cookies[LoginCsrfCookie]))
                return LoginForm(ctx, StatusCodes.Status403Forbidden, "The form expired; try again.");
            var token = form["token"].ToString().Trim();
            var authenticator = ctx.RequestServices.GetService<IOperatorAuthenticator>();
            var name = token.Length == 0 || authenticator is null ? null : await authenticator.AuthenticateAsync(token, ct).ConfigureAwait(false);
            if (name is null) return LoginForm(ctx, StatusCodes.Status401Unauthorized, "That operator token was not accepted.");
            var (id, _) = sessions.Create(name);
            ctx.Response.Cookies.Append(SessionCookie, id, Cookie(ctx, "/dashboard", DashboardSessions.Lifetime));
            ctx.Response.Cookies.Delete(LoginCsrfCookie, Cookie(ctx, "/dashboard/login", null));
            return Results.Redirect("/dashboard");
        }).RequireRateLimiting(RateLimiting.ClientRateLimits.Login);

        app.MapPost("/dashboard/logout", async (HttpContext ctx, CancellationToken ct) =>
        {
            Secure(ctx);
            if (!SameOrigin(ctx) || !ctx.Request.HasFormContentType) return Results.StatusCode(StatusCodes.Status403Forbidden);
            var id = ctx.Request.Cookies[SessionCookie];
            var session = sessions.Find(id);
            var form = await ctx.Request.ReadFormAsync(ct).ConfigureAwait(false);
            if (session is null || !DashboardSessions.SameToken(form["csrf"].ToString(), session.Csrf))
                return Results.StatusCode(StatusCodes.Status403Forbidden);
            sessions.Remove(id);
            ctx.Response.Cookies.Delete(SessionCookie, Cookie(ctx, "/dashboard", null));
            return Results.Redirect("/dashboard/login");
        });
    }

    private static IResult LoginForm(HttpContext ctx, int status, string? message)
    {
        var csrf = DashboardSessions.NewId();
        ctx.Response.Cookies.Append(LoginCsrfCookie, csrf, Cookie(ctx, "/dashboard/login", TimeSpan.FromMinutes(30)));
        return Page(status, DashboardPage.Login(csrf, message));
    }

    private static CookieOptions Cookie(HttpContext ctx, string path, TimeSpan? maxAge) => new()
    {
        HttpOnly = true,
        SameSite = SameSiteMode.Strict,
        Secure = SchemesOf(ctx).Contains(Uri.UriSchemeHttps, StringComparer.OrdinalIgnoreCase),
        Path = path,
        MaxAge = maxAge,
        IsEssential = true,
    };

    /// <summary>A POST whose <c>Origin</c> (or, without one, <c>Referer</c>) names another site is refused; a browser
    /// always sends one of them on a cross-site form post. Behind a TLS-terminating proxy (<c>--insecure-listen</c>) the
    /// browser's origin is the proxy's (<c>https://</c>, its host name) while this server sees plain HTTP, perhaps
    /// another Host: the proxy's <c>X-Forwarded-Proto</c> and <c>X-Forwarded-Host</c> count as well. That gives a
    /// forger nothing: a cross-site form cannot set those headers, and a script that tries needs a CORS preflight this
    /// server never grants.</summary>
    internal static bool SameOrigin(HttpContext ctx)
    {
        var origin = ctx.Request.Headers.Origin.ToString();
        if (string.IsNullOrEmpty(origin)) origin = ctx.Request.Headers.Referer.ToString();
        if (string.IsNullOrEmpty(origin)) return true;
        if (!Uri.TryCreate(origin, UriKind.Absolute, out var u)) return false;
        var hosts = ctx.Request.Headers["X-Forwarded-Host"].SelectMany(h => (h ?? "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            .Prepend(ctx.Request.Host.Value ?? "");
        return SchemesOf(ctx).Contains(u.Scheme, StringComparer.OrdinalIgnoreCase)
               && hosts.Contains(u.Authority, StringComparer.OrdinalIgnoreCase);
    }

    /// <summary>The request's own scheme, and the one a proxy in front says the browser used (X-Forwarded-Proto).</summary>
    private static IEnumerable<string> SchemesOf(HttpContext ctx) =>
        ctx.Request.Headers["X-Forwarded-Proto"].SelectMany(h => (h ?? "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            .Prepend(ctx.Request.Scheme);

    private static void Secure(HttpContext ctx)
    {
        var h = ctx.Response.Headers;
        h.ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
        h.XContentTypeOptions = "nosniff";
        h.XFrameOptions = "DENY";
        h["Referrer-Policy"] = "no-referrer";
        h.CacheControl = "no-store";
    }

    private static IResult Asset(HttpContext ctx, string body, string type)
    {
        Secure(ctx);
        ctx.Response.Headers.CacheControl = "no-cache";
        return Results.Text(body, type);
    }

    private static IResult Page(int status, string html) => Results.Text(html, "text/html; charset=utf-8", statusCode: status);
}
