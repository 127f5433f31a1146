using System.Runtime.InteropServices;

namespace Keyward.Sinks.Files;

/// <summary>The few libc calls the file writer needs and .NET does not expose: owner ids (<c>statx</c>, whose layout is
/// the same on every Linux architecture, unlike <c>struct stat</c>), <c>fchown</c>/<c>chown</c>, <c>fsync</c> of a
/// directory, <c>rename</c>, and user/group lookup through NSS (<c>getpwnam_r</c>/<c>getgrnam_r</c>).</summary>
internal static unsafe partial class Posix
{
    private const string Libc = "libc";
    private const int AtFdCwd = -100;
    private const int AtSymlinkNoFollow = 0x100;
    private const uint StatxBasicStats = 0x7ff;
    private const int ENOENT = 2;
    private const int ERANGE = 34;

    public const int TypeMask = 0xF000;
    public const int TypeRegular = 0x8000;
    public const int TypeDirectory = 0x4000;
    public const int TypeSymlink = 0xA000;

    /// <summary>lstat: what is at <paramref name="path"/> without following a final symlink; null when nothing is.</summary>
    public static FileStatus? LStat(string path)
    {
        var buffer = stackalloc byte[256];
        if (statx(AtFdCwd, path, AtSymlinkNoFollow, StatxBasicStats, buffer) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            if (errno is ENOENT or 20 /* ENOTDIR */) return null;
            throw new IOException($"statx '{path}' failed: {Marshal.GetPInvokeErrorMessage(errno)}", errno);
        }
        var span = new ReadOnlySpan<byte>(buffer, 256);
        return new FileStatus(
            Uid: MemoryMarshal.Read<uint>(span[20..]),
            Gid: MemoryMarshal.Read<uint>(span[24..]),
            Mode: MemoryMarshal.Read<ushort>(span[28..]),
            Inode: MemoryMarshal.Read<ulong>(span[32..]),
            Size: MemoryMarshal.Read<long>(span[40..]),
            MtimeSeconds: MemoryMarshal.Read<long>(span[112..]),
            MtimeNanoseconds: MemoryMarshal.Read<uint>(span[120..]));
    }

    public static bool IsRoot => geteuid() == 0;

    public static void FChown(SafeHandle handle, uint uid, uint gid)
    {
        if (fchown((int)handle.DangerousGetHandle(), uid, gid) != 0)
            throw Error("fchown", null);
    }

    public static void Chown(string path, uint uid, uint gid)
    {
        if (chown(path, uid, gid) != 0)
            throw Error("chown", path);
    }

    public static void Rename(string from, string to)
    {
        if (rename(from, to) != 0)
            throw Error("rename", to);
    }

    /// <summary>Makes a rename or create in <paramref name="directory"/> durable.</summary>
    public static void FsyncDirectory(string directory)
    {
        var fd = open(directory, 0x80000 /* O_RDONLY | O_CLOEXEC */);
        if (fd < 0) throw Error("open", directory);
        try
        {
            if (fsync(fd) != 0) throw Error("fsync", directory);
        }
        finally
        {
            _ = close(fd);
        }
    }

    public static uint? UserId(string name) => Lookup(name, group: false);

    public static uint? GroupId(string name) => Lookup(name, group: true);

    // struct passwd { char *pw_name; char *pw_passwd; uid_t pw_uid; ... } and struct group { char *gr_name; char *gr_passwd; gid_t gr_gid; ... }:
    // on every 64-bit Linux the id sits after two pointers, at offset 16.
    private static uint? Lookup(string name, bool group)
    {
        var record = stackalloc byte[64];
        for (var size = 1024; size <= 1 << 20; size *= 4)
        {
            var buffer = new byte[size];
            fixed (byte* b = buffer)
            {
                void* result = null;
                var rc = group ? getgrnam_r(name, record, b, (nuint)size, &result) : getpwnam_r(name, record, b, (nuint)size, &result);
                if (rc == ERANGE) continue;
                if (rc != 0 || result == null) return null;
                return *(uint*)(record + (2 * sizeof(nint)));
            }
        }
        return null;
    }

    private static IOException Error(string call, string? path)
    {
        var errno = Marshal.GetLastPInvokeError();
        return new IOException($"{call}{(path is null ? "" : $" '{path}'")} failed: {Marshal.GetPInvokeErrorMessage(errno)}", errno);
    }

    [LibraryImport(Libc, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int statx(int dirfd, string path, int flags, uint mask, byte* buffer);

    [LibraryImport(Libc)]
    private static partial uint geteuid();

    [LibraryImport(Libc, SetLastError = true)]
    private static partial int fchown(int fd, uint uid, uint gid);

    [LibraryImport(Libc, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int chown(string path, uint uid, uint gid);

    [LibraryImport(Libc, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int rename(string from, string to);

    [LibraryImport(Libc, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int open(string path, int flags);

    [LibraryImport(Libc, SetLastError = true)]
    private static partial int fsync(int fd);

    [LibraryImport(Libc)]
    private static partial int close(int fd);

    [LibraryImport(Libc, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int getpwnam_r(string name, void* pwd, byte* buffer, nuint size, void** result);

    [LibraryImport(Libc, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int getgrnam_r(string name, void* grp, byte* buffer, nuint size, void** result);
}

/// <summary>The parts of <c>statx</c> the writer compares.</summary>
internal sealed record FileStatus(uint Uid, uint Gid, int Mode, ulong Inode, long Size, long MtimeSeconds, uint MtimeNanoseconds)
{
    public int Type => Mode & Posix.TypeMask;
    public int Permissions => Mode & 0xFFF;
}
