using System.CommandLine;

namespace Keyward.Cli;

/// <summary>Options every command shares (declared recursive on the root).</summary>
internal static class CliOptions
{
    public static readonly Option<string?> State = new("--state")
    {
        Description = "State directory (default: $KEYWARD_STATE, else /var/lib/keyward as root, else $XDG_STATE_HOME/keyward)",
        Recursive = true,
    };

    public static readonly Option<string?> Store = new("--store")
    {
        Description = "PostgreSQL store: postgres://USER[:PASS]@HOST:PORT/DB[?sslmode=…] or Npgsql key=value pairs (default: $KEYWARD_STORE; unset: the SQLite store in the state directory, which keeps the identity either way)",
        Recursive = true,
    };

    public static readonly Option<string?> LockTimeout = new("--lock-timeout")
    {
        Description = "How long a command that writes the state waits for another keyward writing it (default 30s; 0 = do not wait)",
        Recursive = true,
    };

    public static readonly Option<bool> Debug = new("--debug")
    {
        Description = "Print stack traces for errors",
        Recursive = true,
    };

    public static Option<string> ManifestFile() => new("--file", "-f")
    {
        Description = "The manifest (keyward.yaml)",
        DefaultValueFactory = _ => "keyward.yaml",
    };

    public static Option<bool> Json() => new("--json") { Description = "Machine-readable JSON output" };
}
