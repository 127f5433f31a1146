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
        Out = Console.Out,
        Err = Console.Error,
        StdIn = Console.OpenStandardInput(),
        StdOut = Console.OpenStandardOutput(),
        OutIsTerminal = !Console.IsOutputRedirected,
        ErrIsTerminal = !Console.IsErrorRedirected,
        InIsTerminal = !Console.IsInputRedirected,
        GetEnv = Environment.GetEnvironmentVariable,
    };

    public string ResolvePath(string path) => Path.GetFullPath(path, CurrentDirectory);
}
