using System.CommandLine;
using Keyward.Core.Errors;

namespace Keyward.Cli;

/// <summary>What command handlers share: the console and the resolution of common options.</summary>
public sealed class CliContext(CliConsole console)
{
    public CliConsole Console { get; } = console;

    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>Crash points for the rotation executor: inert in the shipped CLI, set only by in-process tests.</summary>
    internal Engine.Rotation.IFaultInjector Faults { get; init; } = Engine.Rotation.NoFaults.Instance;

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

    /// <summary>--store, else $KEYWARD_STORE: a PostgreSQL store (the identity stays in the state directory), or null for
    /// the SQLite store in the state directory. KW0321 when malformed (the message never repeats the string).</summary>
    public Store.Postgres.PostgresConnection? StoreConnection(ParseResult parse)
    {
        var text = parse.GetValue(CliOptions.Store);
        if (string.IsNullOrWhiteSpace(text)) text = Console.GetEnv("KEYWARD_STORE");
        return string.IsNullOrWhiteSpace(text) ? null : Keyward.Store.Postgres.PostgresConnection.Parse(text);
    }

    /// <summary>How a writing command waits for the state lock: --lock-timeout (default 30 s), and a line on stderr
    /// naming the holder when it has to wait.</summary>
    public Store.StateLockOptions LockOptions(ParseResult parse, string purpose)
    {
        var text = parse.GetValue(CliOptions.LockTimeout);
        var timeout = Store.StateLockOptions.DefaultTimeout;
        if (!string.IsNullOrWhiteSpace(text))
        {
            if (text.Trim() == "0") timeout = TimeSpan.Zero;
            else if (Core.Time.HumanDuration.TryParse(text, out var d, out var error)) timeout = d.Value;
            else throw ErrorCodes.InvalidArgument.Exception($"--lock-timeout: {error}");
        }
        return new Store.StateLockOptions
        {
            Timeout = timeout,
            Purpose = purpose,
            Waiting = m => Console.Err.WriteLine($"keyward: {m}"),
        };
    }

    public bool Debug(ParseResult parse) => parse.GetValue(CliOptions.Debug);

    public void Warn(KeywardError error) => ErrorPrinter.Print(Console.Err, error, warning: true);
}
