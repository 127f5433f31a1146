using System.Security.Cryptography;
using System.Text;
using Keyward.Core.Errors;
using Keyward.Sinks.Files;
using Microsoft.Win32.SafeHandles;

namespace Keyward.Sinks;

/// <summary>
/// Writes sink files so that a reader sees either the old file or the new one, never a mix, and a crash leaves no
/// partial file (through <see cref="AtomicFile"/>: a temporary file created O_EXCL under an unguessable name in the
/// target's directory with the final mode and owner already set, fsynced, renamed over the target, directory fsynced).
/// A file whose content is the same is never rewritten (same inode and mtime); only a wrong mode or owner is corrected
/// in place. A symlink at the target is refused: Keyward never writes through a link it did not make; directories on
/// the way are walked with <see cref="SafePath"/> (no link below <see cref="Root"/>, no other user's link, no
/// world-writable directory).
/// </summary>
public sealed class AtomicFileWriter
{
    private readonly Action<string>? _warn;
    private readonly bool _isRoot;
    private bool _warnedNotRoot;

    /// <param name="fingerprint">The store's keyed fingerprint; compares content without keeping or printing it.</param>
    /// <param name="warn">Receives warnings (e.g. owner not applied because Keyward is not root); once each.</param>
    public AtomicFileWriter(Func<ReadOnlySpan<byte>, string> fingerprint, Action<string>? warn = null)
        : this(fingerprint, warn, Posix.IsRoot)
    {
    }

    internal AtomicFileWriter(Func<ReadOnlySpan<byte>, string> fingerprint, Action<string>? warn, bool isRoot)
    {
        ArgumentNullException.ThrowIfNull(fingerprint); // kept in the signature for callers; content is compared in constant time directly
        _warn = warn;
        _isRoot = isRoot;
    }

    /// <summary>Test seam: called with the temporary file's path after it is written and before the rename.</summary>
    internal Action<string>? BeforeRename { get; set; }

    /// <summary>The <c>--root</c> the paths were built under: no symbolic link below it is followed, and owner names
    /// resolve with its own <c>/etc/passwd</c> when it has one (<see cref="Files.Accounts"/>). Null: the running system.</summary>
    public string? Root
    {
        get => _root;
        init => (_root, _accounts) = (value, Files.Accounts.For(value));
    }

    /// <summary>The clock file times are compared with (<see cref="Unchanged"/>): the real one. A test moves it forward to
    /// make the files it just wrote look old.</summary>
    public TimeProvider WallClock { get; init; } = TimeProvider.System;

    /// <summary>How recent a change time must be to prove nothing: file times come from the kernel's coarse clock (a tick
    /// behind the real one) and are truncated to the file system's granularity (up to 2 s), so a change in the same
    /// window as an earlier look could leave the same change time.</summary>
    public static readonly TimeSpan RacyWindow = TimeSpan.FromSeconds(3);

    private readonly string? _root;
    private readonly Accounts _accounts = Files.Accounts.System;
    private readonly WalkMemory _walked = new();

    public FileWriteOutcome Write(FileWriteRequest request)
    {
        Validate(request);
        var (uid, gid) = ResolveOwner(request, warn: true);
        var status = TargetStatus(request.Path);
        FileWriteOutcome outcome;
        if (status is null)
        {
            WriteNew(request, uid, gid);
            outcome = FileWriteOutcome.Created;
        }
        else if (!SameContent(request, status))
        {
            WriteNew(request, uid, gid);
            outcome = FileWriteOutcome.Updated;
        }
        else
        {
            outcome = FixMetadata(request, status, uid, gid) ? FileWriteOutcome.Updated : FileWriteOutcome.Unchanged;
        }

        if (request.SymlinkFrom is not null && EnsureLink(request, uid, gid) && outcome == FileWriteOutcome.Unchanged)
            outcome = FileWriteOutcome.Updated;
        if (request.EnforceDirectoryMode && FixDirectoryMode(request) && outcome == FileWriteOutcome.Unchanged)
            outcome = FileWriteOutcome.Updated;
        return outcome;
    }

