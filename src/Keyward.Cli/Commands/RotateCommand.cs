using System.CommandLine;
using Keyward.Core.Errors;
using Keyward.Core.Rotation;
using Keyward.Engine.Rotation;

namespace Keyward.Cli.Commands;

/// <summary><c>keyward rotate NAME… [--exposed LEAKED…] [--broad]</c>, <c>--continue</c>, <c>--resume</c>, <c>--abort</c>.</summary>
internal static class RotateCommand
{
    public static Command Build(CliContext context)
    {
        var file = CliOptions.ManifestFile();
        var json = CliOptions.Json();
        var names = new Argument<string[]>("name") { Description = "Credentials to rotate (none with --exposed: the narrowest rotation)", Arity = ArgumentArity.ZeroOrMore };
        var exposed = new Option<string[]>("--exposed") { Description = "What leaked: rotate the narrowest set that contains it; a broader NAME list is refused", AllowMultipleArgumentsPerToken = true };
        var broad = new Option<bool>("--broad") { Description = "Allow a rotation broader than the exposure needs" };
        var cont = new Option<bool>("--continue") { Description = "Run phase two of a waiting cache-key rollover" };
        var resume = new Option<bool>("--resume") { Description = "Complete an interrupted or failed rotation" };
        var abort = new Option<bool>("--abort") { Description = "Roll an open rotation back to the versions active before it" };
        var rootOption = new Option<string?>("--root") { Description = "Prefix every sink path with DIR, as apply --root (hooks are not run)" };
        var kubeconfig = new Option<string?>("--kubeconfig") { Description = "kubeconfig for live kubernetes-secret sinks (default: $KUBECONFIG, else in-cluster)" };
        var hostDeadline = new Option<string>("--host-deadline")
        {
            Description = "How long a deliver step waits for hosts' agents to confirm the new files before the rotation pauses (0s: do not wait; default: the credentials' rotation.hostDeadline, else 2m)",
        };
        var cmd = new Command("rotate", "Rotate credentials through the write-ahead journal (crash-safe; see `keyward plan rotate`)") { names, file, json, exposed, broad, cont, resume, abort, rootOption, kubeconfig, hostDeadline };
        cmd.SetAction(async (parse, ct) =>
        {
            var manifest = ManifestInput.Load(context, parse, file);
            var modes = new[] { parse.GetValue(cont), parse.GetValue(resume), parse.GetValue(abort) }.Count(b => b);
            var list = parse.GetValue(names) ?? [];
            var leaked = parse.GetValue(exposed) ?? [];
            if (modes > 1) throw ErrorCodes.Usage.Exception("give only one of --continue, --resume and --abort");
            if (modes == 1 && (list.Length > 0 || leaked.Length > 0)) throw ErrorCodes.Usage.Exception("--continue, --resume and --abort act on the open rotation: give no names");
            if (modes == 0 && list.Length == 0 && leaked.Length == 0) throw ErrorCodes.Usage.Exception("name the credentials to rotate, or what leaked with --exposed");
            var asJson = parse.GetValue(json);
            Core.Time.HumanDuration? deadlineOption = null;
            if (parse.GetValue(hostDeadline) is { } deadlineText)
            {
                if (!Core.Time.HumanDuration.TryParse(deadlineText, out var d, out var deadlineError) || d!.Value < TimeSpan.Zero)
                    throw ErrorCodes.InvalidArgument.Exception($"--host-deadline: {deadlineError ?? "must not be negative"}");
                deadlineOption = d;
            }
            var root = parse.GetValue(rootOption);
            using var http = Services.Http.ServiceHttp.CreateClient();
            async Task<RotationOutcome> UnderLockAsync(Func<RotationExecutor, Task<RotationOutcome>> run)
            {
                // The lock spans "is a rotation open?" / "open one" and the whole journal run (start, --resume, --continue, --abort).
                await using var state = await StateInput.OpenForWriteAsync(context, parse, "rotate", ct).ConfigureAwait(false);
                StateInput.SweepStaleTempFiles(context, manifest, string.IsNullOrEmpty(root) ? null : context.Console.ResolvePath(root));
                var executor = new RotationExecutor(state.Store, RotationSetup.Options(context, state, manifest, http,
                    string.IsNullOrEmpty(root) ? null : context.Console.ResolvePath(root), runHooks: true, asJson ? null : context.Console.Out.WriteLine,
                    parse.GetValue(kubeconfig) is { } kc ? context.Console.ResolvePath(kc) : null));
                return await run(executor).ConfigureAwait(false);
            }
            RotationOutcome outcome;
            if (parse.GetValue(abort)) outcome = await UnderLockAsync(e => e.AbortAsync(ct)).ConfigureAwait(false);
            else if (parse.GetValue(resume) || parse.GetValue(cont)) outcome = await UnderLockAsync(e => e.ResumeAsync(parse.GetValue(cont), ct)).ConfigureAwait(false);
            else
            {
                var intent = list.Length == 0
                    ? RotationPlanner.NarrowestFor(manifest, leaked, parse.GetValue(broad))
                    : new RotationIntent(list, leaked.Length > 0 ? RotationReason.Exposed : RotationReason.Manual, leaked.Length > 0 ? leaked : null, parse.GetValue(broad));
                outcome = await UnderLockAsync(e => e.StartAsync(intent, ct)).ConfigureAwait(false);
            }
            // Paused for hosts: wait without the lock (the server needs it to hand the agents the new files and record their
            // confirmations), then resume under it; at each pause's deadline (--host-deadline, else the rotation.hostDeadline
            // of the credentials it waits for) KW0815, the journal left open in awaiting-hosts. The same Engine code waits
            // for the rotations serve's controller runs.
            if (outcome.State == RotationState.AwaitingHosts)
                outcome = await new HostPauseWait(new HostPauseWaitOptions
                {
                    Manifest = manifest,
                    Time = context.Time,
                    OpenRead = c => StateInput.OpenAsync(context, parse, c),
                    UnderLock = resume => UnderLockAsync(e => resume(e, ct)),
                    Deadline = deadlineOption,
                    ContinuePhaseTwo = parse.GetValue(cont),
                    Note = asJson ? null : context.Console.Out.WriteLine,
                }).RunAsync(outcome, firstUntil: null, ct).ConfigureAwait(false);
            if (asJson)
                CliJson.WriteLine(context.Console.Out, new RotateJson(outcome.JournalId, outcome.State.ToString(), outcome.Log), CliJson.Context.RotateJson);
            else if (outcome.State == RotationState.AwaitingContinue)
                context.Console.Out.WriteLine("run `keyward rotate --continue` after every consumer has the new public key");
            return 0;
        });
        return cmd;
    }
}
