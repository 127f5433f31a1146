using System.CommandLine;
using System.Text.Json;
using Keyward.Core.Errors;
using Keyward.Engine;
using Keyward.Engine.Apply;

namespace Keyward.Cli.Commands;

/// <summary><c>keyward plan -f FILE</c> and <c>keyward apply -f FILE [--dry-run]</c>.</summary>
internal static class ApplyCommand
{
    public static Command BuildPlan(CliContext context)
    {
        var file = CliOptions.ManifestFile();
        var root = RootOption();
        var json = CliOptions.Json();
        var kubeconfig = KubeconfigOption();
        var cmd = new Command("plan", "Show what `apply` would create, update or leave unchanged, and why (writes nothing)") { file, root, json, kubeconfig };
        foreach (var sub in PlanSubcommands.Build(context)) cmd.Subcommands.Add(sub);
        cmd.SetAction((parse, ct) => RunAsync(context, parse, file, root, json, dryRun: true, noHooks: true, ct, parse.GetValue(kubeconfig)));
        return cmd;
    }

    public static Command BuildApply(CliContext context)
    {
        var file = CliOptions.ManifestFile();
        var root = RootOption();
        var json = CliOptions.Json();
        var dryRun = new Option<bool>("--dry-run") { Description = "Stop after printing the plan" };
        var noHooks = new Option<bool>("--no-hooks") { Description = "Do not run onChange hooks" };
        var kubeconfig = KubeconfigOption();
        var cmd = new Command("apply", "Make the store and every sink match the manifest: generate, mint, import, render") { file, root, json, dryRun, noHooks, kubeconfig };
        cmd.SetAction((parse, ct) => RunAsync(context, parse, file, root, json, parse.GetValue(dryRun), parse.GetValue(noHooks), ct, parse.GetValue(kubeconfig)));
        return cmd;
    }

    private static Option<string?> KubeconfigOption() => new("--kubeconfig")
    {
        Description = "kubeconfig for live kubernetes-secret sinks (default: $KUBECONFIG, else in-cluster)",
    };

    private static Option<string?> RootOption() => new("--root")
    {
        Description = "Prefix every sink path with DIR (for disk images and tests)",
    };

    private static async Task<int> RunAsync(CliContext context, ParseResult parse, Option<string> file, Option<string?> rootOption, Option<bool> jsonOption,
        bool dryRun, bool noHooks, CancellationToken ct, string? kubeconfig = null)
    {
        var manifest = ManifestInput.Load(context, parse, file);
        var root = parse.GetValue(rootOption);
        var json = parse.GetValue(jsonOption);
        var progress = new ProgressLine(context.Console);
        var options = new EngineOptions
        {
            Root = string.IsNullOrEmpty(root) ? null : context.Console.ResolvePath(root),
            Time = context.Time,
            GetEnv = context.Console.GetEnv,
            Warn = context.Warn,
            Progress = dryRun ? null : progress.Report,
            RunHooks = !noHooks,
            Kubeconfig = kubeconfig is null ? null : context.Console.ResolvePath(kubeconfig),
            SopsIdentityFiles = [Path.Combine(context.StateDirectory(parse), Store.StateDirectory.IdentityFileName)],
        };
        string? scratch = null;
        if (dryRun && !Store.StateDirectory.IsInitialised(context.StateDirectory(parse)))
            scratch = Path.Combine(Path.GetTempPath(), "keyward-plan-" + Guid.NewGuid().ToString("N"));
        try
        {
            await using var state = scratch is not null
                // `plan` on a state that does not exist yet: plan against a throwaway empty store, create nothing.
                ? await Store.StateDirectory.InitAsync(scratch, [], context.Time, ct).ConfigureAwait(false)
                : dryRun
                    // `plan` (and --dry-run) read: no lock, never waits for a writer.
                    ? await StateInput.OpenAsync(context, parse, ct).ConfigureAwait(false)
                    // apply holds the state lock from before it plans until its last write: it never acts on a snapshot
                    // another writer has changed since.
                    : await StateInput.OpenOrInitAsync(context, parse, manifest.Recipients, "apply", announce: true, ct).ConfigureAwait(false);
            return await RunOnStateAsync(context, manifest, state, options, progress, json, dryRun, ct).ConfigureAwait(false);
        }
        finally
        {
            if (scratch is not null && Directory.Exists(scratch)) Directory.Delete(scratch, recursive: true);
        }
    }

