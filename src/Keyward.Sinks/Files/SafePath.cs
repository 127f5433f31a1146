using Keyward.Core.Errors;

namespace Keyward.Sinks.Files;

/// <summary>An open directory reached by <see cref="SafePath"/>: every later call (stat, open, rename, link) is made
/// relative to this descriptor, so nothing renamed or relinked above it afterwards can redirect the write.</summary>
internal sealed class DirectoryHandle(int fd, string path) : IDisposable
{
    public int Fd { get; private set; } = fd;

    /// <summary>The directory's path as walked, for messages.</summary>
    public string Path { get; } = path;

    public string Child(string name) => System.IO.Path.Join(Path, name);

    /// <summary>Makes a create or rename in this directory durable (the walk's descriptors may be <c>O_PATH</c>, which
    /// cannot be fsynced, so the directory is opened once more for reading).</summary>
    public void Fsync()
    {
        var fd = Posix.OpenAt(Fd, ".", Posix.ORdOnly | Posix.ODirectory, 0, Path);
        try
        {
            Posix.Fsync(fd, Path);
        }
        finally
        {
            Posix.Close(fd);
        }
    }

    public void Dispose()
    {
        if (Fd < 0) return;
        Posix.Close(Fd);
        Fd = -1;
    }
}

/// <summary>Directories <see cref="SafePath"/> walked and found safe, by path (at most a few thousand: a long-lived
/// writer forgets them all when full and walks again).</summary>
internal sealed class WalkMemory
{
    private const int Capacity = 4096;
    private readonly Dictionary<string, (ulong Device, ulong Inode, int Mode, uint Uid)> _seen = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();

    public bool TryGet(string directory, out (ulong Device, ulong Inode, int Mode, uint Uid) identity)
    {
        lock (_lock) return _seen.TryGetValue(directory, out identity);
    }

    public void Remember(string directory, (ulong Device, ulong Inode, int Mode, uint Uid) identity)
    {
        lock (_lock)
        {
            if (_seen.Count >= Capacity) _seen.Clear();
            _seen[directory] = identity;
        }
    }
}

/// <summary>
/// The directories of one batch of read-only inspections (<see cref="AtomicFileWriter.Inspect(FileWriteRequest, InspectionBatch?)"/>),
/// each reached by <see cref="SafePath"/> once, at its first file, and kept open until the batch is disposed: 10,000 sinks
/// in four directories are four walks, not 10,000 (each an <c>openat2</c>, a <c>statx</c> and a <c>close</c>). Every file is
/// then looked at relative to its directory's descriptor, exactly as a walk of its own would have left it. The checks of the
/// walk (no link below <c>--root</c>, no other user's link, no world-writable directory) are made when a directory is first
/// reached; a directory changed afterwards (renamed away, made world-writable) is seen by the next batch, as a change made
/// just after an inspection would be. A directory whose walk fails is not kept: each file in it fails as before. A
/// missing directory is remembered as missing for the batch (its files are missing). At most
/// <see cref="DefaultCapacity"/> directories are held open; the files of any further directory are walked to one by one,
/// as without a batch. Thread-safe; dispose it only after every inspection that uses it has returned.
/// </summary>
public sealed class InspectionBatch : IDisposable
{
    /// <summary>Directories kept open at most (a descriptor each): beyond that, a file's directory is walked for it
    /// alone as without a batch, so a manifest spread over thousands of directories never runs out of descriptors.</summary>
    internal const int DefaultCapacity = 256;

    private readonly string? _root;
    private readonly WalkMemory _walked;
    private readonly int _capacity;
    private readonly Dictionary<string, DirectoryHandle?> _open = new(StringComparer.Ordinal);
    private readonly Dictionary<string, DirectoryHandle?>.AlternateLookup<ReadOnlySpan<char>> _lookup;
    private readonly Lock _lock = new();
    private bool _disposed;

