using System.CommandLine;
using Keyward.Core.Errors;
using Keyward.Engine;
using Keyward.Engine.Apply;

namespace Keyward.Cli.Commands;

/// <summary><c>keyward plan -f FILE</c> and <c>keyward apply -f FILE [--dry-run]</c>.</summary>
internal static class ApplyCommand
{
    /// <summary>The exit code of <c>plan --detailed-exitcode</c> when apply would change something (0 = nothing to do,
    /// 1 = failed, 2 = bad input stay as for every command).</summary>
    public const int ChangesPending = 3;

    public static Command BuildPlan(CliContext context)
    {
        var file = CliOptions.ManifestFile();
        var root = RootOption();
        var json = CliOptions.Json();
        var kubeconfig = KubeconfigOption();
        var (summary, quiet) = VerbosityOptions("plan");
        var detailed = new Option<bool>("--detailed-exitcode")
        {
            Description = $"Exit {ChangesPending} when apply would create or update something (credentials, sinks, rotations due), 0 when nothing; 1 and 2 keep their meaning (failed, bad input)",
        };
        var cmd = new Command("plan", "Show what `apply` would create, update or leave unchanged, and why (writes nothing)") { file, root, json, summary, quiet, detailed, kubeconfig };
        foreach (var sub in PlanSubcommands.Build(context)) cmd.Subcommands.Add(sub);
        cmd.Validators.Add(r => ValidateVerbosity(r, json, summary, quiet));
        cmd.SetAction((parse, ct) => RunAsync(context, parse, file, root, json, dryRun: true, noHooks: true, parse.GetValue(kubeconfig),
            ChosenVerbosity(parse, summary, quiet), parse.GetValue(detailed), ct));
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
        var (summary, quiet) = VerbosityOptions("apply");
        var cmd = new Command("apply", "Make the store and every sink match the manifest: generate, mint, import, render") { file, root, json, summary, quiet, dryRun, noHooks, kubeconfig };
        cmd.Validators.Add(r => ValidateVerbosity(r, json, summary, quiet));
        cmd.SetAction((parse, ct) => RunAsync(context, parse, file, root, json, parse.GetValue(dryRun), parse.GetValue(noHooks), parse.GetValue(kubeconfig),
            ChosenVerbosity(parse, summary, quiet), detailedExitCode: false, ct));
        return cmd;
    }

    private static (Option<bool> Summary, Option<bool> Quiet) VerbosityOptions(string command) => (
        new Option<bool>("--summary") { Description = "Counts per action (create, update, unchanged, pending) instead of a line per credential and sink" },
        new Option<bool>("--quiet", "-q")
        {
            Description = command == "plan"
                ? "Print only the one-line total (and warnings, errors)"
                : "Print only warnings, errors and a one-line result: no plan, no progress",
        });

    private static void ValidateVerbosity(System.CommandLine.Parsing.CommandResult r, Option<bool> json, Option<bool> summary, Option<bool> quiet)
    {
        if (r.GetValue(summary) && r.GetValue(quiet)) r.AddError("--summary and --quiet cannot be combined (--quiet prints less than --summary)");
        if (r.GetValue(json) && (r.GetValue(summary) || r.GetValue(quiet))) r.AddError("--json prints the whole plan as data; it cannot be combined with --summary or --quiet");
    }

    private static Verbosity ChosenVerbosity(ParseResult parse, Option<bool> summary, Option<bool> quiet) =>
        parse.GetValue(quiet) ? Verbosity.Quiet : parse.GetValue(summary) ? Verbosity.Summary : Verbosity.Full;

    private static Option<string?> KubeconfigOption() => new("--kubeconfig")
    {
        Description = "kubeconfig for live kubernetes-secret sinks (default: $KUBECONFIG, else in-cluster)",
    };

    private static Option<string?> RootOption() => new("--root")
    {
        Description = "Prefix every sink path with DIR (for disk images and tests)",
    };