    /// <summary>The dry-run question: would <see cref="Write"/> change anything (content, mode, owner, symlink)?</summary>
    public bool IsCurrent(FileWriteRequest request) => Check(request) == FileCheck.Current;

    /// <summary><see cref="IsCurrent"/> with one more answer from the same <c>lstat</c>: nothing at the target at all
    /// (owners are not looked up then). Planning asks this once per sink instead of a separate existence check.</summary>
    public FileCheck Check(FileWriteRequest request)
    {
        var inspection = Inspect(request);
        return inspection.Has(FileDifferences.Missing) ? FileCheck.Missing : inspection.IsCurrent ? FileCheck.Current : FileCheck.Differs;
    }

    /// <summary>Every way the file (and, for a persisted sink, its directory and runtime link) differs from what
    /// <see cref="Write"/> would leave behind: the one answer plan, apply and check share. Reads the content only when
    /// it is a regular file of the right length.</summary>
    public FileInspection Inspect(FileWriteRequest request) => Inspect(request, null);

    /// <summary>Directories kept open for a batch of <see cref="Inspect(FileWriteRequest, InspectionBatch?)"/> calls (one
    /// walk per directory instead of one per file); dispose it after the last of them.</summary>
    public InspectionBatch BeginInspections() => new(_root, _walked);

    /// <summary><see cref="BeginInspections()"/> holding at most <paramref name="capacity"/> directories open (tests).</summary>
    internal InspectionBatch BeginInspections(int capacity) => new(_root, _walked, capacity);

    /// <summary><see cref="Inspect(FileWriteRequest)"/> with the file's directory taken from <paramref name="batch"/>
    /// (walked once for the whole batch) when one is given.</summary>
    public FileInspection Inspect(FileWriteRequest request, InspectionBatch? batch)
    {
        Validate(request);
        // One walk to the directory serves the lstat and the read of the content (it used to be walked for each).
        FileStatus? status;
        var d = FileDifferences.None;
        var lookedAt = WallClock.GetUtcNow().UtcDateTime;
        string name;
        var owned = true;
        var dir = batch is null ? SafePath.OpenParent(request.Path, _root, null, _walked, out name) : batch.Parent(request.Path, out name, out owned);
        try
        {
            status = dir is null ? null : Posix.StatAt(dir.Fd, name, request.Path);
            if (status is null)
                return new FileInspection(FileDifferences.Missing | LinkDifferences(request), null, null, null,
                    request.EnforceDirectoryMode ? DirectoryModeOf(request) : null, LinkTargetOf(request), OwnerVerified: false);
            if (status.Type != Posix.TypeRegular) d |= FileDifferences.NotRegularFile;
            else if (!SameContentAt(request, status, dir!, name)) d |= FileDifferences.Content;
        }
        finally
        {
            if (owned) dir?.Dispose(); // the batch's own are closed with the batch
        }
        var (uid, gid) = ResolveOwner(request, warn: false);
        if (status.Permissions != request.Mode) d |= FileDifferences.Mode;
        if (uid is { } u && status.Uid != u) d |= FileDifferences.Owner;
        if (gid is { } g && status.Gid != g) d |= FileDifferences.Group;
        var directoryMode = request.EnforceDirectoryMode ? DirectoryModeOf(request) : null;
        if (request.EnforceDirectoryMode && directoryMode != request.DirectoryMode) d |= FileDifferences.DirectoryMode;
        var link = LinkDifferences(request);
        d |= link;
        return new FileInspection(d, status.Permissions, status.Uid, status.Gid, directoryMode, link == FileDifferences.None ? null : LinkTargetOf(request),
            OwnerVerified: _isRoot || (request.Owner is null && request.Group is null))
        {
            Target = status,
            LookedAt = lookedAt,
        };
    }

