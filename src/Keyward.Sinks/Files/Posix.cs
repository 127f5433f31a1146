using System.Runtime.InteropServices;

namespace Keyward.Sinks.Files;

/// <summary>The few libc calls the file layer needs and .NET does not expose: owner ids (<c>statx</c>, whose layout is
/// the same on every Linux architecture, unlike <c>struct stat</c>), the <c>*at</c> calls that walk a path one
/// directory descriptor at a time (<c>openat</c>, <c>mkdirat</c>, <c>readlinkat</c>, <c>renameat</c>, <c>symlinkat</c>,
/// <c>unlinkat</c>), <c>fchown</c>/<c>fchmod</c>, <c>fsync</c> of a directory, and user/group lookup through NSS
/// (<c>getpwnam_r</c>/<c>getgrnam_r</c>). The one <c>statx</c> wrapper of Keyward.</summary>
internal static unsafe partial class Posix
{
    private const string Libc = "libc";
    private const int AtFdCwd = -100;
    private const int AtSymlinkNoFollow = 0x100;
    private const uint StatxBasicStats = 0x7ff;
    private const int ENOENT = 2;
    private const int ERANGE = 34;

    private const int AtEmptyPath = 0x1000;
    private const int EEXIST = 17;
    private const int ELOOP = 40;
    private const int ENOTDIR = 20;

    // open(2) flags. O_DIRECTORY and O_NOFOLLOW differ between architectures (asm-generic/x86 vs arm/arm64/powerpc).
    private static readonly bool ArmLayout = RuntimeInformation.ProcessArchitecture is Architecture.Arm or Architecture.Arm64 or Architecture.Ppc64le or Architecture.Armv6;
    public const int ORdOnly = 0;
    public const int OWrOnly = 1;
    public const int OCreat = 0x40;
    public const int OExcl = 0x80;
    public const int ONonBlock = 0x800;
    public const int OCloExec = 0x80000;
    public const int OPath = 0x200000;
    public static int ODirectory => ArmLayout ? 0x4000 : 0x10000;
    public static int ONoFollow => ArmLayout ? 0x8000 : 0x20000;

    public const int TypeMask = 0xF000;
    public const int TypeRegular = 0x8000;
    public const int TypeDirectory = 0x4000;
    public const int TypeSymlink = 0xA000;
    public const int TypeSocket = 0xC000;

    /// <summary>lstat: what is at <paramref name="path"/> without following a final symlink; null when nothing is.</summary>
    public static FileStatus? LStat(string path) => StatAt(AtFdCwd, path, path);

    /// <summary>lstat of <paramref name="name"/> in the directory <paramref name="dirfd"/>; null when nothing is there.</summary>
    public static FileStatus? StatAt(int dirfd, string name, string display)
    {
        var buffer = stackalloc byte[256];
        if (statx(dirfd, name, AtSymlinkNoFollow, StatxBasicStats, buffer) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            if (errno is ENOENT or ENOTDIR) return null;
            throw new IOException($"statx '{display}' failed: {Marshal.GetPInvokeErrorMessage(errno)}", errno);
        }
        return Parse(buffer);
    }

    /// <summary>fstat of an open descriptor (an <c>O_PATH</c> one too).</summary>
    public static FileStatus FStat(int fd, string display)
    {
        var buffer = stackalloc byte[256];
        if (statx(fd, "", AtEmptyPath | AtSymlinkNoFollow, StatxBasicStats, buffer) != 0) throw Error("statx", display);
        return Parse(buffer);
    }

    /// <summary>fstat of an open descriptor that only answers "a regular file, of this size?" (no status object): false
    /// when it is not a regular file or the call fails.</summary>
    public static bool TryFStatRegular(int fd, out long size)
    {
        var buffer = stackalloc byte[256];
        size = 0;
        if (statx(fd, "", AtEmptyPath | AtSymlinkNoFollow, StatxBasicStats, buffer) != 0) return false;
        var span = new ReadOnlySpan<byte>(buffer, 256);
        size = MemoryMarshal.Read<long>(span[40..]);
        return (MemoryMarshal.Read<ushort>(span[28..]) & TypeMask) == TypeRegular;
    }