    private static async Task<int> RunAsync(CliContext context, ParseResult parse, Option<string> file, Option<string?> rootOption, Option<bool> jsonOption,
        bool dryRun, bool noHooks, string? kubeconfig, Verbosity verbosity, bool detailedExitCode, CancellationToken ct)
    {
        var manifest = ManifestInput.Load(context, parse, file, cache: !dryRun);
        Keyward.Core.Diagnostics.PhaseTimings.Mark("manifest load");
        var root = parse.GetValue(rootOption);
        var json = parse.GetValue(jsonOption);
        var progress = new StepProgress(context.Console, context.Time, verbosity);
        var options = new EngineOptions
        {
            Root = string.IsNullOrEmpty(root) ? null : context.Console.ResolvePath(root),
            Time = context.Time,
            GetEnv = context.Console.GetEnv,
            Warn = context.Warn,
            Progress = dryRun ? null : progress.Line,
            Steps = dryRun ? null : progress.Step,
            RunHooks = !noHooks,
            Kubeconfig = kubeconfig is null ? null : context.Console.ResolvePath(kubeconfig),
            SopsIdentityFiles = [Path.Combine(context.StateDirectory(parse), Store.StateDirectory.IdentityFileName)],
        };
        string? scratch = null;
        if (dryRun && !StateInput.Exists(context, parse))
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
                    : await StateInput.OpenOrInitAsync(context, parse, manifest.Recipients, "apply", announce: verbosity != Verbosity.Quiet, ct).ConfigureAwait(false);
            Keyward.Core.Diagnostics.PhaseTimings.Mark("state open (lock, seal)");
            var output = new PlanOutput(context.Console.Out, json, verbosity);
            var code = await RunOnStateAsync(context, manifest, state, options, progress, output, dryRun, ct).ConfigureAwait(false);
            return code == 0 && dryRun && detailedExitCode && output.HadChanges ? ChangesPending : code;
        }
        finally
        {
            if (scratch is not null && Directory.Exists(scratch)) Directory.Delete(scratch, recursive: true);
        }
    }

    private static async Task<int> RunOnStateAsync(CliContext context, Core.Manifest.KeywardManifest manifest, Store.OpenedState state, EngineOptions options,
        StepProgress progress, PlanOutput output, bool dryRun, CancellationToken ct)
    {
        if (!dryRun) StateInput.SweepStaleTempFiles(context, manifest, options.Root);
        Keyward.Core.Diagnostics.PhaseTimings.Mark("stale temp sweep");
        var engine = new ApplyEngine(state.Store, options);
        var plan = await engine.PlanAsync(manifest, ct).ConfigureAwait(false);
        Keyward.Core.Diagnostics.PhaseTimings.Mark("plan");
        output.Plan(plan, dryRun);
        Keyward.Core.Diagnostics.PhaseTimings.Mark("print plan");
        if (dryRun) return 0;
        // An HTTP client only when policy makes a rotation due (its verify and switch steps ask the services).
        HttpClient? http = null;
        ApplyOutcome outcome;
        try
        {
            outcome = await progress.RunAsync(() => engine.ApplyAsync(plan, state, () => new Engine.Rotation.RotationExecutor(state.Store,
                RotationSetup.Options(context, state, manifest, http = Services.Http.ServiceHttp.CreateClient(), options.Root, options.RunHooks,
                    options.Progress, options.Kubeconfig)), ct)).ConfigureAwait(false);
        }
        finally
        {
            http?.Dispose();
        }
        Keyward.Core.Diagnostics.PhaseTimings.Mark("execute");
        var report = outcome.Report;
        output.Outcome(plan, outcome);
        Keyward.Core.Diagnostics.PhaseTimings.Mark("print outcome");
        foreach (var h in report.Hooks.Where(h => !h.Success))
            ErrorPrinter.Print(context.Console.Err, ErrorCodes.HookFailed.With($"sink '{h.Sink}': {h.Hook} failed: {h.Message}"), warning: false);
        return report.Failed ? 1 : 0;
    }

}