    internal InspectionBatch(string? root, WalkMemory walked, int capacity = DefaultCapacity)
    {
        _root = root;
        _walked = walked;
        _capacity = capacity;
        _lookup = _open.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    /// <summary>How many directories the batch holds open now.</summary>
    internal int OpenCount
    {
        get
        {
            lock (_lock) return _open.Values.Count(h => h is not null);
        }
    }

    /// <summary>The open directory holding <paramref name="path"/> (a normalised absolute path), null when it is missing.
    /// <paramref name="name"/> is the last component. When <paramref name="owned"/> is false the handle belongs to the
    /// batch (the caller must not dispose it); when true it was walked for this call alone (the batch is full) and the
    /// caller disposes it.</summary>
    internal DirectoryHandle? Parent(string path, out string name, out bool owned)
    {
        var slash = path.LastIndexOf('/');
        var keyed = slash >= 0 && slash < path.Length - 1;
        var directory = keyed ? path.AsSpan(0, slash) : default;
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (keyed && _lookup.TryGetValue(directory, out var known))
            {
                name = path[(slash + 1)..];
                owned = false;
                return known;
            }
        }
        // First file of this directory: the full walk (outside the lock; another thread may walk it at the same time).
        var handle = SafePath.OpenParent(path, _root, null, _walked, out name);
        lock (_lock)
        {
            if (!_disposed && keyed && _open.Count < _capacity && _lookup.TryAdd(directory, handle))
            {
                owned = false;
                return handle;
            }
            if (!_disposed && keyed && _lookup.TryGetValue(directory, out var other))
            {
                handle?.Dispose();
                owned = false;
                return other;
            }
        }
        owned = true; // full, or a path with nothing after its last '/' (never after validation): this call's alone
        return handle;
    }

    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed) return;
            _disposed = true;
            foreach (var handle in _open.Values) handle?.Dispose();
            _open.Clear();
        }
    }
}

/// <summary>How the walk makes missing directories: exactly <paramref name="Mode"/> (fchmod, whatever the umask) and,
/// when given, owned by <paramref name="Uid"/>/<paramref name="Gid"/>.</summary>
internal sealed record DirectoryCreation(int Mode, uint? Uid, uint? Gid);

/// <summary>
/// Walks an absolute path one component at a time with <c>openat(…, O_NOFOLLOW | O_DIRECTORY)</c>, from an anchor that is
/// the <c>--root</c> directory when the path lies under it and <c>/</c> otherwise, and returns the directory holding the
/// last component. The rules (docs/sinks.md, "Symlinks and unsafe directories"):
/// <list type="bullet">
/// <item>Under a root nothing is followed: a symbolic link anywhere below the root is refused (KW0715), so no write can
/// leave the root, whatever the link points at.</item>
/// <item>Elsewhere a link is followed only when it is owned by root or by the user Keyward runs as (only they could
/// have made it: <c>/var/run → /run</c>, <c>/home → var/home</c> on ostree systems), and the walk goes on through the
/// link's own components under the same rules; another user's link is refused (KW0715).</item>
/// <item>A directory that every user may write and that is not sticky is refused (KW0716): anyone could rename the file
/// away and put their own in its place. A sticky one (<c>/tmp</c>) may be walked through, but only into an entry
/// owned by root or by Keyward's user, never into a directory another user planted there.</item>
/// <item>Directories the walk creates are made with <c>mkdirat</c> and opened with <c>O_NOFOLLOW</c>: if one is
/// swapped for a link in between, the walk fails (KW0715) instead of following it.</item>
/// </list>
/// </summary>
internal static class SafePath
{
    private const int MaxLinks = 40; // as the kernel's own limit (ELOOP)
    private const int StickyBit = 0x200;
    private const int OtherWrite = 0x2;

    /// <summary>Opens the directory that holds <paramref name="path"/>'s last component (returned in
    /// <paramref name="name"/>). Missing directories are created when <paramref name="create"/> is given; otherwise a
    /// missing directory gives null (nothing is there).</summary>
    public static DirectoryHandle? OpenParent(string path, string? root, DirectoryCreation? create, out string name) =>
        OpenParent(path, root, create, null, out name);

    /// <summary><see cref="OpenParent(string, string?, DirectoryCreation?, out string)"/> that remembers the directories it
    /// walked in <paramref name="walked"/>: the next time, when the directory is reached by <c>openat2</c> with
    /// <c>RESOLVE_NO_SYMLINKS</c> (no link anywhere, one system call) and is the same directory (device and inode) as
    /// the one walked and checked before, the component-by-component walk is skipped. A writer keeps one such memory,
    /// so a directory's checks are made once per writer (one apply), not once per file and question.</summary>
    public static DirectoryHandle? OpenParent(string path, string? root, DirectoryCreation? create, WalkMemory? walked, out string name)
    {
        var (anchor, relative) = Split(path, root);
        var parts = relative.Split('/', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 0 || parts[^1] is "." or "..")
            throw new ArgumentException($"'{path}' names no file", nameof(path));
        name = parts[^1];
        var directory = path[..path.LastIndexOf('/')];
        if (directory.Length == 0) directory = Slash;
        if (walked is not null && walked.TryGet(directory, out var identity))
        {
            var fd = Posix.OpenDirectoryNoSymlinks(directory);
            if (fd >= 0)
            {
                var st = Posix.FStat(fd, directory);
                // Mode and owner too: an inode number is reused as soon as a directory is removed, so a directory made again
                // in its place (perhaps world-writable) is only taken for the one checked when it also looks the same.
                if ((st.Device, st.Inode, st.Mode, st.Uid) == identity) return new DirectoryHandle(fd, directory);
                Posix.Close(fd);
            }
        }
        var handle = Walk(anchor, rooted: !ReferenceEquals(anchor, Slash), parts[..^1], create, path);
        if (handle is not null && walked is not null)
        {
            var st = Posix.FStat(handle.Fd, directory);
            walked.Remember(directory, (st.Device, st.Inode, st.Mode, st.Uid));
        }
        return handle;
    }

