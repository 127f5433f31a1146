using System.CommandLine;
using Keyward.Core.Errors;

namespace Keyward.Cli;

/// <summary>What command handlers share: the console and the resolution of common options.</summary>
public sealed class CliContext(CliConsole console)
{
    public CliConsole Console { get; } = console;

    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>--state, else $KEYWARD_STATE, else /var/lib/keyward as root, else $XDG_STATE_HOME/keyward.</summary>
    public string StateDirectory(ParseResult parse)
    {
        var explicitDir = parse.GetValue(CliOptions.State);
        if (!string.IsNullOrEmpty(explicitDir)) return Console.ResolvePath(explicitDir);
        var env = Console.GetEnv("KEYWARD_STATE");
        if (!string.IsNullOrEmpty(env)) return Console.ResolvePath(env);
        if (Environment.IsPrivilegedProcess) return "/var/lib/keyward";
        var xdg = Console.GetEnv("XDG_STATE_HOME");
        if (string.IsNullOrEmpty(xdg))
        {
            var home = Console.GetEnv("HOME");
            if (string.IsNullOrEmpty(home))
                throw ErrorCodes.StateDirectory.Exception("cannot choose a state directory: neither KEYWARD_STATE, XDG_STATE_HOME nor HOME is set");
            xdg = Path.Combine(home, ".local", "state");
        }
        return Path.Combine(xdg, "keyward");
    }

    public bool Debug(ParseResult parse) => parse.GetValue(CliOptions.Debug);

    public void Warn(KeywardError error) => ErrorPrinter.Print(Console.Err, error, warning: true);
}