    private static async Task<int> RunOnStateAsync(CliContext context, Core.Manifest.KeywardManifest manifest, Store.OpenedState state, EngineOptions options,
        ProgressLine progress, bool json, bool dryRun, CancellationToken ct)
    {
        if (!dryRun) StateInput.SweepStaleTempFiles(context, manifest, options.Root);
        var engine = new ApplyEngine(state.Store, options);
        var plan = await engine.PlanAsync(manifest, ct).ConfigureAwait(false);
        if (dryRun)
        {
            if (json) PlanPrinter.Json(context.Console.Out, plan, null);
            else PlanPrinter.Text(context.Console.Out, plan, dryRun: true);
            return 0;
        }
        if (!json) PlanPrinter.Text(context.Console.Out, plan, dryRun: false);
        // An HTTP client only when policy makes a rotation due (its verify and switch steps ask the services).
        HttpClient? http = null;
        ApplyOutcome outcome;
        try
        {
            outcome = await engine.ApplyAsync(plan, state, () => new Engine.Rotation.RotationExecutor(state.Store,
                RotationSetup.Options(context, state, manifest, http = Services.Http.ServiceHttp.CreateClient(), options.Root, options.RunHooks,
                    options.Progress, options.Kubeconfig)), ct).ConfigureAwait(false);
        }
        finally
        {
            http?.Dispose();
        }
        var report = outcome.Report;
        if (outcome.RecipientsAdded > 0 && !json)
            context.Console.Out.WriteLine($"store data key re-wrapped to {outcome.Recipients} recipients (the manifest names {outcome.RecipientsAdded} new)");
        if (outcome.Rotation is { } rotation && !json)
            context.Console.Out.WriteLine($"rotated what policy says is due: {string.Join(", ", outcome.Rotated)} ({rotation.State})");
        progress.Done();
        if (json) PlanPrinter.Json(context.Console.Out, plan, report);
        else PlanPrinter.Report(context.Console.Out, report);
        foreach (var h in report.Hooks.Where(h => !h.Success))
            ErrorPrinter.Print(context.Console.Err, ErrorCodes.HookFailed.With($"sink '{h.Sink}': {h.Hook} failed: {h.Message}"), warning: false);
        return report.Failed ? 1 : 0;
    }

}

/// <summary>Progress for long operations: one rewritten line on a terminal, plain lines otherwise.</summary>
internal sealed class ProgressLine(CliConsole console)
{
    private bool _dirty;

    public void Report(string line)
    {
        if (console.ErrIsTerminal)
        {
            console.Err.Write("\r\u001b[2K" + line);
            _dirty = true;
        }
        else
        {
            console.Err.WriteLine(line);
        }
    }

    public void Done()
    {
        if (_dirty) console.Err.Write("\r\u001b[2K");
        _dirty = false;
    }
}

internal static class PlanPrinter
{
    private static string Symbol(ChangeAction a) => a switch
    {
        ChangeAction.Create => "+",
        ChangeAction.Update => "~",
        ChangeAction.Pending => "?",
        _ => "=",
    };

    private static string Word(ChangeAction a) => a switch
    {
        ChangeAction.Create => "create",
        ChangeAction.Update => "update",
        ChangeAction.Pending => "pending",
        _ => "unchanged",
    };

    public static void Text(TextWriter o, ApplyPlan plan, bool dryRun)
    {
        o.WriteLine($"plan for {plan.Manifest.File}:");
        o.WriteLine("credentials:");
        var w = plan.Credentials.Select(c => c.Credential.Name.Length).DefaultIfEmpty(4).Max();
        foreach (var c in plan.Credentials)
            o.WriteLine($"  {Symbol(c.Action)} {c.Credential.Name.PadRight(w)}  {Word(c.Action),-9}  {c.Reason}");
        o.WriteLine("sinks:");
        var sw = plan.Sinks.Select(s => s.Sink.Name.Length).DefaultIfEmpty(4).Max();
        foreach (var s in plan.Sinks)
            o.WriteLine($"  {Symbol(s.Action)} {s.Sink.Name.PadRight(sw)}  {Word(s.Action),-9}  {s.TargetPath}: {s.Reason}");
        if (plan.Upcoming.Count > 0)
        {
            o.WriteLine("due within 30 days:");
            foreach (var u in plan.Upcoming.OrderBy(u => u.DueAt))
                o.WriteLine($"  {u.Credential}: {u.DueAt:yyyy-MM-dd HH:mm}Z ({u.Reason})");
        }
        var all = plan.Credentials.Select(c => c.Action).Concat(plan.Sinks.Select(s => s.Action)).ToArray();
        o.WriteLine($"{(dryRun ? "plan" : "applying")}: {all.Count(a => a == ChangeAction.Create)} to create, {all.Count(a => a == ChangeAction.Update)} to update, " +
                    $"{all.Count(a => a == ChangeAction.Unchanged)} unchanged, {all.Count(a => a == ChangeAction.Pending)} pending");
    }

    public static void Report(TextWriter o, ApplyReport r) =>
        o.WriteLine(r.CredentialsWritten == 0 && r.FilesWritten == 0
            ? "done: everything was up to date; nothing written"
            : $"done: {r.CredentialsWritten} credential version{(r.CredentialsWritten == 1 ? "" : "s")} stored, {r.FilesWritten} file{(r.FilesWritten == 1 ? "" : "s")} written" +
              (r.Hooks.Count > 0 ? $", {r.Hooks.Count(h => h.Success)}/{r.Hooks.Count} hooks ok" : ""));

    public static void Json(TextWriter o, ApplyPlan plan, ApplyReport? report)
    {
        var doc = new ApplyJson(
            plan.Manifest.File,
            [.. plan.Credentials.Select(c => new ApplyCredentialJson(c.Credential.Name, c.Credential.Kind.ToString(), Word(c.Action), c.Reason, c.CurrentVersion))],
            [.. plan.Sinks.Select(s => new ApplySinkJson(s.Sink.Name, s.TargetPath, Word(s.Action), s.Reason))],
            [.. plan.Upcoming.Select(u => new ApplyUpcomingJson(u.Credential, u.DueAt, u.Reason))],
            report is null ? null : new ApplyAppliedJson(
                report.CredentialsWritten,
                report.FilesWritten,
                [.. report.Hooks.Select(h => new ApplyHookJson(h.Sink, h.Hook, h.Success, h.Message))]));
        o.WriteLine(JsonSerializer.Serialize(doc, CliJson.Context.ApplyJson));
    }
}
