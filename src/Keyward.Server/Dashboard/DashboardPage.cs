using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using Keyward.Engine.Checks;
using Keyward.Services;

namespace Keyward.Server.Dashboard;

/// <summary>Server-rendered HTML of the dashboard and its login form. Every text goes through the HTML encoder; the
/// only script is <c>/dashboard/app.js</c> (sorting, graph focus), served by Keyward itself — nothing from the internet.</summary>
internal static class DashboardPage
{
    private static readonly HtmlEncoder Html = HtmlEncoder.Default;

    private static string E(string? s) => Html.Encode(s ?? "");

    private static string Time(DateTimeOffset? t) => t is { } v ? v.UtcDateTime.ToString("yyyy-MM-dd HH:mm'Z'", CultureInfo.InvariantCulture) : "—";

    private static string SortKey(DateTimeOffset? t) => t is { } v ? v.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture) : "";

    private static string Relative(DateTimeOffset? at, DateTimeOffset now)
    {
        if (at is not { } t) return "";
        var d = t - now;
        var span = d.Duration();
        var text = span.TotalDays >= 2 ? $"{(int)span.TotalDays} days" : span.TotalHours >= 2 ? $"{(int)span.TotalHours} hours" : $"{Math.Max(1, (int)span.TotalMinutes)} minutes";
        return d < TimeSpan.Zero ? $"{text} ago" : $"in {text}";
    }

    public static string Render(DashboardModel m, bool loggedIn, string? csrf)
    {
        var s = new StringBuilder();
        Head(s, "Keyward");
        s.Append("<header><h1>Keyward</h1><p class=\"meta\">manifest <code>").Append(E(m.ManifestFile)).Append("</code> · ")
            .Append(E(Time(m.Now))).Append("</p>");
        if (loggedIn && csrf is not null)
            s.Append("<form method=\"post\" action=\"/dashboard/logout\" class=\"logout\"><input type=\"hidden\" name=\"csrf\" value=\"").Append(E(csrf))
                .Append("\"><button type=\"submit\">Log out</button></form>");
        s.Append("</header><main>");
        foreach (var error in m.ManifestErrors)
            s.Append("<p class=\"banner failed\">The manifest on disk is invalid; showing the last valid one. ").Append(E(error)).Append("</p>");

        var counts = m.Credentials.GroupBy(c => c.Health).ToDictionary(g => g.Key, g => g.Count());
        s.Append("<section id=\"summary\"><ul class=\"counts\">");
        foreach (var h in Enum.GetValues<Health>())
            s.Append(CultureInfo.InvariantCulture, $"<li class=\"{Word(h)}\"><b>{counts.GetValueOrDefault(h)}</b> {Word(h)}</li>");
        s.Append("</ul></section>");

        s.Append("<section id=\"credentials\"><h2>Credentials</h2><table class=\"sortable\"><thead><tr>")
            .Append("<th data-type=\"text\">name</th><th data-type=\"text\">kind</th><th data-type=\"text\">owner</th><th data-type=\"number\">version</th>")
            .Append("<th data-type=\"number\">created</th><th data-type=\"number\">expires</th><th data-type=\"number\">health</th><th>conditions</th></tr></thead><tbody>");
        foreach (var c in m.Credentials)
        {
            s.Append(CultureInfo.InvariantCulture, $"<tr class=\"{Word(c.Health)}\" data-credential=\"{E(c.Name)}\">")
                .Append("<td><a href=\"#graph\" class=\"focus\" data-name=\"").Append(E(c.Name)).Append("\">").Append(E(c.Name)).Append("</a></td>")
                .Append("<td>").Append(E(c.Kind)).Append("</td><td>").Append(E(c.Owner)).Append("</td>")
                .Append(CultureInfo.InvariantCulture, $"<td data-sort=\"{c.Version}\">{(c.Version is { } v ? "v" + v.ToString(CultureInfo.InvariantCulture) : "—")}</td>")
                .Append(CultureInfo.InvariantCulture, $"<td data-sort=\"{SortKey(c.CreatedAt)}\">{E(Time(c.CreatedAt))}</td>")
                .Append(CultureInfo.InvariantCulture, $"<td data-sort=\"{SortKey(c.ExpiresAt)}\">{E(Time(c.ExpiresAt))} <small>{E(Relative(c.ExpiresAt, m.Now))}</small></td>")
                .Append(CultureInfo.InvariantCulture, $"<td data-sort=\"{(int)c.Health}\"><span class=\"pill {Word(c.Health)}\">{Word(c.Health)}</span></td><td>");
            Conditions(s, c.Conditions);
            s.Append("</td></tr>");
        }
        s.Append("</tbody></table></section>");

        s.Append("<section id=\"graph-section\"><h2>Credential graph</h2><p class=\"meta\">Click a credential to see its blast radius: everything a rotation of it reaches.</p>")
            .Append("<div class=\"graph-wrap\">");
        if (m.Graph.Nodes.Count <= GraphSvg.MaxNodes) s.Append(GraphSvg.Render(m.Graph));
        else s.Append(CultureInfo.InvariantCulture, $"<p>The graph has {m.Graph.Nodes.Count} nodes; use <code>keyward graph --focus NAME</code>.</p>");
        s.Append("<aside id=\"radius\" aria-live=\"polite\"><p>No credential selected.</p></aside></div></section>");

        if (m.OtherConditions.Count > 0)
        {
            s.Append("<section id=\"checks\"><h2>Caches and sinks</h2><table class=\"sortable\"><thead><tr><th data-type=\"text\">subject</th><th data-type=\"text\">condition</th>")
                .Append("<th data-type=\"text\">status</th><th data-type=\"number\">since</th></tr></thead><tbody>");
            foreach (var c in m.OtherConditions)
                s.Append(CultureInfo.InvariantCulture, $"<tr class=\"{(c.IsFailure ? "failed" : "ok")}\"><td>{E(c.Subject)}</td><td>{E(c.Type)}</td><td>{c.Status}</td><td data-sort=\"{SortKey(c.Since)}\">{E(Time(c.Since))}</td></tr>");
            s.Append("</tbody></table></section>");
        }

        if (m.Hosts.Count > 0)
        {
            s.Append("<section id=\"hosts\"><h2>Hosts</h2><p class=\"meta\">A host sink is stale until the host's agent reports the version the server renders now.</p>")
                .Append("<table class=\"sortable\"><thead><tr><th data-type=\"text\">host</th><th data-type=\"number\">last seen</th><th data-type=\"number\">stale sinks</th><th>sinks</th></tr></thead><tbody>");
            foreach (var h in m.Hosts)
            {
                var stale = h.Sinks.Count(x => x.Stale);
                s.Append(CultureInfo.InvariantCulture, $"<tr class=\"{(stale > 0 ? "expiring" : "ok")}\" data-host=\"{E(h.Host)}\"><td>{E(h.Host)}</td>")
                    .Append(CultureInfo.InvariantCulture, $"<td data-sort=\"{SortKey(h.LastSeen)}\">{(h.LastSeen is null ? "never" : E(Time(h.LastSeen)) + " <small>" + E(Relative(h.LastSeen, m.Now)) + "</small>")}</td>")
                    .Append(CultureInfo.InvariantCulture, $"<td data-sort=\"{stale}\">{stale}</td><td>");
                foreach (var x in h.Sinks)
                    s.Append(CultureInfo.InvariantCulture, $"<span class=\"cond {(x.Stale ? "expiring" : "ok")}\" title=\"{E(x.State ?? "no report")}\">{E(x.Sink)}</span> ");
                s.Append("</td></tr>");
            }
            s.Append("</tbody></table></section>");
        }

        s.Append("<section id=\"journals\"><h2>Open rotation journals</h2>");
        if (m.Journals.Count == 0) s.Append("<p>None.</p>");
        else
        {
            s.Append("<table><thead><tr><th>id</th><th>operation</th><th>status</th><th>started</th><th>steps</th><th>last step</th></tr></thead><tbody>");
            foreach (var j in m.Journals)
                s.Append(CultureInfo.InvariantCulture, $"<tr><td>{j.Id}</td><td>{E(j.Operation)}</td><td>{E(j.Status)}</td><td>{E(Time(j.StartedAt))}</td><td>{j.Steps}</td><td>{E(j.LastStep)}</td></tr>");
            s.Append("</tbody></table>");
        }
        s.Append("</section>");

        s.Append(CultureInfo.InvariantCulture, $"<section id=\"audit\"><h2>Recent audit entries</h2><p class=\"meta\">The last {DashboardModel.AuditLines} of the past 30 days, newest first; <code>keyward audit verify</code> checks the chain.</p>");
        s.Append("<table class=\"sortable\"><thead><tr><th data-type=\"number\">#</th><th data-type=\"number\">at</th><th data-type=\"text\">actor</th><th data-type=\"text\">action</th><th data-type=\"text\">credential</th><th data-type=\"number\">version</th><th>detail</th></tr></thead><tbody>");
        foreach (var a in m.Audit)
            s.Append(CultureInfo.InvariantCulture, $"<tr><td>{a.Sequence}</td><td data-sort=\"{SortKey(a.Event.At)}\">{E(Time(a.Event.At))}</td><td>{E(a.Event.Actor)}</td><td>{E(a.Event.Action)}</td><td>{E(a.Event.Credential)}</td><td data-sort=\"{a.Event.Version}\">{a.Event.Version}</td><td>{E(a.Event.Detail)}</td></tr>");
        s.Append("</tbody></table></section></main>");
        Foot(s);
        return s.ToString();
    }

    public static string Message(string title, IEnumerable<string> lines)
    {
        var s = new StringBuilder();
        Head(s, "Keyward");
        s.Append("<main><h1>").Append(E(title)).Append("</h1>");
        foreach (var l in lines) s.Append("<p class=\"banner failed\">").Append(E(l)).Append("</p>");
        s.Append("</main>");
        Foot(s);
        return s.ToString();
    }

    public static string Login(string csrf, string? message)
    {
        var s = new StringBuilder();
        Head(s, "Keyward — log in");
        s.Append("<main class=\"login\"><h1>Keyward</h1><form method=\"post\" action=\"/dashboard/login\">")
            .Append("<label for=\"token\">Operator token</label><input type=\"password\" id=\"token\" name=\"token\" autocomplete=\"off\" required>")
            .Append("<input type=\"hidden\" name=\"csrf\" value=\"").Append(E(csrf)).Append("\"><button type=\"submit\">Log in</button></form>");
        if (message is not null) s.Append("<p class=\"banner failed\" role=\"alert\">").Append(E(message)).Append("</p>");
        s.Append("<p class=\"meta\">Mint one with <code>keyward operator-token create NAME</code>.</p></main>");
        Foot(s);
        return s.ToString();
    }

    private static void Conditions(StringBuilder s, IReadOnlyList<ConditionView> conditions)
    {
        if (conditions.Count == 0)
        {
            s.Append("<small>not checked yet</small>");
            return;
        }
        foreach (var c in conditions)
        {
            var css = c.IsFailure ? "failed" : c.Type == ConditionTypes.ExpiresSoon && c.Status == ConditionStatus.True ? "expiring" : "ok";
            s.Append(CultureInfo.InvariantCulture, $"<span class=\"cond {css}\" title=\"since {E(Time(c.Since))}\">{E(c.Type)}={c.Status}</span> ");
        }
    }

    private static string Word(Health h) => h switch
    {
        Health.Ok => "ok",
        Health.Pending => "pending",
        Health.Expiring => "expiring",
        Health.Failed => "failed",
        _ => "expired",
    };

    private static void Head(StringBuilder s, string title) =>
        s.Append("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">")
            .Append("<title>").Append(E(title)).Append("</title><link rel=\"stylesheet\" href=\"/dashboard/app.css\"></head><body>");

    private static void Foot(StringBuilder s) => s.Append("<script src=\"/dashboard/app.js\"></script></body></html>");
}
