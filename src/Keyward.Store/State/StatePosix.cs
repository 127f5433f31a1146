using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Keyward.Store;

/// <summary>The libc calls the state directory needs and .NET does not expose: <c>flock(2)</c> on the directory (the
/// state lock), <c>fsync(2)</c> of a directory (so a rename survives a power cut), and a plain <c>rename(2)</c>.</summary>
internal static partial class StatePosix
{
    private const string Libc = "libc";
    private const int LockExclusive = 2;
    private const int LockNonBlocking = 4;
    private const int LockUnlock = 8;
    private const int EWouldBlock = 11;
    private const int EIntr = 4;
    private const int ORdOnly = 0;
    private const int OCloexec = 0x80000; // the same on x86-64 and arm64 (O_DIRECTORY is not: a plain O_RDONLY opens a directory too)

    /// <summary>Tries <c>flock(fd, LOCK_EX|LOCK_NB)</c>: true when taken, false when another open file description holds it.</summary>
    public static bool TryLockExclusive(SafeFileHandle handle)
    {
        while (true)
        {
            if (flock((int)handle.DangerousGetHandle(), LockExclusive | LockNonBlocking) == 0) return true;
            var errno = Marshal.GetLastPInvokeError();
            if (errno == EIntr) continue;
            if (errno == EWouldBlock) return false;
            throw new IOException($"flock failed: {Marshal.GetPInvokeErrorMessage(errno)}", errno);
        }
    }

    public static void Unlock(SafeFileHandle handle) => _ = flock((int)handle.DangerousGetHandle(), LockUnlock);

    /// <summary>Opens a directory read-only (for flock, and for fsync).</summary>
    public static SafeFileHandle OpenDirectory(string path)
    {
        var fd = open(path, ORdOnly | OCloexec, 0);
        if (fd < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new IOException(Marshal.GetPInvokeErrorMessage(errno), errno);
        }
        return new SafeFileHandle(fd, ownsHandle: true);
    }

    /// <summary>Opens (creating 0600) a regular file with plain open(2): .NET's FileStream would flock it itself (LOCK_SH
    /// for shared access), and two shared holders could then never upgrade to the exclusive lock.</summary>
    public static SafeFileHandle OpenLockFile(string path)
    {
        const int ORdWr = 2, OCreat = 0x40;
        var fd = open(path, ORdWr | OCreat | OCloexec, 0x180 /* 0600 */);
        if (fd < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new IOException(Marshal.GetPInvokeErrorMessage(errno), errno);
        }
        return new SafeFileHandle(fd, ownsHandle: true);
    }

    /// <summary>rename(2): atomic, and never a moment with two names for one file (File.Move links, then unlinks).</summary>
    public static void Rename(string from, string to)
    {
        if (rename(from, to) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new IOException($"rename '{from}' to '{to}' failed: {Marshal.GetPInvokeErrorMessage(errno)}", errno);
        }
    }

    /// <summary>fsync of a directory: makes the entries created or renamed in it durable.</summary>
    public static void FsyncDirectory(string path)
    {
        using var handle = OpenDirectory(path);
        if (fsync((int)handle.DangerousGetHandle()) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new IOException($"fsync '{path}' failed: {Marshal.GetPInvokeErrorMessage(errno)}", errno);
        }
    }

    /// <summary>fsync of an open file.</summary>
    public static void Fsync(SafeFileHandle handle, string path)
    {
        if (fsync((int)handle.DangerousGetHandle()) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new IOException($"fsync '{path}' failed: {Marshal.GetPInvokeErrorMessage(errno)}", errno);
        }
    }

    [LibraryImport(Libc, SetLastError = true)]
    private static partial int flock(int fd, int operation);

    [LibraryImport(Libc, EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int open(string path, int flags, int mode);

    [LibraryImport(Libc, SetLastError = true)]
    private static partial int fsync(int fd);

    [LibraryImport(Libc, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int rename(string from, string to);

}
