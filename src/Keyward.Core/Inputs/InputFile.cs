using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Keyward.Core.Inputs;

/// <summary>Why an input file was not read.</summary>
public enum InputFileProblem
{
    None,
    Missing,
    NotRegular,
    TooLarge,
    Unreadable,
}

/// <summary>The one reader for files a user points Keyward at (the manifest, external credential sources, JSON token
/// maps): bounded in size, regular files only. Without it <c>source: { file: /dev/zero }</c> read until memory ran out
/// and a FIFO made <c>plan</c> wait forever in open(2). The file is opened non-blocking (a FIFO opens at once), then
/// checked with statx on the open descriptor (no window between the check and the read), then read up to the limit.</summary>
public static partial class InputFile
{
    /// <summary>The largest manifest read: a 10,000-credential manifest is about 2 MB.</summary>
    public const long MaxManifestBytes = 16L << 20;

    /// <summary>The largest external source (a token file, a JSON map of tokens).</summary>
    public const long MaxSourceBytes = 1L << 20;

    private const int ORdOnly = 0, ONonBlock = 0x800, OCloExec = 0x80000;
    private const int AtEmptyPath = 0x1000;
    private const uint StatxBasicStats = 0x7ff;
    private const int ENOENT = 2, ENOTDIR = 20, EACCES = 13, EPERM = 1;

    /// <summary>Reads the whole file, or says why not (<paramref name="detail"/> names the file type or the OS error).</summary>
    public static InputFileProblem TryRead(string path, long maxBytes, out byte[] bytes, out string detail)
    {
        bytes = [];
        detail = "";
        var fd = open(path, ORdOnly | ONonBlock | OCloExec);
        if (fd < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            detail = Marshal.GetPInvokeErrorMessage(errno);
            return errno is ENOENT or ENOTDIR ? InputFileProblem.Missing : InputFileProblem.Unreadable;
        }
        using var handle = new SafeFileHandle(fd, ownsHandle: true);
        var stat = new byte[256];
        if (statx(fd, "", AtEmptyPath, StatxBasicStats, stat) != 0)
        {
            detail = Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError());
            return InputFileProblem.Unreadable;
        }
        var mode = MemoryMarshal.Read<ushort>(stat.AsSpan(28));
        var size = MemoryMarshal.Read<long>(stat.AsSpan(40));
        if ((mode & 0xF000) != 0x8000)
        {
            detail = (mode & 0xF000) switch
            {
                0x4000 => "a directory",
                0x1000 => "a FIFO (named pipe)",
                0x2000 => "a character device",
                0x6000 => "a block device",
                0xC000 => "a socket",
                _ => "not a regular file",
            };
            return InputFileProblem.NotRegular;
        }
        if (size > maxBytes)
        {
            detail = $"{size} bytes, more than the limit of {maxBytes}";
            return InputFileProblem.TooLarge;
        }
        // The size can change between statx and the reads (a file being written): read at most one byte past the limit.
        // The buffer is the size statx gave, so an unchanged file is read straight into the array handed back (no copy
        // of a large manifest, no second array to clear); one byte more, read at its end, says whether it grew.
        var buffer = new byte[(int)Math.Max(size, 0)];
        Span<byte> one = stackalloc byte[1];
        var total = 0;
        try
        {
            while (true)
            {
                if (total == buffer.Length)
                {
                    if (buffer.Length > maxBytes) break;
                    if (RandomAccess.Read(handle, one, total) == 0) break;
                    Array.Resize(ref buffer, (int)Math.Min(maxBytes + 1, Math.Max((long)buffer.Length * 2, 4096)));
                    buffer[total++] = one[0];
                    one.Clear();
                    continue;
                }
                var n = RandomAccess.Read(handle, buffer.AsSpan(total), total);
                if (n == 0) break;
                total += n;
            }
        }
        catch (IOException ex)
        {
            Array.Clear(buffer);
            detail = Errors.IoErrorText.Describe(ex);
            return InputFileProblem.Unreadable;
        }
        if (total > maxBytes)
        {
            Array.Clear(buffer);
            detail = $"more than the limit of {maxBytes} bytes";
            return InputFileProblem.TooLarge;
        }
        if (total == buffer.Length)
        {
            bytes = buffer;
        }
        else
        {
            bytes = buffer.AsSpan(0, total).ToArray();
            Array.Clear(buffer);
        }
        return InputFileProblem.None;
    }

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int open(string path, int flags);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int statx(int dirfd, string path, int flags, uint mask, [Out] byte[] buffer);
}