    /// <summary>lstat of <paramref name="path"/> reached by the safe walk; null when it (or a directory above it) is missing.</summary>
    public static FileStatus? LStat(string path, string? root, WalkMemory? walked = null)
    {
        using var dir = OpenParent(path, root, null, walked, out var name);
        return dir is null ? null : Posix.StatAt(dir.Fd, name, path);
    }

    private const string Slash = "/";

    private static (string Anchor, string Relative) Split(string path, string? root)
    {
        if (!path.StartsWith('/')) throw new ArgumentException($"'{path}' is not absolute", nameof(path));
        if (!string.IsNullOrEmpty(root))
        {
            var r = System.IO.Path.TrimEndingDirectorySeparator(root);
            if (r != "/" && path.Length > r.Length + 1 && path.StartsWith(r, StringComparison.Ordinal) && path[r.Length] == '/')
                return (r, path[(r.Length + 1)..]);
        }
        return (Slash, path[1..]);
    }

    private static DirectoryHandle? Walk(string anchor, bool rooted, string[] parts, DirectoryCreation? create, string target)
    {
        var euid = Posix.EffectiveUid;
        var stack = new List<(int Fd, FileStatus Status, string Path)>();
        var queue = new LinkedList<string>(parts);
        var links = 0;
        try
        {
            // The anchor itself (the --root directory, or /) is the caller's choice: opened as given, made if missing.
            if (rooted && !Directory.Exists(anchor))
            {
                if (create is null) return null; // nothing can be below a root that does not exist yet
                Directory.CreateDirectory(anchor, (UnixFileMode)(create.Mode & 0x1FF));
            }
            Push(stack, Posix.OpenAt(-100 /* AT_FDCWD */, anchor, Posix.OPath | Posix.ODirectory, 0, anchor), anchor);
            while (queue.First is { } first)
            {
                var c = first.Value;
                queue.RemoveFirst();
                if (c is "" or ".") continue;
                var (fd, status, here) = stack[^1];
                var path = here == "/" ? "/" + c : here + "/" + c;
                if (c == "..")
                {
                    // Only link text can bring "..": paths themselves are normalised. Never above the anchor.
                    if (stack.Count > 1)
                    {
                        Posix.Close(stack[^1].Fd);
                        stack.RemoveAt(stack.Count - 1);
                    }
                    continue;
                }
                // The common case in one call: an existing directory, opened without following a link.
                var next = Posix.TryOpenAt(fd, c, Posix.OPath | Posix.ODirectory | Posix.ONoFollow, 0, out var errno);
                if (next >= 0)
                {
                    FileStatus opened;
                    try
                    {
                        opened = Posix.FStat(next, path);
                        if (!opened.IsDirectory) throw new IOException($"'{path}' is not a directory"); // never expected with O_DIRECTORY
                        if (StickyShared(status) && opened.Uid != 0 && opened.Uid != euid)
                            throw AnotherUsersEntry(path, target, opened.Uid, here);
                    }
                    catch
                    {
                        Posix.Close(next);
                        throw;
                    }
                    Push(stack, next, path, opened);
                    continue;
                }
                if (!Posix.IsLinkError(errno) && errno != 2 /* ENOENT */) throw Posix.ErrorFor("open", path, errno);
                var st = Posix.StatAt(fd, c, path);
                if (st is null)
                {
                    if (create is null) return null;
                    var made = MakeDirectory(fd, c, path, create);
                    if (made < 0) queue.AddFirst(c); // someone else made it meanwhile: walk into it under the usual checks
                    else Push(stack, made, path);
                    continue;
                }
                if (StickyShared(status) && st.Uid != 0 && st.Uid != euid)
                    throw AnotherUsersEntry(path, target, st.Uid, here);
                if (st.IsSymlink)
                {
                    if (rooted)
                        throw ErrorCodes.SinkParentIsSymlink.Exception(
                            $"'{path}' (on the way to '{target}') is a symbolic link; under --root none is followed, so nothing is written outside '{anchor}'");
                    if (st.Uid != 0 && st.Uid != euid)
                        throw ErrorCodes.SinkParentIsSymlink.Exception(
                            $"'{path}' (on the way to '{target}') is a symbolic link owned by uid {st.Uid}; only links owned by root or by Keyward's user are followed");
                    if (++links > MaxLinks)
                        throw ErrorCodes.SinkParentIsSymlink.Exception($"more than {MaxLinks} symbolic links on the way to '{target}'");
                    var text = Posix.ReadLinkAt(fd, c, path);
                    var inner = text.Split('/', StringSplitOptions.RemoveEmptyEntries);
                    for (var i = inner.Length - 1; i >= 0; i--) queue.AddFirst(inner[i]);
                    if (text.StartsWith('/'))
                    {
                        foreach (var s in stack) Posix.Close(s.Fd);
                        stack.Clear();
                        Push(stack, Posix.OpenAt(-100, Slash, Posix.OPath | Posix.ODirectory, 0, Slash), Slash);
                    }
                    continue;
                }
                if (!st.IsDirectory)
                    throw new IOException($"'{path}' (on the way to '{target}') is not a directory");
                // A directory that was a link a moment ago, or the reverse: look again.
                queue.AddFirst(c);
                if (++links > MaxLinks)
                    throw ErrorCodes.SinkParentIsSymlink.Exception($"'{path}' keeps changing between a link and a directory");
            }
            var top = stack[^1];
            stack.RemoveAt(stack.Count - 1);
            return new DirectoryHandle(top.Fd, top.Path);
        }
        finally
        {
            foreach (var s in stack) Posix.Close(s.Fd);
        }
    }

