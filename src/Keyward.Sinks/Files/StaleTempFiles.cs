using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using Microsoft.Win32.SafeHandles;

namespace Keyward.Sinks.Files;

/// <summary>
/// Removes what a killed atomic write left next to a sink: <c>.NAME.&lt;16 hex&gt;.kw-tmp</c> (the temporary name
/// <see cref="AtomicFileWriter"/> writes and renames over NAME). Such a file holds a complete secret. It is overwritten
/// with zeros, synced and unlinked; a temporary symlink (persisted sinks' link) is only unlinked. Nothing else is
/// touched: only names that match that exact pattern for the given target's own file name, opened without following a
/// symlink. Call it only under the state lock (so no writer of this state is mid-write).
/// </summary>
public static partial class StaleTempFiles
{
    /// <summary>Removes the stale temporary files of <paramref name="targetPath"/>; returns how many.</summary>
    public static int Sweep(string targetPath) => Sweep([targetPath]);

    private static readonly Regex TempName = MakeTempName();

    [GeneratedRegex("^\\.(?<name>.+)\\.[0-9a-f]{16}\\.kw-tmp$", RegexOptions.CultureInvariant)]
    private static partial Regex MakeTempName();

    /// <summary>Removes the stale temporary files of every path in <paramref name="targetPaths"/>; returns how many. Each
    /// directory is listed once, however many sinks live in it (10,000 sinks in one directory are one listing, not
    /// 10,000).</summary>
    public static int Sweep(IEnumerable<string> targetPaths) => Sweep(targetPaths, null);

    /// <summary><see cref="Sweep(IEnumerable{string})"/> of the paths as <paramref name="onDisk"/> maps them (the
    /// <c>--root</c> prefix), mapped once per directory rather than once per path: the map must keep a path's file name
    /// and send paths of one directory to one directory, as prefixing a root does.</summary>
    public static int Sweep(IEnumerable<string> targetPaths, Func<string, string>? onDisk)
    {
        ArgumentNullException.ThrowIfNull(targetPaths);
        // Grouped by the text up to the last '/', which alone decides the directory: no string is made per path.
        var groups = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        var byPrefix = groups.GetAlternateLookup<ReadOnlySpan<char>>();
        foreach (var path in targetPaths)
        {
            var prefix = path.AsSpan(0, path.LastIndexOf('/') + 1);
            if (!byPrefix.TryGetValue(prefix, out var list)) byPrefix[prefix] = list = [];
            list.Add(path);
        }
        var removed = 0;
        foreach (var group in groups.Values)
        {
            var directory = Path.GetDirectoryName(onDisk is null ? group[0] : onDisk(group[0])) ?? "";
            if (directory.Length == 0 || !Directory.Exists(directory)) continue;
            List<string> candidates;
            try
            {
                candidates = Directory.EnumerateFileSystemEntries(directory, ".*.kw-tmp").ToList();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                continue;
            }
            if (candidates.Count == 0) continue;
            var names = group.Select(Path.GetFileName).Where(n => !string.IsNullOrEmpty(n)).ToHashSet(StringComparer.Ordinal);
            foreach (var path in candidates)
            {
                var match = TempName.Match(Path.GetFileName(path));
                if (!match.Success || !names.Contains(match.Groups["name"].Value)) continue;
                try
                {
                    var info = new FileInfo(path);
                    if (info.LinkTarget is null && (info.Attributes & FileAttributes.Directory) == 0) Wipe(path);
                    if ((info.Attributes & FileAttributes.Directory) != 0) continue;
                    File.Delete(path);
                    removed++;
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    // best effort: the next writer tries again
                }
            }
        }
        return removed;
    }

    /// <summary>Overwrites a regular file with zeros and syncs it, opened with O_NOFOLLOW (a symlink swapped in after
    /// the check fails to open instead of redirecting the overwrite).</summary>
    private static void Wipe(string path)
    {
        var noFollow = RuntimeInformation.ProcessArchitecture is Architecture.Arm64 or Architecture.Arm ? 0x8000 : 0x20000;
        var fd = open(path, 1 /* O_WRONLY */ | noFollow | 0x80000 /* O_CLOEXEC */, 0);
        if (fd < 0) return;
        using var handle = new SafeFileHandle(fd, ownsHandle: true);
        var length = RandomAccess.GetLength(handle);
        var zeros = new byte[Math.Min(length, 1 << 20)];
        for (long offset = 0; offset < length; offset += zeros.Length)
            RandomAccess.Write(handle, zeros.AsSpan(0, (int)Math.Min(zeros.Length, length - offset)), offset);
        _ = fsync(fd);
    }

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int open(string path, int flags, int mode);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int fsync(int fd);
}