    /// <summary>
    /// True when one <c>lstat</c> proves the regular file at <paramref name="path"/> has not changed since
    /// <paramref name="earlier"/> looked at it (so its answer still holds, content included): the same device, inode,
    /// type, mode, owner, size, modification and change time, and a change time older than the look by more than
    /// <see cref="RacyWindow"/>. The change time is set by the kernel at every write, truncate, chmod, chown and rename
    /// and no caller can set it, so a change after the look leaves a later one; git's "racily clean" rule covers a
    /// change in the same clock tick as the look: a file changed that recently is never proved unchanged (read it
    /// again). False whenever in doubt (nothing there, not a regular file, no earlier status, a failed look). Assumes
    /// the file system's clock is this host's (true of local file systems; a network file system's server clock far
    /// behind this one, or attributes it caches, could make a change in the same tick as the look go unseen until the
    /// next full inspection).
    /// </summary>
    public bool Unchanged(string path, FileInspection earlier)
    {
        ArgumentNullException.ThrowIfNull(earlier);
        if (earlier.Target is not { IsRegular: true } before || !System.IO.Path.IsPathFullyQualified(path)) return false;
        if (before.Ctime >= earlier.LookedAt - RacyWindow) return false;
        try
        {
            using var dir = SafePath.OpenParent(path, _root, null, _walked, out var name);
            return dir is not null && Posix.StatAt(dir.Fd, name, path) == before;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or KeywardException)
        {
            return false;
        }
    }

    private int? DirectoryModeOf(FileWriteRequest request) =>
        SafePath.LStat(System.IO.Path.GetDirectoryName(request.Path)!, _root, _walked) is { IsDirectory: true } ds ? ds.Permissions : null;

    private FileDifferences LinkDifferences(FileWriteRequest request)
    {
        if (request.SymlinkFrom is null || LinkIsCurrent(request.SymlinkFrom, request.Path)) return FileDifferences.None;
        return SafePath.LStat(request.SymlinkFrom, _root, _walked) is null ? FileDifferences.LinkMissing : FileDifferences.LinkWrong;
    }

    private string? LinkTargetOf(FileWriteRequest request)
    {
        if (request.SymlinkFrom is not { } link) return null;
        using var dir = SafePath.OpenParent(link, _root, null, _walked, out var name);
        return dir is not null && Posix.StatAt(dir.Fd, name, link) is { IsSymlink: true } ? Posix.ReadLinkAt(dir.Fd, name, link) : null;
    }

    private static void Validate(FileWriteRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (!System.IO.Path.IsPathFullyQualified(request.Path))
            throw new ArgumentException($"sink path '{request.Path}' must be absolute", nameof(request));
        if (request.SymlinkFrom is not null && !System.IO.Path.IsPathFullyQualified(request.SymlinkFrom))
            throw new ArgumentException($"symlink path '{request.SymlinkFrom}' must be absolute", nameof(request));
        if (request.Mode is < 0 or > 0xFFF || request.DirectoryMode is < 0 or > 0xFFF)
            throw new ArgumentOutOfRangeException(nameof(request), "modes are 12-bit permission values (0 to 07777)");
        foreach (var p in request.SymlinkFrom is null ? [request.Path] : new[] { request.Path, request.SymlinkFrom })
            if (!Normalised(p))
                throw new ArgumentException($"path '{p}' is not normalised (empty, '.' or '..' component, trailing '/' or NUL)", nameof(request));
    }

    /// <summary>No NUL, and no component after the first '/' that is empty, "." or "..".</summary>
    internal static bool Normalised(string p)
    {
        if (p.Contains('\0', StringComparison.Ordinal)) return false;
        var first = p.IndexOf('/', StringComparison.Ordinal);
        if (first < 0) return true;
        var rest = p.AsSpan(first + 1);
        while (true)
        {
            var end = rest.IndexOf('/');
            var component = end < 0 ? rest : rest[..end];
            if (component.IsEmpty || component is "." || component is "..") return false;
            if (end < 0) return true;
            rest = rest[(end + 1)..];
        }
    }

