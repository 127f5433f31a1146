using System.Security.Cryptography;
using System.Text;
using Keyward.Core.Errors;
using Keyward.Sinks.Files;

namespace Keyward.Sinks;

/// <summary>
/// Writes sink files so that a reader sees either the old file or the new one, never a mix, and a crash leaves no
/// partial file: the bytes go to a temporary file created (O_EXCL, unguessable name) in the target's directory with the
/// final mode and owner already set, are fsynced, renamed over the target, and the directory is fsynced.
/// A file whose content has the same keyed fingerprint is never rewritten (same inode and mtime); only a wrong mode or
/// owner is corrected in place. A symlink at the target is refused: Keyward never writes through a link it did not make.
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
        return outcome;
    }

    /// <summary>The dry-run question: would <see cref="Write"/> change anything (content, mode, owner, symlink)?</summary>
    public bool IsCurrent(FileWriteRequest request) => Check(request) == FileCheck.Current;

    /// <summary><see cref="IsCurrent"/> with one more answer from the same <c>lstat</c>: nothing at the target at all
    /// (owners are not looked up then). Planning asks this once per sink instead of a separate existence check.</summary>
    public FileCheck Check(FileWriteRequest request)
    {
        Validate(request);
        var status = Posix.LStat(request.Path);
        if (status is null) return FileCheck.Missing;
        return IsCurrent(request, status) ? FileCheck.Current : FileCheck.Differs;
    }

    private bool IsCurrent(FileWriteRequest request, FileStatus status)
    {
        var (uid, gid) = ResolveOwner(request, warn: false);
        if (status.Type != Posix.TypeRegular) return false;
        if (status.Permissions != request.Mode) return false;
        if ((uid is { } u && status.Uid != u) || (gid is { } g && status.Gid != g)) return false;
        if (!SameContent(request, status)) return false;
        return request.SymlinkFrom is null || LinkIsCurrent(request.SymlinkFrom, request.Path);
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
    }

    private static FileStatus? TargetStatus(string path)
    {
        var status = Posix.LStat(path);
        if (status is null) return null;
        if (status.Type == Posix.TypeSymlink)
            throw ErrorCodes.SinkTargetIsSymlink.Exception($"'{path}' is a symbolic link; refusing to write through it");
        if (status.Type != Posix.TypeRegular)
            throw ErrorCodes.SinkTargetNotFile.Exception($"'{path}' exists and is not a regular file");
        return status;
    }

    private bool SameContent(FileWriteRequest request, FileStatus status)
    {
        if (status.Size != request.Content.Length) return false;
        byte[] existing;
        try
        {
            existing = File.ReadAllBytes(request.Path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
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

    private bool FixMetadata(FileWriteRequest request, FileStatus status, uint? uid, uint? gid)
    {
        var changed = false;
        try
        {
            if ((uid is { } u && status.Uid != u) || (gid is { } g && status.Gid != g))
            {
                Posix.Chown(request.Path, uid ?? uint.MaxValue, gid ?? uint.MaxValue);
                changed = true;
            }
            // After chown, which may clear set-id bits.
            if (changed || status.Permissions != request.Mode)
            {
                File.SetUnixFileMode(request.Path, (UnixFileMode)request.Mode);
                changed |= status.Permissions != request.Mode;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new KeywardException(ErrorCodes.SinkWriteFailed.With($"fixing mode or owner of '{request.Path}' failed: {IoErrorText.Describe(e)}"), e);
        }
        return changed;
    }

    private void WriteNew(FileWriteRequest request, uint? uid, uint? gid)
    {
        var directory = System.IO.Path.GetDirectoryName(request.Path)!;
        var temp = System.IO.Path.Combine(directory, $".{System.IO.Path.GetFileName(request.Path)}.{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8))}.kw-tmp");
        try
        {
            EnsureDirectory(directory, request.DirectoryMode, uid, gid);
            var options = new FileStreamOptions
            {
                Mode = FileMode.CreateNew, // O_CREAT | O_EXCL: never an existing file or a planted symlink
                Access = FileAccess.Write,
                Share = FileShare.None,
                UnixCreateMode = (UnixFileMode)(request.Mode & 0x1FF),
            };
            using (var stream = new FileStream(temp, options))
            {
                if (uid is not null || gid is not null)
                    Posix.FChown(stream.SafeFileHandle, uid ?? uint.MaxValue, gid ?? uint.MaxValue);
                // Exactly the declared mode whatever the umask (and after chown, which clears set-id bits).
                File.SetUnixFileMode(stream.SafeFileHandle, (UnixFileMode)request.Mode);
                stream.Write(request.Content);
                stream.Flush(flushToDisk: true);
            }
            BeforeRename?.Invoke(temp);
            Posix.Rename(temp, request.Path);
            Posix.FsyncDirectory(directory);
        }
        catch (Exception e)
        {
            TryDelete(temp);
            if (e is IOException or UnauthorizedAccessException)
                throw new KeywardException(ErrorCodes.SinkWriteFailed.With($"writing '{request.Path}' failed: {IoErrorText.Describe(e)}"), e);
            throw;
        }
    }

    /// <summary>Creates the missing directories top-down with exactly <paramref name="mode"/> and the sink's owner;
    /// existing directories are left as they are.</summary>
    private static void EnsureDirectory(string directory, int mode, uint? uid, uint? gid)
    {
        var missing = new Stack<string>();
        for (var d = directory; d is not null && Posix.LStat(d) is null; d = System.IO.Path.GetDirectoryName(d))
            missing.Push(d);
        while (missing.TryPop(out var d))
        {
            Directory.CreateDirectory(d, (UnixFileMode)(mode & 0x1FF));
            if (uid is not null || gid is not null)
                Posix.Chown(d, uid ?? uint.MaxValue, gid ?? uint.MaxValue);
            File.SetUnixFileMode(d, (UnixFileMode)mode);
        }
    }

    private static bool LinkIsCurrent(string link, string target)
    {
        var status = Posix.LStat(link);
        return status is not null && status.Type == Posix.TypeSymlink
            && string.Equals(new FileInfo(link).LinkTarget, LinkText(link, target), StringComparison.Ordinal);
    }

    /// <summary>Links are relative (<c>../../../persist/root/.config/op/token</c>) so they stay right when the tree is
    /// built under --root and later mounted at /.</summary>
    private static string LinkText(string link, string target) =>
        System.IO.Path.GetRelativePath(System.IO.Path.GetDirectoryName(link)!, target);

    /// <summary>Makes <c>SymlinkFrom</c> a symlink to <c>Path</c>, replacing anything but a directory atomically.</summary>
    private static bool EnsureLink(FileWriteRequest request, uint? uid, uint? gid)
    {
        var link = request.SymlinkFrom!;
        if (LinkIsCurrent(link, request.Path)) return false;
        var status = Posix.LStat(link);
        if (status is not null && status.Type == Posix.TypeDirectory)
            throw ErrorCodes.SinkLinkConflict.Exception($"runtime path '{link}' is a directory; cannot link it to '{request.Path}'");
        var directory = System.IO.Path.GetDirectoryName(link)!;
        var temp = System.IO.Path.Combine(directory, $".{System.IO.Path.GetFileName(link)}.{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8))}.kw-tmp");
        try
        {
            EnsureDirectory(directory, request.DirectoryMode, uid, gid);
            File.CreateSymbolicLink(temp, LinkText(link, request.Path));
            Posix.Rename(temp, link);
            Posix.FsyncDirectory(directory);
        }
        catch (Exception e)
        {
            TryDelete(temp);
            if (e is IOException or UnauthorizedAccessException)
                throw new KeywardException(ErrorCodes.SinkWriteFailed.With($"linking '{link}' to '{request.Path}' failed: {IoErrorText.Describe(e)}"), e);
            throw;
        }
        return true;
    }

    private (uint? Uid, uint? Gid) ResolveOwner(FileWriteRequest request, bool warn)
    {
        if (request.Owner is null && request.Group is null) return (null, null);
        if (!_isRoot)
        {
            if (warn && !_warnedNotRoot)
            {
                _warnedNotRoot = true;
                _warn?.Invoke($"not running as root: sink owner and group are not applied (first: '{request.Path}' wants {request.Owner ?? ""}:{request.Group ?? ""})");
            }
            return (null, null);
        }
        return (Id(request.Owner, group: false), Id(request.Group, group: true));
    }

    private static uint? Id(string? name, bool group)
    {
        if (name is null) return null;
        if (uint.TryParse(name, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var numeric))
            return numeric;
        return (group ? Posix.GroupId(name) : Posix.UserId(name))
            ?? throw ErrorCodes.SinkUnknownOwner.Exception($"{(group ? "group" : "user")} '{name}' does not exist on this host");
    }

    private static void TryDelete(string path)
    {
        try
        {
            if (Posix.LStat(path) is not null) File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // best effort: the original failure is what matters
        }
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
