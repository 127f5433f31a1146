using System.Diagnostics;
using System.Globalization;

namespace Keyward.Bench;

/// <summary>
/// The floor under a first apply: N small files written the way Keyward writes sinks (temporary file in the same
/// directory, fsync, rename, directory fsync) with no rendering, no crypto and no store. A first apply close to this
/// is bounded by fsync cost, not by Keyward's own work.
/// usage: apply fsync-floor N DIR
/// </summary>
internal static class ApplyBench
{
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
            using var d = new FileStream(sub, new FileStreamOptions { Mode = FileMode.Open, Access = FileAccess.Read, Options = FileOptions.None });
            d.Flush(flushToDisk: true);
        }
        Console.WriteLine(sw.Elapsed.TotalSeconds.ToString("F2", CultureInfo.InvariantCulture));
        return Task.FromResult(0);
    }
}