    private static FileStatus Parse(byte* buffer)
    {
        var span = new ReadOnlySpan<byte>(buffer, 256);
        return new FileStatus(
            Uid: MemoryMarshal.Read<uint>(span[20..]),
            Gid: MemoryMarshal.Read<uint>(span[24..]),
            Mode: MemoryMarshal.Read<ushort>(span[28..]),
            Inode: MemoryMarshal.Read<ulong>(span[32..]),
            Size: MemoryMarshal.Read<long>(span[40..]),
            MtimeSeconds: MemoryMarshal.Read<long>(span[112..]),
            MtimeNanoseconds: MemoryMarshal.Read<uint>(span[120..]))
        {
            // stx_dev_major, stx_dev_minor: with the inode, the identity of the file.
            Device = ((ulong)MemoryMarshal.Read<uint>(span[136..]) << 32) | MemoryMarshal.Read<uint>(span[140..]),
            // stx_ctime: set by the kernel at every change of content or metadata; no caller can set it.
            CtimeSeconds = MemoryMarshal.Read<long>(span[96..]),
            CtimeNanoseconds = MemoryMarshal.Read<uint>(span[104..]),
        };
    }

    public static bool IsRoot => geteuid() == 0;

    /// <summary>Keyward's effective uid (it never changes in the process: read once).</summary>
    public static uint EffectiveUid { get; } = geteuid();

    /// <summary>openat2(2) with RESOLVE_NO_SYMLINKS: opens <paramref name="path"/> as an <c>O_PATH</c> directory only if
    /// no component at all is a symbolic link; -1 when it is not possible (a link, missing, or a kernel without
    /// openat2), in which case the caller walks the path itself.</summary>
    public static int OpenDirectoryNoSymlinks(string path)
    {
        var how = stackalloc ulong[3];
        how[0] = (ulong)(OPath | ODirectory | OCloExec);
        how[1] = 0;
        how[2] = 0x04 | 0x02; // RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS
        var bytes = System.Text.Encoding.UTF8.GetBytes(path + "\0");
        fixed (byte* p = bytes)
        {
            var fd = syscall(437 /* SYS_openat2, the same number on every architecture */, AtFdCwd, p, how, 24);
            return fd < 0 ? -1 : (int)fd;
        }
    }

    /// <summary>openat(2); throws on failure. <paramref name="display"/> names the path in the message.</summary>
    public static int OpenAt(int dirfd, string name, int flags, int mode, string display)
    {
        var fd = openat(dirfd, name, flags | OCloExec, (uint)mode);
        return fd >= 0 ? fd : throw Error("open", display);
    }

    /// <summary>openat(2) that reports the errno instead of throwing.</summary>
    public static int TryOpenAt(int dirfd, string name, int flags, int mode, out int errno)
    {
        var fd = openat(dirfd, name, flags | OCloExec, (uint)mode);
        errno = fd >= 0 ? 0 : Marshal.GetLastPInvokeError();
        return fd;
    }

    public static bool IsLinkError(int errno) => errno is ELOOP or ENOTDIR;

    public static bool IsExists(int errno) => errno == EEXIST;

    /// <summary>mkdirat(2); returns the errno (0 on success).</summary>
    public static int MkdirAt(int dirfd, string name, int mode) =>
        mkdirat(dirfd, name, (uint)mode) == 0 ? 0 : Marshal.GetLastPInvokeError();

    public static string ReadLinkAt(int dirfd, string name, string display)
    {
        var buffer = new byte[4096];
        fixed (byte* b = buffer)
        {
            var n = readlinkat(dirfd, name, b, (nuint)buffer.Length);
            if (n < 0) throw Error("readlink", display);
            if (n >= buffer.Length) throw new IOException($"readlink '{display}': link text too long");
            return System.Text.Encoding.UTF8.GetString(buffer, 0, (int)n);
        }
    }

    public static void RenameAt(int dirfd, string from, string to, string display)
    {
        if (renameat(dirfd, from, dirfd, to) != 0) throw Error("rename", display);
    }

    public static void SymlinkAt(string text, int dirfd, string name, string display)
    {
        if (symlinkat(text, dirfd, name) != 0) throw Error("symlink", display);
    }

    /// <summary>Removes a file (not a directory) in <paramref name="dirfd"/>; false when it could not.</summary>
    public static bool TryUnlinkAt(int dirfd, string name) => unlinkat(dirfd, name, 0) == 0;

    public static void FChown(int fd, uint uid, uint gid, string display)
    {
        if (fchown(fd, uid, gid) != 0) throw Error("fchown", display);
    }

    public static void FChmod(int fd, int mode, string display)
    {
        if (fchmod(fd, (uint)mode) != 0) throw Error("fchmod", display);
    }

    public static void Fsync(int fd, string display)
    {
        if (fsync(fd) != 0) throw Error("fsync", display);
    }

    public static void Close(int fd) => _ = close(fd);

