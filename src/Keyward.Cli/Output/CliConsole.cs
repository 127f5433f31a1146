namespace Keyward.Cli;

/// <summary>The process's streams and environment, abstracted so tests run the CLI in-process and
/// capture everything it prints (the leak-scan test reads these).</summary>
public sealed class CliConsole
{
    public required TextWriter Out { get; init; }
    public required TextWriter Err { get; init; }
    public required Stream StdIn { get; init; }
    public required Stream StdOut { get; init; }
    public bool OutIsTerminal { get; init; }
    public bool ErrIsTerminal { get; init; }
    public bool InIsTerminal { get; init; }
    public required Func<string, string?> GetEnv { get; init; }
    public string CurrentDirectory { get; init; } = Environment.CurrentDirectory;

    public static CliConsole System() => new()
    {
        Out = StandardOut(),
        Err = Console.Error,
        StdIn = Console.OpenStandardInput(),
        StdOut = Console.OpenStandardOutput(),
        OutIsTerminal = !Console.IsOutputRedirected,
        ErrIsTerminal = !Console.IsErrorRedirected,
        InIsTerminal = !Console.IsInputRedirected,
        GetEnv = Environment.GetEnvironmentVariable,
    };

    /// <summary>Standard output as <see cref="Console.Out"/> makes it (its encoding, without a byte order mark;
    /// flushed after every write; safe across threads), but with a 64 KiB buffer instead of the console's 256 bytes:
    /// a large write (apply --json of 10,000 sinks is 4 MB) is a few dozen system calls, not 17,000.</summary>
    private static TextWriter StandardOut()
    {
        if (Console.Out.Encoding.GetPreamble().Length != 0) return Console.Out; // never expected: keep the console's writer
        var stream = Console.OpenStandardOutput();
        if (stream == Stream.Null) return Console.Out;
        return TextWriter.Synchronized(new StreamWriter(stream, Console.Out.Encoding, 64 * 1024, leaveOpen: true) { AutoFlush = true });
    }

    public string ResolvePath(string path) => Path.GetFullPath(path, CurrentDirectory);
}
