using System.Diagnostics;
using System.Security.Cryptography;
using Keyward.Core.Errors;
using Keyward.Core.Manifest;
using Keyward.Core.Secrets;
using Keyward.Sinks;

namespace Keyward.Bench;

/// <summary>Sinks: render N env sinks, write them the first time (temp file + fsync + rename + directory fsync each),
/// then the no-op pass an idle <c>apply</c> does (fingerprint compare, no write) and the dry-run question.
/// Usage: <c>sinks [N] [DIR]</c>. Prints markdown table rows: step | files | total ms | µs per file.</summary>
internal static class SinksBench
{
    public static Task<int> Run(string[] args)
    {
        var count = args.Length > 0 ? int.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture) : 10_000;
        var root = args.Length > 1 ? args[1] : Directory.CreateTempSubdirectory("kw-sinks-bench-").FullName;
        var here = new SourceLocation("bench.yaml", 1, 1);
        var key = RandomNumberGenerator.GetBytes(32);
        string Fingerprint(ReadOnlySpan<byte> data) => Convert.ToHexStringLower(HMACSHA256.HashData(key, data));

        var spec = new SecretCredential("s", "bench", "bench", null, [], here, 64, ValueEncoding.Raw);
        var values = new Dictionary<string, ResolvedCredential>(StringComparer.Ordinal) { ["s"] = new(spec, Secret.Random(64), null) };
        var sinks = Enumerable.Range(0, count).Select(i => new Sink($"sink-{i}", $"{root}/d{i / 100:D3}/f{i % 100:D2}.env", SinkFormat.Env,
            null, null, 0x180, 0x1C0, null, [new SinkEntry("ATTIC_SERVER_TOKEN_HS256_SECRET_BASE64", "s", ValueEncoding.Base64, EntryValue.Value, null, null, null, here)],
            [], null, null, null, here)).ToArray();

        var requests = new FileWriteRequest[count];
        var render = Time(() =>
        {
            for (var i = 0; i < count; i++)
                requests[i] = new FileWriteRequest(sinks[i].Path, SinkRenderer.Render(sinks[i], values), sinks[i].Mode, sinks[i].DirectoryMode, null, null, null);
        });
        var writer = new AtomicFileWriter(Fingerprint);
        var first = Time(() => Expect(requests, r => writer.Write(r), FileWriteOutcome.Created));
        var noop = Time(() => Expect(requests, r => writer.Write(r), FileWriteOutcome.Unchanged));
        var dry = Time(() =>
        {
            foreach (var r in requests)
                if (!writer.IsCurrent(r)) throw new KeywardException(ErrorCodes.Internal.With("dry run saw a change"));
        });

        Row("render (env, base64)", count, render);
        Row("first write (atomic, fsync)", count, first);
        Row("no-op write (fingerprint equal)", count, noop);
        Row("dry run (IsCurrent)", count, dry);
        if (args.Length <= 1) Directory.Delete(root, recursive: true);
        return Task.FromResult(0);
    }

    private static void Expect(FileWriteRequest[] requests, Func<FileWriteRequest, FileWriteOutcome> write, FileWriteOutcome expected)
    {
        foreach (var r in requests)
            if (write(r) != expected) throw new KeywardException(ErrorCodes.Internal.With($"expected {expected} for {r.Path}"));
    }

    private static double Time(Action body)
    {
        var sw = Stopwatch.StartNew();
        body();
        return sw.Elapsed.TotalMilliseconds;
    }

    private static void Row(string step, int count, double ms) =>
        Console.WriteLine($"| {step} | {count} | {ms:F0} | {ms * 1000 / count:F1} |");
}