    private FileStatus? TargetStatus(string path)
    {
        var status = SafePath.LStat(path, _root, _walked);
        if (status is null) return null;
        if (status.Type == Posix.TypeSymlink)
            throw ErrorCodes.SinkTargetIsSymlink.Exception($"'{path}' is a symbolic link; refusing to write through it");
        if (status.Type != Posix.TypeRegular)
            throw ErrorCodes.SinkTargetNotFile.Exception($"'{path}' exists and is not a regular file");
        return status;
    }

    private bool SameContent(FileWriteRequest request, FileStatus status) => SameContent(request, status, null, null);

    /// <summary>Files up to this size are read into a stack buffer (zeroed after the comparison, as the heap one is).</summary>
    private const int StackReadLimit = 2048;

    /// <summary><see cref="SameContent(FileWriteRequest, FileStatus, DirectoryHandle?, string?)"/> for an inspection, in the
    /// directory already open: the same opening (<c>O_NOFOLLOW | O_NONBLOCK</c>, then <c>fstat</c>: a regular file of the
    /// expected length, else "differs") and constant-time comparison, with no handle object and, for a small file, no
    /// buffer on the heap.</summary>
    private static bool SameContentAt(FileWriteRequest request, FileStatus status, DirectoryHandle dir, string name)
    {
        var length = request.Content.Length;
        if (status.Size != length) return false;
        // Gone, a link, or not readable (mode 0200 and the like, not root: its content cannot be read, so it differs, as
        // the writer's own read of it finds).
        var fd = Posix.TryOpenAt(dir.Fd, name, Posix.ORdOnly | Posix.ONoFollow | Posix.ONonBlock, 0, out _);
        if (fd < 0) return false;
        Span<byte> buffer = length <= StackReadLimit ? stackalloc byte[StackReadLimit] : new byte[length];
        buffer = buffer[..length];
        try
        {
            if (!Posix.TryFStatRegular(fd, out var size) || size != length) return false; // not a regular file now, or changed since the lstat
            var read = 0;
            while (read < length)
            {
                var n = Posix.PRead(fd, buffer[read..], read, request.Path);
                if (n == 0) return false; // shrank meanwhile
                read += n;
            }
            // Same length (checked above), so a constant-time comparison of the bytes themselves says what comparing
            // keyed fingerprints of both would, without two HMACs per file.
            return CryptographicOperations.FixedTimeEquals(buffer, request.Content);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false; // unreadable: rewrite it
        }
        finally
        {
            CryptographicOperations.ZeroMemory(buffer);
            Posix.Close(fd);
        }
    }

