using System.Text;

namespace Keyward.Cli.Tests;

/// <summary>Runs the CLI in-process and captures everything it prints.</summary>
internal sealed class CliHarness
{
    public static string RepoRoot { get; } = FindRoot();

    private static string FindRoot() => Up(AppContext.BaseDirectory) ?? Up(SourceDirectory()) ??
        throw new InvalidOperationException("cannot find the repository root (Keyward.slnx)");

    // Builds with --artifacts-path put the binaries outside the checkout: fall back to where this file was compiled from.
    private static string SourceDirectory([System.Runtime.CompilerServices.CallerFilePath] string path = "") => Path.GetDirectoryName(path)!;

    private static string? Up(string start)
    {
        var dir = new DirectoryInfo(start);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Keyward.slnx"))) dir = dir.Parent;
        return dir?.FullName;
    }

    public Dictionary<string, string> Env { get; } = new(StringComparer.Ordinal);
    public bool OutIsTerminal { get; init; }
    public bool ErrIsTerminal { get; init; }
    public string CurrentDirectory { get; init; } = RepoRoot;
    public TimeProvider? Time { get; init; }

    /// <summary>Crash points for the rotation executor (the shipped CLI has none).</summary>
    public Engine.Rotation.IFaultInjector? Faults { get; init; }

    /// <summary>Everything printed by every run, for leak scans.</summary>
    public StringBuilder AllOutput { get; } = new();

    public async Task<CliResult> RunAsync(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        using var stdout = new MemoryStream();
        var console = new CliConsole
        {
            Out = o,
            Err = e,
            StdIn = Stream.Null,
            StdOut = stdout,
            OutIsTerminal = OutIsTerminal,
            ErrIsTerminal = ErrIsTerminal,
            GetEnv = n => Env.TryGetValue(n, out var v) ? v : null,
            CurrentDirectory = CurrentDirectory,
        };
        var code = await KeywardCli.RunAsync(args, console, Time ?? TimeProvider.System, Faults ?? Engine.Rotation.NoFaults.Instance, TestContext.Current.CancellationToken);
        var bytes = stdout.ToArray();
        var result = new CliResult(code, o.ToString() + Encoding.UTF8.GetString(bytes), e.ToString(), bytes);
        AllOutput.Append(result.Out).Append(result.Err);
        return result;
    }
}

internal sealed record CliResult(int ExitCode, string Out, string Err, byte[] StdOutBytes)
{
    public override string ToString() => $"exit {ExitCode}\n--- stdout\n{Out}\n--- stderr\n{Err}";
}
