using System.CommandLine;
using Keyward.Core.Errors;

namespace Keyward.Cli;

/// <summary>Builds the command tree and runs it. Every command is a view of the same pipeline
/// (manifest → graph → plan → execute → report); see docs/commands.md.</summary>
public static class KeywardCli
{
    public static Task<int> RunAsync(string[] args, CliConsole console, CancellationToken cancellationToken = default) =>
        RunAsync(args, console, TimeProvider.System, cancellationToken);

    /// <summary>With a clock of the caller's choosing (tests move it forward to make policies due).</summary>
    public static Task<int> RunAsync(string[] args, CliConsole console, TimeProvider time, CancellationToken cancellationToken) =>
        RunAsync(args, console, time, Engine.Rotation.NoFaults.Instance, cancellationToken);

    /// <summary>The command tree (completions, the man page and their tests walk it).</summary>
    internal static RootCommand BuildRoot(CliContext context) => BuildRoot(context, null);

    /// <param name="only">Build just this top-level command (see <see cref="CommandRegistry.Only"/>); null: all of them.</param>
    private static RootCommand BuildRoot(CliContext context, Func<CliContext, System.CommandLine.Command>? only)
    {
        var root = new RootCommand("Keyward — the key and token authority for self-hosted Nix and GitOps infrastructure");
        root.Options.Add(CliOptions.State);
        root.Options.Add(CliOptions.Store);
        root.Options.Add(CliOptions.LockTimeout);
        root.Options.Add(CliOptions.Debug);
        if (only is not null) root.Subcommands.Add(only(context));
        else foreach (var command in CommandRegistry.Build(context)) root.Subcommands.Add(command);
        return root;
    }

    /// <summary>`keyward --version` alone: the root answers it with its own option, so no command is built (building all
    /// of them was 3-4 ms of CPU in the native binary's ~53 ms `--version`, KEYWARD_TIMINGS=1; docs/benchmarks.md).</summary>
    private static RootCommand BuildVersionRoot() =>
        new("Keyward — the key and token authority for self-hosted Nix and GitOps infrastructure");

    /// <summary>Tests only: with crash points for the rotation executor.</summary>
    internal static async Task<int> RunAsync(string[] args, CliConsole console, TimeProvider time, Engine.Rotation.IFaultInjector faults, CancellationToken cancellationToken)
    {
        Keyward.Core.Diagnostics.PhaseTimings.Mark("start (runtime, until Main)");
        var context = new CliContext(console) { Time = time, Faults = faults };
        var root = CommandRegistry.IsVersionOnly(args) ? BuildVersionRoot() : BuildRoot(context, CommandRegistry.Only(args));
        Keyward.Core.Diagnostics.PhaseTimings.Mark("command tree");

        var debug = args.Contains("--debug");
        try
        {
            if (args.Length == 0)
            {
                // No command: show what there is (on stderr, as a usage error).
                await root.Parse(["--help"]).InvokeAsync(new InvocationConfiguration { Output = console.Err, Error = console.Err }, cancellationToken).ConfigureAwait(false);
                return (int)ErrorKind.BadInput;
            }
            var parse = root.Parse(args);
            Keyward.Core.Diagnostics.PhaseTimings.Mark("parse arguments");
            if (parse.Errors.Count > 0)
            {
                foreach (var e in parse.Errors)
                    ErrorPrinter.Print(console.Err, ErrorCodes.Usage.With(e.Message, DidYouMean.Hint(parse, e)), warning: false);
                return (int)ErrorKind.BadInput;
            }
            var config = new InvocationConfiguration { Output = console.Out, Error = console.Err, EnableDefaultExceptionHandler = false };
            var code = await parse.InvokeAsync(config, cancellationToken).ConfigureAwait(false);
            Keyward.Core.Diagnostics.PhaseTimings.Mark("command end");
            return code;
        }
        catch (KeywardException ex)
        {
            return ErrorPrinter.Print(console, ex, debug);
        }
        catch (OperationCanceledException ex)
        {
            return ErrorPrinter.Print(console, new KeywardException(ErrorCodes.Cancelled.With("cancelled"), ex), debug);
        }
        catch (Exception ex)
        {
            // Bugs: say so without a trace (which could carry values from locals in some runtimes' messages); with
            // --debug print the trace too, and still exit like without it (never an unhandled abort and core dump).
            ErrorPrinter.Print(console.Err, ErrorCodes.Internal.With($"unexpected {ex.GetType().Name}"), warning: false);
            if (debug) console.Err.WriteLine(ex.ToString());
            return (int)ErrorKind.Failed;
        }
    }
}