    /// <param name="dir">The directory already walked to, holding the file as <paramref name="name"/> (null: walk again).</param>
    private bool SameContent(FileWriteRequest request, FileStatus status, DirectoryHandle? dir, string? name)
    {
        if (status.Size != request.Content.Length) return false;
        var existing = new byte[request.Content.Length];
        try
        {
            FileStatus? opened;
            using var handle = dir is null ? OpenExisting(request.Path, out opened) : OpenExistingAt(dir, name!, request.Path, out opened);
            if (handle is null || opened!.Size != existing.Length) return false; // gone, or changed since the lstat
            var fd = (int)handle.DangerousGetHandle();
            var read = 0;
            while (read < existing.Length)
            {
                var n = Posix.PRead(fd, existing.AsSpan(read), read, request.Path);
                if (n == 0) return false; // shrank meanwhile
                read += n;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            CryptographicOperations.ZeroMemory(existing);
            return false; // unreadable: rewrite it
        }
        try
        {
            // Same length (checked above), so a constant-time comparison of the bytes themselves says what comparing
            // keyed fingerprints of both would, without two HMACs per file.
            return CryptographicOperations.FixedTimeEquals(existing, request.Content);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(existing);
        }
    }

    /// <summary>The existing regular file at <paramref name="path"/>, opened through the safe walk with
    /// <c>O_NOFOLLOW</c> (never a link) and <c>O_NONBLOCK</c> (never blocks on a FIFO swapped in); null when it is gone
    /// or is not a regular file.</summary>
    private SafeFileHandle? OpenExisting(string path) => OpenExisting(path, out _);

    private SafeFileHandle? OpenExisting(string path, out FileStatus? opened)
    {
        opened = null;
        using var dir = SafePath.OpenParent(path, _root, null, _walked, out var name);
        return dir is null ? null : OpenExistingAt(dir, name, path, out opened);
    }

    private static SafeFileHandle? OpenExistingAt(DirectoryHandle dir, string name, string path, out FileStatus? opened)
    {
        opened = null;
        var fd = Posix.TryOpenAt(dir.Fd, name, Posix.ORdOnly | Posix.ONoFollow | Posix.ONonBlock, 0, out var errno);
        // Mode 0200 and the like: a non-root owner may write but not read its own file; metadata can still be fixed.
        if (fd < 0 && errno == 13 /* EACCES */) fd = Posix.TryOpenAt(dir.Fd, name, Posix.OWrOnly | Posix.ONoFollow | Posix.ONonBlock, 0, out errno);
        if (fd < 0) return errno is 2 or 40 /* ENOENT, ELOOP */ ? null : throw Posix.ErrorFor("open", path, errno);
        var handle = new SafeFileHandle(fd, ownsHandle: true);
        opened = Posix.FStat(fd, path);
        if (!opened.IsRegular)
        {
            handle.Dispose();
            return null;
        }
        return handle;
    }

    private bool FixMetadata(FileWriteRequest request, FileStatus status, uint? uid, uint? gid)
    {
        var changed = false;
        var ownerDiffers = (uid is { } u && status.Uid != u) || (gid is { } g && status.Gid != g);
        if (!ownerDiffers && status.Permissions == request.Mode) return false;
        try
        {
            // Through a descriptor opened without following links: the file checked is the file changed.
            using var handle = OpenExisting(request.Path)
                ?? throw new IOException($"'{request.Path}' changed while Keyward fixed its mode and owner");
            var fd = (int)handle.DangerousGetHandle();
            if (ownerDiffers)
            {
                Posix.FChown(fd, uid ?? uint.MaxValue, gid ?? uint.MaxValue, request.Path);
                changed = true;
            }
            // After chown, which may clear set-id bits.
            if (changed || status.Permissions != request.Mode)
            {
                Posix.FChmod(fd, request.Mode, request.Path);
                changed |= status.Permissions != request.Mode;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new KeywardException(ErrorCodes.SinkWriteFailed.With($"fixing mode or owner of '{request.Path}' failed: {IoErrorText.Describe(e)}"), e);
        }
        return changed;
    }

    /// <summary>A persisted sink's storage directory holds nothing but what Keyward put there: its mode is the declared
    /// one even when the directory already existed (a rebuilt image or a hand-made <c>mkdir</c> leaves 0755). Changed
    /// through a descriptor from the safe walk, so a link swapped in cannot redirect the chmod.</summary>
    private bool FixDirectoryMode(FileWriteRequest request)
    {
        if (DirectoryModeOf(request) is not { } mode || mode == request.DirectoryMode) return false;
        try
        {
            using var dir = SafePath.OpenParent(request.Path, _root, null, _walked, out _)
                ?? throw new IOException($"the directory of '{request.Path}' disappeared");
            var fd = Posix.OpenAt(dir.Fd, ".", Posix.ORdOnly | Posix.ODirectory, 0, dir.Path);
            try
            {
                Posix.FChmod(fd, request.DirectoryMode, dir.Path);
            }
            finally
            {
                Posix.Close(fd);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new KeywardException(ErrorCodes.SinkWriteFailed.With($"setting the mode of the directory of '{request.Path}' failed: {IoErrorText.Describe(e)}"), e);
        }
        return true;
    }

    private void WriteNew(FileWriteRequest request, uint? uid, uint? gid)
    {
        try
        {
            // Missing directories are created top-down with exactly DirectoryMode and the sink's owner; existing ones are
            // left as they are (but walked safely: see SafePath).
            using var dir = SafePath.OpenParent(request.Path, _root, new DirectoryCreation(request.DirectoryMode, uid, gid), _walked, out var name)!;
            AtomicFile.WriteIn(dir, name, stream => stream.Write(request.Content), request.Mode, uid, gid, BeforeRename);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new KeywardException(ErrorCodes.SinkWriteFailed.With($"writing '{request.Path}' failed: {IoErrorText.Describe(e)}"), e);
        }
    }

    private bool LinkIsCurrent(string link, string target)
    {
        using var dir = SafePath.OpenParent(link, _root, null, _walked, out var name);
        var status = dir is null ? null : Posix.StatAt(dir.Fd, name, link);
        if (status is null || !status.IsSymlink) return false;
        // Keyward's own links are relative; an absolute link naming the storage path itself is as good.
        var text = Posix.ReadLinkAt(dir!.Fd, name, link);
        return string.Equals(text, LinkText(link, target), StringComparison.Ordinal) || string.Equals(text, target, StringComparison.Ordinal);
    }

    /// <summary>Links are relative (<c>../../../persist/root/.config/op/token</c>) so they stay right when the tree is
    /// built under --root and later mounted at /.</summary>
    private static string LinkText(string link, string target) =>
        System.IO.Path.GetRelativePath(System.IO.Path.GetDirectoryName(link)!, target);

    /// <summary>Makes <c>SymlinkFrom</c> a symlink to <c>Path</c>, replacing anything but a directory atomically.</summary>
    private bool EnsureLink(FileWriteRequest request, uint? uid, uint? gid)
    {
        var link = request.SymlinkFrom!;
        if (LinkIsCurrent(link, request.Path)) return false;
        try
        {
            using var dir = SafePath.OpenParent(link, _root, new DirectoryCreation(request.DirectoryMode, uid, gid), _walked, out var name)!;
            var status = Posix.StatAt(dir.Fd, name, link);
            if (status is not null && status.IsDirectory)
                throw ErrorCodes.SinkLinkConflict.Exception($"runtime path '{link}' is a directory; cannot link it to '{request.Path}'");
            var temp = AtomicFile.TemporaryName(name);
            Posix.SymlinkAt(LinkText(link, request.Path), dir.Fd, temp, dir.Child(temp));
            try
            {
                Posix.RenameAt(dir.Fd, temp, name, link);
            }
            catch
            {
                Posix.TryUnlinkAt(dir.Fd, temp);
                throw;
            }
            dir.Fsync();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new KeywardException(ErrorCodes.SinkWriteFailed.With($"linking '{link}' to '{request.Path}' failed: {IoErrorText.Describe(e)}"), e);
        }
        return true;
    }

    private (uint? Uid, uint? Gid) ResolveOwner(FileWriteRequest request, bool warn)
    {
        if (!_isRoot)
        {
            if (request.Owner is null && request.Group is null) return (null, null);
            if (warn && !_warnedNotRoot)
            {
                _warnedNotRoot = true;
                _warn?.Invoke($"not running as root: sink owner and group are not applied (first: '{request.Path}' wants {request.Owner ?? ""}:{request.Group ?? ""})");
            }
            return (null, null);
        }
        // No declared owner means the owner a new file gets: Keyward's own user. So an existing file ends up with the
        // same owner whether or not its content had to change (a matching file owned by someone else is taken back).
        return (Id(request.Owner, group: false) ?? Posix.EffectiveUid, Id(request.Group, group: true));
    }

    private uint? Id(string? name, bool group)
    {
        if (name is null) return null;
        return (group ? _accounts.GroupId(name) : _accounts.UserId(name))
            ?? throw ErrorCodes.SinkUnknownOwner.Exception(
                $"{(group ? "group" : "user")} '{name}' does not exist {(_accounts.FromRootFiles ? $"in {_root}/etc/{(group ? "group" : "passwd")}" : "on this host")}");
    }
}

/// <summary>What <see cref="AtomicFileWriter.Check"/> found at a sink's target.</summary>
public enum FileCheck
{
    /// <summary>Nothing at the path (not even a dangling link).</summary>
    Missing,
    /// <summary>A regular file with the same content, mode, owner and runtime link: nothing to write.</summary>
    Current,
    /// <summary>Something is there, but writing would change it.</summary>
    Differs,
}