    private static bool StickyShared(FileStatus directory) =>
        (directory.Permissions & (OtherWrite | StickyBit)) == (OtherWrite | StickyBit);

    private static KeywardException AnotherUsersEntry(string path, string target, uint uid, string shared) =>
        ErrorCodes.SinkUnsafeDirectory.Exception(
            $"'{path}' (on the way to '{target}') belongs to uid {uid} and sits in the shared directory '{shared}': another user made it, so they could swap what Keyward writes there");

    /// <summary>Adds an opened directory to the walk after checking that other users cannot replace its entries.</summary>
    private static void Push(List<(int Fd, FileStatus Status, string Path)> stack, int fd, string path, FileStatus? known = null)
    {
        FileStatus status;
        try
        {
            status = known ?? Posix.FStat(fd, path);
        }
        catch
        {
            Posix.Close(fd);
            throw;
        }
        stack.Add((fd, status, path));
        if ((status.Permissions & (OtherWrite | StickyBit)) == OtherWrite)
            throw ErrorCodes.SinkUnsafeDirectory.Exception(
                $"'{path}' has mode {Convert.ToString(status.Permissions, 8).PadLeft(4, '0')}: every user may write it and it is not sticky, so anyone could replace a file in it");
    }

    /// <summary>Creates and opens one directory; -1 when it appeared meanwhile (made by someone else: not ours to chown).</summary>
    private static int MakeDirectory(int parent, string name, string path, DirectoryCreation create)
    {
        var errno = Posix.MkdirAt(parent, name, create.Mode & 0x1FF);
        if (Posix.IsExists(errno)) return -1;
        if (errno != 0) throw Posix.ErrorFor("mkdir", path, errno);
        var fd = Posix.TryOpenAt(parent, name, Posix.ORdOnly | Posix.ODirectory | Posix.ONoFollow, 0, out errno);
        if (fd < 0)
        {
            if (Posix.IsLinkError(errno))
                throw ErrorCodes.SinkParentIsSymlink.Exception($"'{path}' became a symbolic link right after Keyward created it; nothing was written");
            throw Posix.ErrorFor("open", path, errno);
        }
        try
        {
            if (create.Uid is not null || create.Gid is not null)
                Posix.FChown(fd, create.Uid ?? uint.MaxValue, create.Gid ?? uint.MaxValue, path);
            // Exactly the declared mode whatever the umask (and after chown, which may clear set-id bits).
            Posix.FChmod(fd, create.Mode, path);
        }
        catch
        {
            Posix.Close(fd);
            throw;
        }
        return fd;
    }
}
