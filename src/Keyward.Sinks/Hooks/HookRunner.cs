using System.ComponentModel;
using System.Diagnostics;
using System.Text;
using Keyward.Core.Manifest;

namespace Keyward.Sinks.Hooks;

/// <summary>The outcome of one hook. <paramref name="ExitCode"/> is null when the process never ran or was killed.</summary>
public sealed record HookResult(bool Success, int? ExitCode, string Message);

/// <summary>
/// Runs a sink's <c>onChange</c> hooks: <c>restart</c>/<c>reload</c> as <c>systemctl restart|reload UNIT</c>, and
/// <c>command</c> as its argv directly (no shell, so nothing in it is expanded). Each run has a timeout, gets an empty
/// stdin, and has its output captured (the tail goes into the result message). Never throws for a failing hook:
/// the result says what happened; only cancellation propagates.
/// </summary>
public sealed class HookRunner
{
    private const int OutputTailChars = 2000;

    /// <summary>What every hook gets from Keyward's environment; anything else only when named in <c>passEnv:</c>.</summary>
    public static readonly IReadOnlyList<string> BaseEnvironment = ["PATH", "HOME", "LANG", "LC_ALL", "TZ"];

    /// <summary>PATH when Keyward itself has none (NixOS paths first, then the FHS ones).</summary>
    public const string DefaultPath = "/run/wrappers/bin:/run/current-system/sw/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    private readonly string _systemctl;
    private readonly TimeSpan _timeout;
    private readonly Func<string, string?> _getEnv;

    /// <param name="systemctl">The systemctl binary (injectable for tests).</param>
    /// <param name="timeout">Per hook; default 90 s, systemd's default stop timeout.</param>
    /// <param name="getEnv">Keyward's environment, read for the base variables and <c>passEnv</c> (default: the process's).</param>
    public HookRunner(string systemctl = "systemctl", TimeSpan? timeout = null, Func<string, string?>? getEnv = null)
    {
        _systemctl = systemctl;
        _timeout = timeout ?? TimeSpan.FromSeconds(90);
        _getEnv = getEnv ?? Environment.GetEnvironmentVariable;
    }

    /// <summary>The hook's whole environment: the base variables that are set, PATH always, and the hook's passEnv.
    /// Never the rest of Keyward's environment, which can hold a credential read by <c>source: { env: … }</c>.</summary>
    public IReadOnlyDictionary<string, string> EnvironmentFor(Hook hook)
    {
        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var name in BaseEnvironment.Concat(hook.PassEnv))
            if (_getEnv(name) is { } value) env[name] = value;
        if (!env.ContainsKey("PATH")) env["PATH"] = DefaultPath;
        return env;
    }

    /// <summary>The argv a hook runs, for plans and reports.</summary>
    public IReadOnlyList<string> Argv(Hook hook) => hook switch
    {
        RestartUnitHook r => [_systemctl, "restart", r.Unit],
        ReloadUnitHook r => [_systemctl, "reload", r.Unit],
        CommandHook c when c.Argv.Count > 0 => c.Argv,
        CommandHook => throw new ArgumentException("a command hook needs at least one argument", nameof(hook)),
        _ => throw new ArgumentOutOfRangeException(nameof(hook), hook.GetType().Name, "unknown hook"),
    };

    /// <summary>A one-line description such as <c>restart atticd.service</c> or <c>run /usr/bin/foo --bar</c>.</summary>
    public static string Describe(Hook hook) => hook switch
    {
        RestartUnitHook r => $"restart {r.Unit}",
        ReloadUnitHook r => $"reload {r.Unit}",
        CommandHook c => "run " + string.Join(' ', c.Argv.Select(a => a.Any(char.IsWhiteSpace) || a.Length == 0 ? $"'{a}'" : a)),
        _ => hook.GetType().Name,
    };

    public async Task<HookResult> RunAsync(Hook hook, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(hook);
        IReadOnlyList<string> argv;
        try
        {
            argv = Argv(hook);
        }
        catch (ArgumentException e)
        {
            return new HookResult(false, null, e.Message);
        }

        var what = Describe(hook);
        var start = new ProcessStartInfo(argv[0])
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var arg in argv.Skip(1)) start.ArgumentList.Add(arg);
        start.Environment.Clear();
        foreach (var (name, value) in EnvironmentFor(hook)) start.Environment[name] = value;

        using var process = new Process { StartInfo = start };
        var output = new StringBuilder();
        void Collect(object? sender, DataReceivedEventArgs e)
        {
            if (e.Data is null) return;
            lock (output)
            {
                output.Append(e.Data).Append('\n');
                if (output.Length > 4 * OutputTailChars) output.Remove(0, output.Length - OutputTailChars);
            }
        }
        process.OutputDataReceived += Collect;
        process.ErrorDataReceived += Collect;

        try
        {
            process.Start();
        }
        catch (Win32Exception e)
        {
            return new HookResult(false, null, $"{what}: cannot start '{argv[0]}': {System.Runtime.InteropServices.Marshal.GetPInvokeErrorMessage(e.NativeErrorCode)}");
        }
        process.StandardInput.Close();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_timeout);
        try
        {
            await process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            Kill(process);
            cancellationToken.ThrowIfCancellationRequested();
            return new HookResult(false, null, $"{what}: timed out after {_timeout.TotalSeconds:0.###} s and was killed{Tail(output)}");
        }
        await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false); // drain the output readers

        var code = process.ExitCode;
        return code == 0
            ? new HookResult(true, 0, what)
            : new HookResult(false, code, $"{what}: exited with status {code}{Tail(output)}");
    }

    private static void Kill(Process process)
    {
        try
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit(5000);
        }
        catch (InvalidOperationException)
        {
            // already gone
        }
    }

    private static string Tail(StringBuilder output)
    {
        string text;
        lock (output) text = output.ToString().Trim();
        if (text.Length == 0) return "";
        if (text.Length > OutputTailChars) text = "…" + text[^OutputTailChars..];
        return ": " + text;
    }
}
