using System.Security.Cryptography;
using Microsoft.Win32.SafeHandles;

namespace Keyward.Sinks.Files;

/// <summary>
/// The one temp-file-and-rename writer of Keyward: every file Keyward writes (sinks through <see cref="AtomicFileWriter"/>,
/// and the CLI's own outputs, the check memory, bootstrap placeholders) goes through <see cref="Write"/>. A reader sees
/// the old file or the new one, never a mix, and a crash leaves no partial file: the bytes go to a temporary file
/// created with <c>O_CREAT | O_EXCL | O_NOFOLLOW</c> under an unguessable name (<c>.NAME.&lt;16 hex&gt;.kw-tmp</c>) in the
/// target's directory, given its owner and exactly its mode before the first byte, fsynced, renamed over the target,
/// and the directory is fsynced. The directory is reached with <see cref="SafePath"/>, so no symbolic link another
/// user made (and, under a root, no link at all) can redirect the write.
/// </summary>
public static class AtomicFile
{
    /// <summary>Writes <paramref name="content"/> at <paramref name="path"/> (absolute) with exactly
    /// <paramref name="mode"/>. Missing directories are created with exactly <paramref name="directoryMode"/> when it is
    /// given; otherwise a missing directory is an error. Paths under <paramref name="root"/> follow no link below it.</summary>
    /// <exception cref="IOException">The write failed (nothing was replaced; the temporary file is gone).</exception>
    /// <exception cref="Keyward.Core.Errors.KeywardException">KW0715/KW0716: a directory on the way is an untrusted link
    /// or can be written by every user.</exception>
    public static void Write(string path, byte[] content, int mode, int? directoryMode = null, string? root = null)
    {
        ArgumentNullException.ThrowIfNull(content);
        Write(path, stream => stream.Write(content), mode, directoryMode, root);
    }

    /// <summary><see cref="Write(string, byte[], int, int?, string?)"/> unless a regular file with exactly this content
    /// and mode is already there (read through the same safe walk, never through a link): files rewritten on every run
    /// (the check memory, bootstrap placeholders) then cost a read instead of two fsyncs. True when it wrote.</summary>
    public static bool WriteIfChanged(string path, byte[] content, int mode, int? directoryMode = null, string? root = null)
    {
        ArgumentNullException.ThrowIfNull(content);
        if (IsAlready(path, content, mode, root)) return false;
        Write(path, content, mode, directoryMode, root);
        return true;
    }

    private static bool IsAlready(string path, byte[] content, int mode, string? root)
    {
        using var dir = SafePath.OpenParent(path, root, null, out var name);
        if (dir is null) return false;
        var fd = Posix.TryOpenAt(dir.Fd, name, Posix.ORdOnly | Posix.ONoFollow | Posix.ONonBlock, 0, out _);
        if (fd < 0) return false;
        try
        {
            var st = Posix.FStat(fd, path);
            if (!st.IsRegular || st.Permissions != mode || st.Size != content.Length) return false;
            var existing = new byte[content.Length];
            var read = 0;
            while (read < existing.Length && Posix.PRead(fd, existing.AsSpan(read), read, path) is var n and > 0) read += n;
            var same = read == existing.Length && CryptographicOperations.FixedTimeEquals(existing, content);
            CryptographicOperations.ZeroMemory(existing);
            return same;
        }
        finally
        {
            Posix.Close(fd);
        }
    }

    /// <summary><see cref="Write(string, byte[], int, int?, string?)"/> for content produced as a stream (e.g. age
    /// encryption of a large file): <paramref name="write"/> writes into the temporary file, which is renamed over
    /// the target only after <paramref name="write"/> returned and the bytes are on disk.</summary>
    public static void Write(string path, Action<Stream> write, int mode, int? directoryMode = null, string? root = null)
    {
        ArgumentNullException.ThrowIfNull(write);
        var create = directoryMode is { } dm ? new DirectoryCreation(dm, null, null) : null;
        using var dir = SafePath.OpenParent(path, root, create, out var name)
            ?? throw new DirectoryNotFoundException($"the directory of '{path}' does not exist");
        WriteIn(dir, name, write, mode, null, null, null);
    }

    /// <summary>The write itself, in an already opened directory.</summary>
    internal static void WriteIn(DirectoryHandle dir, string name, Action<Stream> write, int mode, uint? uid, uint? gid, Action<string>? beforeRename)
    {
        var temp = TemporaryName(name);
        var fd = Posix.OpenAt(dir.Fd, temp, Posix.OWrOnly | Posix.OCreat | Posix.OExcl | Posix.ONoFollow, mode & 0x1FF, dir.Child(temp));
        var renamed = false;
        try
        {
            using (var handle = new SafeFileHandle(fd, ownsHandle: true))
            {
                if (uid is not null || gid is not null)
                    Posix.FChown(fd, uid ?? uint.MaxValue, gid ?? uint.MaxValue, dir.Child(temp));
                // Exactly the declared mode whatever the umask (and after chown, which clears set-id bits).
                Posix.FChmod(fd, mode, dir.Child(temp));
                using var stream = new WritebackStream(new FileStream(handle, FileAccess.Write, bufferSize: 0), fd);
                write(stream);
                stream.Flush(flushToDisk: true);
            }
            beforeRename?.Invoke(dir.Child(temp));
            Posix.RenameAt(dir.Fd, temp, name, dir.Child(name));
            renamed = true;
            dir.Fsync();
        }
        catch when (!renamed)
        {
            Posix.TryUnlinkAt(dir.Fd, temp);
            throw;
        }
    }

    /// <summary><c>.NAME.&lt;16 random hex&gt;.kw-tmp</c>: hidden, next to the target, unguessable.</summary>
    internal static string TemporaryName(string name) =>
        $".{name}.{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8))}.kw-tmp";
}
