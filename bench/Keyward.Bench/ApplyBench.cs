using System.Diagnostics;
using System.Globalization;

namespace Keyward.Bench;

/// <summary>
/// The floor under a first apply: N small files written the way Keyward writes sinks (temporary file in the same
/// directory, fsync, rename, directory fsync) with no rendering, no crypto and no store. A first apply close to this
/// is bounded by fsync cost, not by Keyward's own work.
/// usage: apply fsync-floor N DIR
/// </summary>
internal static partial class ApplyBench
{
    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "open", StringMarshalling = System.Runtime.InteropServices.StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "fsync")]
    private static partial int Fsync(int fd);

    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);

    // .NET cannot open a directory as a stream; the directory entry of the rename is made durable with open(2) + fsync(2).
    private static void FsyncDirectory(string dir)
    {
        const int ReadOnlyDirectory = 0x10000; // O_RDONLY | O_DIRECTORY on Linux
        var fd = Open(dir, ReadOnlyDirectory);
        if (fd < 0) throw new IOException($"open({dir}) failed");
        try { if (Fsync(fd) != 0) throw new IOException($"fsync({dir}) failed"); } finally { _ = Close(fd); }
    }

    public static Task<int> Run(string[] args)
    {
        if (args.Length != 3 || args[0] != "fsync-floor")
        {
            Console.Error.WriteLine("usage: apply fsync-floor N DIR");
            return Task.FromResult(2);
        }
        var n = int.Parse(args[1], CultureInfo.InvariantCulture);
        var dir = args[2];
        Directory.CreateDirectory(dir);
        var payload = new byte[200];
        var sw = Stopwatch.StartNew();
        for (var i = 0; i < n; i++)
        {
            var sub = Path.Combine(dir, (i % 4).ToString(CultureInfo.InvariantCulture));
            Directory.CreateDirectory(sub);
            var target = Path.Combine(sub, $"{i}.token");
            var temp = target + ".tmp";
            using (var fs = new FileStream(temp, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite }))
            {
                fs.Write(payload);
                fs.Flush(flushToDisk: true);
            }
            File.Move(temp, target, overwrite: true);
            FsyncDirectory(sub);
        }
        Console.WriteLine(sw.Elapsed.TotalSeconds.ToString("F2", CultureInfo.InvariantCulture));
        return Task.FromResult(0);
    }
}
