using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace Keyward.Crypto.Tests.Nix;

/// <summary>Runs a real peer tool (nix, openssl, python3) for interop tests, with stdin, extra environment and a timeout.</summary>
internal sealed record ToolResult(int ExitCode, string Stdout, string Stderr)
{
    public ToolResult EnsureSuccess(string what)
    {
        if (ExitCode != 0) throw new InvalidOperationException($"{what} failed with exit code {ExitCode}: {Stderr}");
        return this;
    }
}

internal static class ToolProcess
{
    public static ToolResult Run(string file, IEnumerable<string> args, string? stdin = null, IReadOnlyDictionary<string, string>? env = null, string? workingDirectory = null)
    {
        if (!File.Exists(file))
            Assert.Fail($"the real tool {file} is missing; install it (Debian packages nix-bin, openssl, python3-jwt) to run the interop tests");
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Path.GetTempPath(),
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        if (env is not null) foreach (var (k, v) in env) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        var stdoutTask = p.StandardOutput.ReadToEndAsync();
        var stderrTask = p.StandardError.ReadToEndAsync();
        if (stdin is not null) p.StandardInput.Write(stdin);
        p.StandardInput.Close();
        if (!p.WaitForExit(TimeSpan.FromSeconds(120)))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', args)} timed out");
        }
        return new ToolResult(p.ExitCode, stdoutTask.Result, stderrTask.Result);
    }

    /// <summary>The shared test vectors folder (<c>&lt;repo&gt;/../shared/vectors</c>), or null when absent.</summary>
    public static string? VectorsDirectory([CallerFilePath] string here = "")
    {
        var dir = Path.GetDirectoryName(here);
        while (dir is not null && !File.Exists(Path.Combine(dir, "Keyward.slnx"))) dir = Path.GetDirectoryName(dir);
        if (dir is null) return null;
        var vectors = Path.GetFullPath(Path.Combine(dir, "..", "shared", "vectors"));
        return Directory.Exists(vectors) ? vectors : null;
    }
}

/// <summary>A temporary directory removed at the end of the test.</summary>
internal sealed class TempDir : IDisposable
{
    public TempDir() => Path = Directory.CreateTempSubdirectory("kw-nixjwt-").FullName;

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
