using System.Diagnostics;

namespace Keyward.Cli.Tests;

/// <summary>
/// The keyward CLI as a real process. With <c>KEYWARD_TEST_BINARY</c> set (test.sh publishes the NativeAOT binary once
/// and sets it) every process-based test runs that binary, so CI exercises what ships; without it, the JIT build beside
/// the tests (<c>dotnet keyward.dll</c>). A variable naming a missing file fails the test rather than quietly testing
/// something else.
/// </summary>
internal static class KeywardProcess
{
    public const string Variable = "KEYWARD_TEST_BINARY";

    /// <summary>The native binary under test, or null for the JIT build.</summary>
    public static string? Native { get; } = Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } p ? Path.GetFullPath(p) : null;

    private static readonly string Dll = Path.Combine(AppContext.BaseDirectory, "keyward.dll");

    /// <summary>The argv that starts keyward: <c>[binary]</c> or <c>[dotnet, keyward.dll]</c>.</summary>
    public static IReadOnlyList<string> Command
    {
        get
        {
            if (Native is null) return ["dotnet", Dll];
            Assert.True(File.Exists(Native), $"{Variable}={Native}: no such file (test.sh publishes it; unset the variable to test the JIT build)");
            return [Native];
        }
    }

    /// <summary>An executable file that is keyward itself (for wrappers such as setpriv): the native binary or the apphost.</summary>
    public static string Executable => Native is not null ? Command[0] : Path.Combine(AppContext.BaseDirectory, "keyward");

    /// <summary>A start for <paramref name="args"/>, behind <paramref name="prefix"/> (e.g. strace …) when given.</summary>
    public static ProcessStartInfo Start(IEnumerable<string> prefix, IEnumerable<string> args)
    {
        var argv = prefix.Concat(Command).Concat(args).ToList();
        var psi = new ProcessStartInfo(argv[0]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in argv.Skip(1)) psi.ArgumentList.Add(a);
        if (Native is null)
        {
            // Start-up speed for a test (the shipped CLI compiles fully optimised once).
            psi.Environment["DOTNET_TieredCompilation"] = "1";
            psi.Environment["DOTNET_TieredPGO"] = "0";
        }
        return psi;
    }

    /// <summary>Runs to the end (bounded: a hung process fails the test) and returns exit code, stdout and stderr.</summary>
    public static async Task<(int Code, string Out, string Err)> RunAsync(ProcessStartInfo psi)
    {
        using var p = Process.Start(psi)!;
        var o = p.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var e = p.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        limit.CancelAfter(TimeSpan.FromMinutes(3)); // a bound, not an assertion
        try
        {
            await p.WaitForExitAsync(limit.Token);
        }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            throw;
        }
        return (p.ExitCode, await o, await e);
    }
}
