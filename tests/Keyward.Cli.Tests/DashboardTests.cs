using System.Net;
using System.Text;
using Keyward.Core.Graph;
using Keyward.Server;
using Keyward.Server.Dashboard;
using Microsoft.Extensions.Time.Testing;
using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;

namespace Keyward.Cli.Tests;

/// <summary>The read-only dashboard of <c>keyward serve</c> over the applied homelab example: what it shows, who may
/// see it, and that no credential value ever reaches the browser — over HTTP, and in a real Chromium.</summary>
public sealed class DashboardTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("keyward-dash-").FullName;
    private string Root => Path.Combine(_dir, "root");
    private string State => Path.Combine(_dir, "state");
    private static string Manifest => Path.Combine(CliHarness.RepoRoot, "examples", "homelab", "keyward.yaml");
    private static readonly Core.Manifest.KeywardManifest Loaded = Core.Manifest.ManifestLoader.Load(Manifest).Manifest!;
    private List<(string Name, byte[] Value)> _values = [];

    public async ValueTask InitializeAsync()
    {
        var r = await new CliHarness().RunAsync("apply", "-f", Manifest, "--root", Root, "--state", State, "--no-hooks");
        Assert.True(r.ExitCode == 0, r.ToString());
        _values = await StoredValuesAsync(State);
        Assert.NotEmpty(_values);
    }

    public ValueTask DisposeAsync()
    {
        Directory.Delete(_dir, recursive: true);
        return ValueTask.CompletedTask;
    }

    private ServeOptions Options(string listen = "127.0.0.1:0", bool login = false, TimeProvider? time = null, bool insecure = false) => new()
    {
        ManifestPath = Manifest,
        StateDirectory = State,
        Listen = [ListenAddress.Parse(listen)],
        InsecureListen = insecure,
        DashboardLogin = login,
        OperatorAuthenticator = new OneToken("kwop_correct-horse", "alice"),
        Time = time ?? TimeProvider.System,
    };

    [Fact]
    public async Task On_loopback_the_dashboard_lists_every_credential_and_no_response_carries_a_stored_value()
    {
        await using var server = await Started(Options());
        using var http = Client(server);
        var page = await GetText(http, "/dashboard", HttpStatusCode.OK);
        foreach (var c in Loaded.Credentials)
            Assert.Contains($"data-credential=\"{c.Name}\"", page, StringComparison.Ordinal);
        foreach (var sink in Loaded.Sinks)
            Assert.Contains(sink.Name, page, StringComparison.Ordinal);
        Assert.Contains("id=\"graph\"", page, StringComparison.Ordinal);
        Assert.Contains("Recent audit entries", page, StringComparison.Ordinal);
        var all = page + await GetText(http, "/dashboard/app.js", HttpStatusCode.OK) + await GetText(http, "/dashboard/app.css", HttpStatusCode.OK);
        AssertNoValue(all);
        Assert.DoesNotContain("http://", page.Replace("http://www.w3.org/2000/svg", "", StringComparison.Ordinal), StringComparison.Ordinal); // no asset from elsewhere
    }

    [Fact]
    public async Task Health_colours_follow_the_clock_expiring_within_seven_days_then_expired()
    {
        // ci-push-token is valid for 30 days: 25 days on it expires in 5 (expiring), 31 days on it has expired.
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var server = await Started(Options(time: time));
        using var http = Client(server);
        Assert.Equal("ok", HealthOf(await GetText(http, "/dashboard", HttpStatusCode.OK), "ci-push-token"));
        time.Advance(TimeSpan.FromDays(25));
        Assert.Equal("expiring", HealthOf(await GetText(http, "/dashboard", HttpStatusCode.OK), "ci-push-token"));
        time.Advance(TimeSpan.FromDays(6));
        Assert.Equal("expired", HealthOf(await GetText(http, "/dashboard", HttpStatusCode.OK), "ci-push-token"));
    }

    [Fact]
    public async Task Off_loopback_the_dashboard_needs_an_operator_token_login()
    {
        await using var server = await Started(Options("0.0.0.0:0", insecure: true));
        using var http = Client(server);
        using var r = await http.GetAsync(new Uri("/dashboard", UriKind.Relative), Ct);
        Assert.Equal(HttpStatusCode.Redirect, r.StatusCode);
        Assert.Equal("/dashboard/login", r.Headers.Location?.OriginalString);
    }

    [Fact]
    public async Task Login_sets_a_strict_http_only_session_cookie_refuses_bad_tokens_and_forged_posts_and_logout_ends_it()
    {
        await using var server = await Started(Options(login: true));
        using var http = Client(server);
        using (var r = await http.GetAsync(new Uri("/dashboard", UriKind.Relative), Ct))
            Assert.Equal(HttpStatusCode.Redirect, r.StatusCode);

        var (csrfCookie, csrf) = await LoginForm(http);
        // No CSRF token, a wrong token, a cross-site origin: refused, and no session cookie is set.
        using (var r = await PostForm(http, "/dashboard/login", [("token", "kwop_correct-horse")], csrfCookie))
        {
            Assert.Equal(HttpStatusCode.Forbidden, r.StatusCode);
            Assert.DoesNotContain(SetCookies(r), c => c.StartsWith("keyward_session=", StringComparison.Ordinal) && !c.StartsWith("keyward_session=;", StringComparison.Ordinal));
        }
        (csrfCookie, csrf) = await LoginForm(http);
        using (var r = await PostForm(http, "/dashboard/login", [("token", "kwop_wrong"), ("csrf", csrf)], csrfCookie))
            Assert.Equal(HttpStatusCode.Unauthorized, r.StatusCode);
        (csrfCookie, csrf) = await LoginForm(http);
        using (var r = await PostForm(http, "/dashboard/login", [("token", "kwop_correct-horse"), ("csrf", csrf)], csrfCookie, origin: "https://evil.example"))
            Assert.Equal(HttpStatusCode.Forbidden, r.StatusCode);

        (csrfCookie, csrf) = await LoginForm(http);
        string session;
        using (var r = await PostForm(http, "/dashboard/login", [("token", "kwop_correct-horse"), ("csrf", csrf)], csrfCookie))
        {
            Assert.Equal(HttpStatusCode.Redirect, r.StatusCode);
            var set = Assert.Single(SetCookies(r), c => c.StartsWith("keyward_session=", StringComparison.Ordinal));
            Assert.Contains("httponly", set, StringComparison.OrdinalIgnoreCase);
            Assert.Contains("samesite=strict", set, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain("kwop_correct-horse", set, StringComparison.Ordinal);
            session = set.Split(';')[0];
        }
        var page = await GetText(http, "/dashboard", HttpStatusCode.OK, session);
        Assert.DoesNotContain("kwop_correct-horse", page, StringComparison.Ordinal);
        var logoutCsrf = System.Text.RegularExpressions.Regex.Match(page, "name=\"csrf\" value=\"([^\"]+)\"").Groups[1].Value;
        Assert.NotEmpty(logoutCsrf);

        using (var r = await PostForm(http, "/dashboard/logout", [("csrf", "forged")], session))
            Assert.Equal(HttpStatusCode.Forbidden, r.StatusCode);
        await GetText(http, "/dashboard", HttpStatusCode.OK, session); // a forged logout ends nothing
        using (var r = await PostForm(http, "/dashboard/logout", [("csrf", logoutCsrf)], session))
            Assert.Equal(HttpStatusCode.Redirect, r.StatusCode);
        using (var r = await Get(http, "/dashboard", session))
            Assert.Equal(HttpStatusCode.Redirect, r.StatusCode);
    }

    [Fact]
    public async Task Chromium_shows_the_dashboard_and_a_click_on_a_credential_lists_its_blast_radius()
    {
        const string chromium = "/usr/bin/chromium", driverPath = "/usr/bin/chromedriver";
        if (!File.Exists(chromium) || !File.Exists(driverPath))
            Assert.Skip("needs Debian's chromium and chromium-driver (./test.sh installs them)");
        await using var server = await Started(Options());
        var service = ChromeDriverService.CreateDefaultService(Path.GetDirectoryName(driverPath)!, Path.GetFileName(driverPath));
        service.HideCommandPromptWindow = true;
        service.SuppressInitialDiagnosticInformation = true;
        var options = new ChromeOptions { BinaryLocation = chromium };
        options.AddArguments("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1600,1200",
            "--user-data-dir=" + Path.Combine(_dir, "chromium-profile"));
        using var driver = new ChromeDriver(service, options, TimeSpan.FromSeconds(120));
        driver.Manage().Timeouts().PageLoad = TimeSpan.FromSeconds(60);
        driver.Navigate().GoToUrl(new Uri(KeywardServer.BoundAddress(server), "/dashboard"));

        var rows = driver.FindElements(By.CssSelector("#credentials tbody tr"));
        Assert.Equal(Loaded.Credentials.Count, rows.Count);
        Assert.Equal(Loaded.Credentials.Select(c => c.Name).Order(StringComparer.Ordinal),
            rows.Select(r => r.GetAttribute("data-credential")!).Order(StringComparer.Ordinal));

        // Sorting by name descending, by a click on the header.
        driver.FindElement(By.CssSelector("#credentials th:first-child")).Click();
        driver.FindElement(By.CssSelector("#credentials th:first-child")).Click();
        var sorted = driver.FindElements(By.CssSelector("#credentials tbody tr")).Select(r => r.GetAttribute("data-credential")!).ToList();
        Assert.Equal(sorted.OrderByDescending(n => n, StringComparer.Ordinal), sorted);

        // The blast radius the page lists is the graph's: every sink a rotation of attic-jwt-secret reaches.
        var graph = GraphBuilder.Build(Loaded);
        var root = graph.Find(NodeKind.Credential, "attic-jwt-secret")!;
        var expectedSinks = graph.BlastRadius([root.Id]).Select(i => graph.Nodes[i]).Where(n => n.Kind == NodeKind.Sink).Select(n => n.Name).Order(StringComparer.Ordinal).ToList();
        Assert.NotEmpty(expectedSinks);
        driver.FindElement(By.CssSelector("#graph g.credential[data-name='attic-jwt-secret'] rect")).Click();
        var panel = driver.FindElement(By.Id("radius"));
        Assert.Equal("attic-jwt-secret", panel.GetAttribute("data-selected"));
        var sinkLine = panel.FindElement(By.CssSelector(".radius-sink")).Text;
        var listed = sinkLine[(sinkLine.IndexOf(':', StringComparison.Ordinal) + 1)..].Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(expectedSinks, listed);
        Assert.Equal(graph.BlastRadius([root.Id]).Count, driver.FindElements(By.CssSelector("#graph .node.hit")).Count);

        var artifacts = Path.Combine(CliHarness.RepoRoot, "artifacts", "test-results");
        Directory.CreateDirectory(artifacts);
        driver.GetScreenshot().SaveAsFile(Path.Combine(artifacts, "dashboard.png"));
        var dom = (string)((IJavaScriptExecutor)driver).ExecuteScript("return document.documentElement.outerHTML;")!;
        AssertNoValue(dom + driver.PageSource);
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<Microsoft.AspNetCore.Builder.WebApplication> Started(ServeOptions options)
    {
        var app = KeywardServer.Build(options);
        await app.StartAsync(Ct);
        return app;
    }

    private static HttpClient Client(Microsoft.AspNetCore.Builder.WebApplication app) =>
        new(new HttpClientHandler { AllowAutoRedirect = false, UseCookies = false }) { BaseAddress = KeywardServer.BoundAddress(app) };

    private static async Task<HttpResponseMessage> Get(HttpClient http, string path, string? cookie = null)
    {
        using var req = new HttpRequestMessage(HttpMethod.Get, new Uri(path, UriKind.Relative));
        if (cookie is not null) req.Headers.Add("Cookie", cookie);
        return await http.SendAsync(req, Ct);
    }

    private static async Task<string> GetText(HttpClient http, string path, HttpStatusCode expected, string? cookie = null)
    {
        using var r = await Get(http, path, cookie);
        var body = await r.Content.ReadAsStringAsync(Ct);
        Assert.True(r.StatusCode == expected, $"{path}: {(int)r.StatusCode}\n{body}");
        return body;
    }

    private static async Task<(string Cookie, string Csrf)> LoginForm(HttpClient http)
    {
        using var r = await Get(http, "/dashboard/login");
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        var cookie = Assert.Single(SetCookies(r), c => c.StartsWith("keyward_login_csrf=", StringComparison.Ordinal)).Split(';')[0];
        var html = await r.Content.ReadAsStringAsync(Ct);
        Assert.Contains("type=\"password\"", html, StringComparison.Ordinal);
        var csrf = System.Text.RegularExpressions.Regex.Match(html, "name=\"csrf\" value=\"([^\"]+)\"").Groups[1].Value;
        return (cookie, csrf);
    }

    private static async Task<HttpResponseMessage> PostForm(HttpClient http, string path, (string, string)[] fields, string cookie, string? origin = null)
    {
        using var req = new HttpRequestMessage(HttpMethod.Post, new Uri(path, UriKind.Relative))
        {
            Content = new FormUrlEncodedContent(fields.Select(f => new KeyValuePair<string, string>(f.Item1, f.Item2))),
        };
        req.Headers.Add("Cookie", cookie);
        if (origin is not null) req.Headers.Add("Origin", origin);
        return await http.SendAsync(req, Ct);
    }

    private static IEnumerable<string> SetCookies(HttpResponseMessage r) =>
        r.Headers.TryGetValues("Set-Cookie", out var v) ? v : [];

    private static string HealthOf(string page, string credential)
    {
        var m = System.Text.RegularExpressions.Regex.Match(page, $"<tr class=\"([a-z]+)\" data-credential=\"{credential}\">");
        Assert.True(m.Success, $"no row for {credential}");
        return m.Groups[1].Value;
    }

    /// <summary>Every value in the store, every version.</summary>
    private static async Task<List<(string, byte[])>> StoredValuesAsync(string state)
    {
        await using var opened = await Store.StateDirectory.OpenAsync(state, TimeProvider.System, Ct);
        var values = new List<(string, byte[])>();
        foreach (var v in await opened.Store.ListVersionsAsync(Ct))
        {
            using var s = await opened.Store.RevealAsync(v.Name, v.Version, Ct);
            if (Loaded.FindCredential(v.Name)?.Kind == Core.Manifest.CredentialKind.NixSigningKey)
            {
                // "keyname:base64(secret)": the key name is public (it is in every trust list); the rest is the secret.
                var text = s.RevealString();
                values.Add(($"{v.Name} v{v.Version}", Encoding.UTF8.GetBytes(text[(text.IndexOf(':', StringComparison.Ordinal) + 1)..])));
                continue;
            }
            values.Add(($"{v.Name} v{v.Version}", s.Reveal().ToArray()));
        }
        return values;
    }

    /// <summary>No stored value, as text, base64 or hex, and no 12-character run of one, in <paramref name="text"/>.</summary>
    private void AssertNoValue(string text)
    {
        foreach (var (name, v) in _values)
        {
            var forms = new List<(string Form, string Text)> { ("base64", Convert.ToBase64String(v)), ("hex", Convert.ToHexStringLower(v)) };
            var utf8 = Encoding.UTF8.GetString(v);
            if (utf8.Length >= 12) for (var i = 0; i + 12 <= utf8.Length; i += 6) forms.Add(($"text[{i}..{i + 12}]", utf8.Substring(i, 12)));
            foreach (var (form, f) in forms.Where(f => f.Text.Trim().Length >= 12))
                Assert.False(text.Contains(f, StringComparison.Ordinal), $"{name} ({form}) reached the dashboard");
        }
    }

    private sealed class OneToken(string token, string name) : IOperatorAuthenticator
    {
        public Task<string?> AuthenticateAsync(string presented, CancellationToken cancellationToken) =>
            Task.FromResult(presented == token ? name : null);
    }
}
