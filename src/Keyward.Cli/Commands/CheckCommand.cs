using System.CommandLine;
using System.Globalization;
using Keyward.Core.Errors;
using Keyward.Core.Time;
using Keyward.Engine.Checks;
using Keyward.Services;
using Keyward.Services.Http;

namespace Keyward.Cli.Commands;

/// <summary><c>keyward check [-f FILE] [NAME…] [--json] [--root DIR] [--warn-before 7d]</c>: every check the manifest
/// implies, as cert-manager-style conditions per credential, Attic cache and sink; exit 1 if any fails.</summary>
internal static class CheckCommand
{
    public static Command Build(CliContext context)
    {
        var file = CliOptions.ManifestFile();
        var json = CliOptions.Json();
        var names = new Argument<string[]>("name") { Description = "Only these credentials (and the caches and sinks they touch)", Arity = ArgumentArity.ZeroOrMore };
        var root = new Option<string?>("--root") { Description = "Prefix for every file path checked (an image or a test root)" };
        var warnBefore = new Option<string>("--warn-before") { Description = "ExpiresSoon turns true this long before expiry", DefaultValueFactory = _ => "7d" };
        var concurrency = new Option<int>("--concurrency") { Description = "Checks running at once", DefaultValueFactory = _ => 32 };
        var timeout = new Option<string>("--timeout") { Description = "Time limit of each check", DefaultValueFactory = _ => "20s" };
        var kubeconfig = new Option<string?>("--kubeconfig") { Description = "kubeconfig for live kubernetes-secret sinks (default: $KUBECONFIG, else in-cluster)" };
        var narinfo = new Option<string[]>("--narinfo") { Description = "Narinfo hash part to verify (repeatable; adds to the samples a cache listing offers)", AllowMultipleArgumentsPerToken = true };
        var cmd = new Command("check", "Verify every credential against reality (services, keys, files) and report conditions")
        {
            file, json, names, root, warnBefore, concurrency, timeout, narinfo, kubeconfig,
        };
        cmd.SetAction(async (parse, ct) =>
        {
            var manifest = ManifestInput.Load(context, parse, file);
            var options = new CheckOptions
            {
                WarnBefore = Duration(parse.GetValue(warnBefore)!, "--warn-before"),
                CheckTimeout = Duration(parse.GetValue(timeout)!, "--timeout"),
                MaxConcurrency = Math.Clamp(parse.GetValue(concurrency), 1, 1024),
                Root = parse.GetValue(root) is { } r ? context.Console.ResolvePath(r) : null,
                Only = parse.GetValue(names) ?? [],
                ManifestDirectory = Path.GetDirectoryName(Path.GetFullPath(manifest.File)),
                NarInfoHashes = parse.GetValue(narinfo) ?? [],
            };
            await using var state = await StateInput.OpenAsync(context, parse, ct).ConfigureAwait(false);
            using var http = ServiceHttp.CreateClient();
            var clients = new ServiceClients(http, ServiceHttpOptions.Default, context.Time);
            var engine = new Engine.EngineOptions
            {
                Root = options.Root, Time = context.Time, GetEnv = context.Console.GetEnv, Warn = context.Warn,
                Kubeconfig = parse.GetValue(kubeconfig) is { } kc ? context.Console.ResolvePath(kc) : null,
            };
            var reports = await Engine.Checks.CheckPass.RunAsync(state, manifest, clients, options, engine, ct).ConfigureAwait(false);
            if (parse.GetValue(json)) WriteJson(context.Console.Out, reports);
            else WriteText(context.Console.Out, reports);
            var failed = reports.Count(r => r.Failed);
            if (failed > 0)
                throw ErrorCodes.ChecksFailed.Exception($"{failed} of {reports.Count} subjects failed their checks");
            return 0;
        });
        return cmd;
    }

    private static TimeSpan Duration(string text, string option) =>
        HumanDuration.TryParse(text, out var d, out var error) ? d.Value : throw ErrorCodes.InvalidArgument.Exception($"{option}: {error}");

    internal static void WriteText(TextWriter o, IReadOnlyList<CheckReport> reports)
    {
        foreach (var r in reports)
        {
            var mark = r.Failed ? "FAIL" : r.Conditions.Any(c => c.IsWarning) ? "WARN" : "ok";
            o.WriteLine($"{mark,-4} {r.Key}");
            foreach (var c in r.Conditions)
            {
                var since = c.Status != ConditionStatus.True && c.Type != ConditionTypes.ExpiresSoon
                    ? c.LastTrueTime is { } t ? $" (last true {t.ToString("u", CultureInfo.InvariantCulture)})" : " (never true)"
                    : "";
                o.WriteLine($"     {c.Type,-11} {c.Status,-7} {c.Reason}: {c.Message}{since}");
            }
        }
        var failed = reports.Count(r => r.Failed);
        var warned = reports.Count(r => !r.Failed && r.Conditions.Any(c => c.IsWarning));
        o.WriteLine($"{reports.Count} checked, {failed} failed, {warned} expiring soon");
    }

    internal static void WriteJson(TextWriter o, IReadOnlyList<CheckReport> reports)
    {
        var doc = new CheckJson(
            reports.Count(r => r.Failed),
            [.. reports.Select(r => new CheckReportJson(
                r.Kind.ToString().ToLowerInvariant(),
                r.Name,
                r.Failed,
                [.. r.Conditions.Select(c => new CheckConditionJson(c.Type, c.Status.ToString(), c.Reason, c.Message, c.LastTransitionTime, c.LastTrueTime))]))]);
        CliJson.WriteLine(o, doc, CliJson.Context.CheckJson);
    }
}
