using System.Diagnostics;
using System.Globalization;

namespace Keyward.Core.Diagnostics;

/// <summary>
/// Where a command's time goes, for profiling: with <c>KEYWARD_TIMINGS=1</c> in the environment, every
/// <see cref="Mark"/> prints the time since the previous mark (and since the process started) to stderr, one line each:
/// <c>keyward: timing PHASE  +12.3 ms  cpu +20.1 ms  (at 145.6 ms)</c> — wall time, then the process's CPU time (all
/// threads: on a loaded machine the steadier of the two). Off by default; when off a mark costs one field read. Phase
/// names are fixed strings chosen in the code: never a value, a path or a name from the manifest.
/// </summary>
public static class PhaseTimings
{
    private static readonly bool Enabled = Environment.GetEnvironmentVariable("KEYWARD_TIMINGS") is "1" or "true";
    private static readonly Lock Gate = new();
    private static long _last = Stopwatch.GetTimestamp();
    private static TimeSpan _lastCpu = Enabled ? Environment.CpuUsage.TotalTime : default;
    private static readonly DateTime ProcessStart = Enabled ? StartTime() : default;

    public static bool IsEnabled => Enabled;

    /// <summary>Ends the phase <paramref name="phase"/> (the time since the previous mark).</summary>
    public static void Mark(string phase)
    {
        if (!Enabled) return;
        var now = Stopwatch.GetTimestamp();
        var cpuNow = Environment.CpuUsage.TotalTime;
        double since, cpu;
        lock (Gate)
        {
            since = Stopwatch.GetElapsedTime(_last, now).TotalMilliseconds;
            cpu = (cpuNow - _lastCpu).TotalMilliseconds;
            _last = now;
            _lastCpu = cpuNow;
        }
        var at = (TimeProvider.System.GetLocalNow().DateTime - ProcessStart).TotalMilliseconds;
        Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"keyward: timing {phase,-32} +{since,8:0.0} ms  cpu +{cpu,8:0.0} ms  (at {at,8:0.0} ms)"));
    }

    private static DateTime StartTime()
    {
        try
        {
            return Process.GetCurrentProcess().StartTime;
        }
        catch (Exception e) when (e is InvalidOperationException or NotSupportedException or System.ComponentModel.Win32Exception)
        {
            return TimeProvider.System.GetLocalNow().DateTime;
        }
    }
}
