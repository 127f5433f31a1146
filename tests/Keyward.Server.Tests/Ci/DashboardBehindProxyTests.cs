using System.Net;

namespace Keyward.Server.Tests.Ci;

/// <summary>The dashboard login behind a TLS-terminating proxy (<c>--insecure-listen</c>, nginx in front): the browser's
/// <c>Origin</c> is <c>https://</c> and the public host name while serve sees plain HTTP. The login must work there, the
/// session cookie must be <c>Secure</c>, and a foreign origin must still be refused.</summary>
public sealed class DashboardBehindProxyTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private const string PublicOrigin = "https://keyward.example.org";

    private static async Task<HttpResponseMessage> LoginAsync(HttpClient http, string token, string origin)
    {
        string cookie, csrf;
        using (var form = await http.GetAsync(new Uri("/dashboard/login", UriKind.Relative), Ct))
        {
            Assert.Equal(HttpStatusCode.OK, form.StatusCode);
            cookie = form.Headers.GetValues("Set-Cookie").Single(c => c.StartsWith("keyward_login_csrf=", StringComparison.Ordinal)).Split(';')[0];
            csrf = System.Text.RegularExpressions.Regex.Match(await form.Content.ReadAsStringAsync(Ct), "name=\"csrf\" value=\"([^\"]+)\"").Groups[1].Value;
        }
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri("/dashboard/login", UriKind.Relative))
        {
            Content = new FormUrlEncodedContent([new("token", token), new("csrf", csrf)]),
        };
        request.Headers.Add("Cookie", cookie);
        request.Headers.Add("Origin", origin);
        // What nginx's `proxy_set_header X-Forwarded-Proto $scheme; proxy_set_header X-Forwarded-Host $host;` adds.
        request.Headers.Add("X-Forwarded-Proto", "https");
        request.Headers.Add("X-Forwarded-Host", "keyward.example.org");
        return await http.SendAsync(request, Ct);
    }

    [Fact]
    public async Task A_login_through_a_TLS_terminating_proxy_is_accepted_and_its_cookie_is_Secure()
    {
        await using var h = await new ServerHarness().StartAsync(o => o with { DashboardLogin = true });
        var (token, _) = await h.CreateOperatorTokenAsync("alice");
        using var http = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false, UseCookies = false }) { BaseAddress = h.Http.BaseAddress };

        using var r = await LoginAsync(http, token, PublicOrigin);
        Assert.True(r.StatusCode == HttpStatusCode.Redirect, $"{(int)r.StatusCode} {await r.Content.ReadAsStringAsync(Ct)}");
        var session = Assert.Single(r.Headers.GetValues("Set-Cookie"), c => c.StartsWith("keyward_session=", StringComparison.Ordinal));
        Assert.Contains("secure", session, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("httponly", session, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("samesite=strict", session, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task Behind_the_proxy_a_foreign_origin_is_still_refused()
    {
        await using var h = await new ServerHarness().StartAsync(o => o with { DashboardLogin = true });
        var (token, _) = await h.CreateOperatorTokenAsync("alice");
        using var http = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false, UseCookies = false }) { BaseAddress = h.Http.BaseAddress };
        using var r = await LoginAsync(http, token, "https://evil.example");
        Assert.Equal(HttpStatusCode.Forbidden, r.StatusCode);
        Assert.False(r.Headers.TryGetValues("Set-Cookie", out var cookies) && cookies.Any(c => c.StartsWith("keyward_session=", StringComparison.Ordinal)));
    }
}