    /// <summary><c>sync_file_range(SYNC_FILE_RANGE_WRITE)</c>: starts writeback of the dirty pages in the range and returns
    /// without waiting for it. Only a head start for a later <see cref="Fsync"/>, which is what makes the data durable, so a
    /// failure (a file system without it) is ignored.</summary>
    public static void StartWriteback(int fd, long offset, long length) => _ = sync_file_range(fd, offset, length, 2);

    /// <summary>pread(2); retried on EINTR; 0 at end of file.</summary>
    public static int PRead(int fd, Span<byte> buffer, long offset, string display)
    {
        fixed (byte* b = buffer)
        {
            while (true)
            {
                var n = pread(fd, b, (nuint)buffer.Length, offset);
                if (n >= 0) return (int)n;
                if (Marshal.GetLastPInvokeError() != 4 /* EINTR */) throw Error("read", display);
            }
        }
    }

    public static void Chown(string path, uint uid, uint gid)
    {
        if (chown(path, uid, gid) != 0)
            throw Error("chown", path);
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

    private static IOException Error(string call, string? path) => ErrorFor(call, path, Marshal.GetLastPInvokeError());

    public static IOException ErrorFor(string call, string? path, int errno) =>
        new($"{call}{(path is null ? "" : $" '{path}'")} failed: {Marshal.GetPInvokeErrorMessage(errno)}", errno);

    [LibraryImport(Libc, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int statx(int dirfd, string path, int flags, uint mask, byte* buffer);

    [LibraryImport(Libc)]
    private static partial uint geteuid();

    [LibraryImport(Libc, SetLastError = true)]
    private static partial long syscall(long number, int dirfd, byte* path, ulong* how, nuint size);

    [LibraryImport(Libc, SetLastError = true)]
    private static partial int fchown(int fd, uint uid, uint gid);

    [LibraryImport(Libc, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int chown(string path, uint uid, uint gid);

    [LibraryImport(Libc, SetLastError = true)]
    private static partial int fsync(int fd);

    [LibraryImport(Libc, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int openat(int dirfd, string path, int flags, uint mode);

    [LibraryImport(Libc, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int mkdirat(int dirfd, string path, uint mode);

    [LibraryImport(Libc, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial nint readlinkat(int dirfd, string path, byte* buffer, nuint size);

    [LibraryImport(Libc, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int renameat(int olddirfd, string oldpath, int newdirfd, string newpath);

    [LibraryImport(Libc, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int symlinkat(string target, int newdirfd, string linkpath);

    [LibraryImport(Libc, SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int unlinkat(int dirfd, string path, int flags);

    [LibraryImport(Libc, SetLastError = true)]
    private static partial int fchmod(int fd, uint mode);

    [LibraryImport(Libc, SetLastError = true)]
    private static partial nint pread(int fd, byte* buffer, nuint count, long offset);

    [LibraryImport(Libc)]
    private static partial int close(int fd);

    [LibraryImport(Libc)]
    private static partial int sync_file_range(int fd, long offset, long nbytes, uint flags);

    [LibraryImport(Libc, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int getpwnam_r(string name, void* pwd, byte* buffer, nuint size, void** result);

    [LibraryImport(Libc, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int getgrnam_r(string name, void* grp, byte* buffer, nuint size, void** result);
}

/// <summary>The parts of <c>statx</c> the file layer compares. <see cref="Mode"/> holds the type bits too;
/// <see cref="Permissions"/> is the 12-bit permission value.</summary>
public sealed record FileStatus(uint Uid, uint Gid, int Mode, ulong Inode, long Size, long MtimeSeconds, uint MtimeNanoseconds)
{
    public int Type => Mode & Posix.TypeMask;
    public int Permissions => Mode & 0xFFF;
    public bool IsRegular => Type == Posix.TypeRegular;
    public bool IsDirectory => Type == Posix.TypeDirectory;
    public bool IsSymlink => Type == Posix.TypeSymlink;
    public bool IsSocket => Type == Posix.TypeSocket;

    /// <summary>The device the file is on (major in the high 32 bits); with <see cref="Inode"/>, its identity.</summary>
    public ulong Device { get; init; }

    /// <summary>The status change time (content, mode, owner, link count, rename): the kernel sets it, no caller can.</summary>
    public long CtimeSeconds { get; init; }

    public uint CtimeNanoseconds { get; init; }

    /// <summary>The change time as a UTC instant (100 ns ticks, as <see cref="DateTime"/> counts).</summary>
    public DateTime Ctime => DateTime.UnixEpoch.AddTicks(CtimeSeconds * TimeSpan.TicksPerSecond + CtimeNanoseconds / 100);

    /// <summary>lstat (a final symlink is reported as itself); null when nothing is at <paramref name="path"/>.</summary>
    public static FileStatus? Lstat(string path) => Posix.LStat(path);
}
