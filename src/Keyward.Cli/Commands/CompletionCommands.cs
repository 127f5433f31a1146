using System.CommandLine;
using System.Reflection;
using Keyward.Cli.Completion;

namespace Keyward.Cli.Commands;

/// <summary><c>keyward completion bash|zsh|fish</c> and <c>keyward man</c>: shell completion scripts and keyward(1),
/// both generated from the command tree this binary parses with (packages run them at build time; see docs/install.md).</summary>
internal static class CompletionCommands
{
    public static Command BuildCompletion(CliContext context)
    {
        var shell = new Argument<string>("shell") { Description = "bash, zsh or fish" };
        shell.AcceptOnlyFromAmong([.. CompletionScripts.Shells]);
        var cmd = new Command("completion", "Print a shell completion script for bash, zsh or fish (commands, options and their values)") { shell };
        cmd.SetAction(parse =>
        {
            context.Console.Out.Write(CompletionScripts.For(parse.GetValue(shell)!, CommandTree.Walk((RootCommand)parse.RootCommandResult.Command)));
            return 0;
        });
        return cmd;
    }

    public static Command BuildMan(CliContext context)
    {
        var output = new Option<string?>("--output", "-o") { Description = "Write to FILE (e.g. keyward.1) instead of stdout" };
        var cmd = new Command("man", "Print the keyward(1) manual page (roff), generated from the command tree") { output };
        cmd.SetAction(async (parse, ct) =>
        {
            var page = ManPage.Generate(CommandTree.Walk((RootCommand)parse.RootCommandResult.Command), Version);
            if (parse.GetValue(output) is { } path)
                await File.WriteAllTextAsync(context.Console.ResolvePath(path), page, ct).ConfigureAwait(false);
            else
                await context.Console.Out.WriteAsync(page).ConfigureAwait(false);
            return 0;
        });
        return cmd;
    }

    /// <summary>The version `keyward --version` prints, without the source revision suffix.</summary>
    private static string Version =>
        (typeof(CompletionCommands).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0").Split('+')[0];
}
