using System.Globalization;
using System.Text;
using Keyward.Core.Errors;
using Microsoft.Win32.SafeHandles;

namespace Keyward.Store;

/// <summary>How a writer waits for the state lock.</summary>
public sealed record StateLockOptions
{
    /// <summary>The default of <c>--lock-timeout</c>.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(30);

    /// <summary>How long to wait for another writer to finish; <see cref="TimeSpan.Zero"/> gives up at once.</summary>
    public TimeSpan Timeout { get; init; } = DefaultTimeout;

    /// <summary>What this writer is doing (<c>apply</c>, <c>rotate</c>…), written into the lock file for the next waiter's message.</summary>
    public string Purpose { get; init; } = "keyward";

    /// <summary>Told once, with the holder's description, when the lock is busy and this writer starts waiting.</summary>
    public Action<string>? Waiting { get; init; }

    public static StateLockOptions Default { get; } = new();
}

/// <summary>
/// The state directory's writer lock: an exclusive <c>flock(2)</c> on the state directory itself, held from before a
/// writer reads the state it decides on until its last write (check-and-act: "is a rotation open?" / "open one",
/// apply's plan and execute, init). flock belongs to the open file description, so two writers in one process contend
/// just like two processes, and the kernel drops the lock when the holder dies (a SIGKILL leaves no stale lock).
/// Locking the directory (not a lock file) leaves nothing to delete, recreate or redirect. The holder writes who it is
/// to <c>DIR/keyward.lock</c>, for the message of a writer that waits; that file is informative only.
/// </summary>
public sealed class StateLock : IDisposable
{
    /// <summary>Who holds the lock (pid, purpose, since when): informative, for the message of a writer that waits.</summary>
    public const string HolderFileName = "keyward.lock";

    private readonly SafeFileHandle _handle;
    private bool _released;

    private StateLock(SafeFileHandle handle, string directory)
    {
        _handle = handle;
        Directory = directory;
    }

    public string Directory { get; }

    private string HolderPath => System.IO.Path.Combine(Directory, HolderFileName);

    /// <summary>Takes the lock on <paramref name="directory"/> (which must exist), waiting up to
    /// <see cref="StateLockOptions.Timeout"/> for another writer; KW0317 naming the holder when it gives up.</summary>
    public static async Task<StateLock> AcquireAsync(string directory, StateLockOptions options, CancellationToken ct)
    {
        var handle = OpenDirectory(directory);
        var holderPath = System.IO.Path.Combine(directory, HolderFileName);
        try
        {
            // Wall-clock on purpose: a writer waits for a real process, whatever clock the caller plans with.
            var clock = TimeProvider.System;
            var started = clock.GetTimestamp();
            var delay = TimeSpan.FromMilliseconds(5);
            var told = false;
            while (!StatePosix.TryLockExclusive(handle))
            {
                var waited = clock.GetElapsedTime(started);
                if (waited >= options.Timeout)
                    throw ErrorCodes.StateLockTimeout.Exception(
                        $"gave up after {Seconds(options.Timeout)} waiting for the lock on {directory}, held by {Holder(holderPath)}");
                if (!told)
                {
                    options.Waiting?.Invoke($"waiting up to {Seconds(options.Timeout)} for the state lock on {directory}, held by {Holder(holderPath)}");
                    told = true;
                }
                var left = options.Timeout - waited;
                await Task.Delay(delay < left ? delay : left, ct).ConfigureAwait(false);
                if (delay < TimeSpan.FromMilliseconds(100)) delay *= 2;
            }
            var held = new StateLock(handle, directory);
            held.Describe(options.Purpose);
            return held;
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>Records who holds the lock (pid, purpose, since when), for the message of a writer that waits.</summary>
    private void Describe(string purpose)
    {
        var text = string.Create(CultureInfo.InvariantCulture,
            $"pid {Environment.ProcessId} ({purpose}) since {TimeProvider.System.GetUtcNow():yyyy-MM-dd'T'HH:mm:ss'Z'}\n");
        try
        {
            var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, Share = FileShare.ReadWrite };
            if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            using var stream = new FileStream(HolderPath, options);
            stream.Write(Encoding.UTF8.GetBytes(text));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // only informative
        }
    }

    private static string Holder(string holderPath)
    {
        try
        {
            var text = File.ReadAllText(holderPath).Trim();
            return text.Length is > 0 and < 200 && text.StartsWith("pid ", StringComparison.Ordinal) && !text.Contains('\n') ? text : "another keyward";
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return "another keyward";
        }
    }

    private static string Seconds(TimeSpan t) => string.Create(CultureInfo.InvariantCulture, $"{t.TotalSeconds:0.###} s");

    private static SafeFileHandle OpenDirectory(string directory)
    {
        try
        {
            return StatePosix.OpenDirectory(directory);
        }
        catch (IOException e)
        {
            throw new KeywardException(ErrorCodes.StateDirectory.With($"cannot open the state directory {directory} to lock it: {e.Message}"), e);
        }
    }

    public void Dispose()
    {
        if (_released) return;
        _released = true;
        StatePosix.Unlock(_handle);
        _handle.Dispose();
    }
}