/// <summary>What plan and apply print on stdout, by verbosity: the whole plan (one line per credential and sink), counts
/// per action (--summary), one line (--quiet), or the plan and its result as JSON (--json).</summary>
internal sealed class PlanOutput(TextWriter o, bool json, Verbosity verbosity)
{
    /// <summary>The plan would create or update something (what `plan --detailed-exitcode` reports).</summary>
    public bool HadChanges { get; private set; }

    public void Plan(ApplyPlan plan, bool dryRun)
    {
        HadChanges = plan.HasChanges;
        if (json)
        {
            if (dryRun) PlanPrinter.Json(o, plan, null);
            return;
        }
        switch (verbosity)
        {
            case Verbosity.Full: PlanPrinter.Text(o, plan, dryRun); break;
            case Verbosity.Summary: PlanPrinter.Summary(o, plan, dryRun); break;
            case Verbosity.Quiet when dryRun: o.WriteLine(PlanPrinter.Totals(plan, dryRun)); break;
        }
    }

    public void Outcome(ApplyPlan plan, ApplyOutcome outcome)
    {
        if (json)
        {
            PlanPrinter.Json(o, plan, outcome.Report);
            return;
        }
        var rotated = outcome.Rotation is { } rotation ? $"rotated what policy says is due: {string.Join(", ", outcome.Rotated)} ({rotation.State})" : null;
        var rewrapped = outcome.RecipientsAdded > 0 ? $"store data key re-wrapped to {outcome.Recipients} recipients (the manifest names {outcome.RecipientsAdded} new)" : null;
        if (verbosity == Verbosity.Quiet)
        {
            // One line: the result, with what else happened appended.
            o.WriteLine(string.Join("; ", new[] { PlanPrinter.ReportLine(outcome.Report), rotated, rewrapped }.Where(x => x is not null)));
            return;
        }
        if (rewrapped is not null) o.WriteLine(rewrapped);
        if (rotated is not null) o.WriteLine(rotated);
        PlanPrinter.Report(o, outcome.Report);
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
        o.WriteLine(Totals(plan, dryRun));
    }

    /// <summary>--summary: counts per action for credentials and for sinks, the renewals coming up, and the total.</summary>
    public static void Summary(TextWriter o, ApplyPlan plan, bool dryRun)
    {
        o.WriteLine($"plan for {plan.Manifest.File}:");
        o.WriteLine($"credentials: {Counts(plan.Credentials.Select(c => c.Action))}");
        o.WriteLine($"sinks:       {Counts(plan.Sinks.Select(s => s.Action))}");
        var due = plan.DueRotations.ToArray();
        if (due.Length > 0) o.WriteLine($"due now:     {due.Length} to rotate ({string.Join(", ", due.Take(5))}{(due.Length > 5 ? ", …" : "")})");
        if (plan.Upcoming.Count > 0)
        {
            var first = plan.Upcoming.MinBy(u => u.DueAt)!;
            o.WriteLine($"due within 30 days: {plan.Upcoming.Count} (first: {first.Credential} at {first.DueAt:yyyy-MM-dd HH:mm}Z)");
        }
        o.WriteLine(Totals(plan, dryRun));
    }

    private static string Counts(IEnumerable<ChangeAction> actions)
    {
        var a = actions.ToArray();
        return $"{a.Count(x => x == ChangeAction.Create)} to create, {a.Count(x => x == ChangeAction.Update)} to update, " +
               $"{a.Count(x => x == ChangeAction.Unchanged)} unchanged, {a.Count(x => x == ChangeAction.Pending)} pending";
    }

    public static string Totals(ApplyPlan plan, bool dryRun) =>
        $"{(dryRun ? "plan" : "applying")}: {Counts(plan.Credentials.Select(c => c.Action).Concat(plan.Sinks.Select(s => s.Action)))}";

    public static void Report(TextWriter o, ApplyReport r) => o.WriteLine(ReportLine(r));

    public static string ReportLine(ApplyReport r) =>
        (r.CredentialsWritten == 0 && r.FilesWritten == 0
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
        CliJson.WriteLine(o, doc, CliJson.Context.ApplyJson);
    }
}
