using System.IO.Compression;
using System.Text;
using System.Text.RegularExpressions;

namespace Keyward.Crypto.Tests.Age;

/// <summary>One C2SP CCTV age vector: <c>key: value</c> lines, a blank line, then the age file
/// (C2SP/CCTV age/README.md).</summary>
internal sealed record CctvVector(string Name, IReadOnlyList<(string Key, string Value)> Fields, byte[] File)
{
    public string Expect => Get("expect") ?? "";
    public string? Payload => Get("payload");
    public bool Armored => Get("armored") == "yes";
    public IEnumerable<string> Identities => Fields.Where(f => f.Key == "identity").Select(f => f.Value);
    public bool HasPassphrase => Fields.Any(f => f.Key == "passphrase");
    public string? FileKey => Get("file key");

    private string? Get(string key) => Fields.FirstOrDefault(f => f.Key == key).Value;

    public static CctvVector Parse(string name, byte[] data)
    {
        var fields = new List<(string, string)>();
        var pos = 0;
        while (true)
        {
            var nl = Array.IndexOf(data, (byte)'\n', pos);
            if (nl < 0) throw new InvalidDataException($"{name}: no blank line after the vector header");
            var line = Encoding.UTF8.GetString(data, pos, nl - pos);
            pos = nl + 1;
            if (line.Length == 0) break;
            var colon = line.IndexOf(": ", StringComparison.Ordinal);
            fields.Add((line[..colon], line[(colon + 2)..]));
        }
        var file = data[pos..];
        if (fields.Any(f => f.Item1 == "compressed" && f.Item2 == "zlib"))
        {
            using var z = new ZLibStream(new MemoryStream(file), CompressionMode.Decompress);
            using var ms = new MemoryStream();
            z.CopyTo(ms);
            file = ms.ToArray();
        }
        return new CctvVector(name, fields, file);
    }
}

/// <summary>Finds the vectors: <c>$KEYWARD_CCTV_AGE</c> (the npm package directory, or a directory of
/// testdata files such as a CCTV checkout's age/testdata), else
/// <c>tests/.deps/node_modules/cctv-age</c> (installed by <c>npm install --prefix tests/.deps cctv-age</c>).
/// The npm package embeds every testdata file in index.js as <c>// ../testdata/NAME</c> followed by
/// <c>var …_default = __toBinary("BASE64")</c>.</summary>
internal static partial class CctvVectorSource
{
    private static readonly Lazy<(string? Location, IReadOnlyDictionary<string, CctvVector> Vectors)> Loaded = new(Load);

    public static string? Location => Loaded.Value.Location;

    public static IReadOnlyDictionary<string, CctvVector> Vectors => Loaded.Value.Vectors;

    public static string MissingMessage =>
        "The C2SP CCTV age vectors are not installed. Run `npm install --prefix tests/.deps cctv-age` in the repository " +
        "root, or set KEYWARD_CCTV_AGE to the cctv-age package directory (or to a directory of CCTV age/testdata files).";

    private static (string?, IReadOnlyDictionary<string, CctvVector>) Load()
    {
        var env = Environment.GetEnvironmentVariable("KEYWARD_CCTV_AGE");
        var dir = !string.IsNullOrEmpty(env) ? env : Path.Combine(RepoRoot(), "tests", ".deps", "node_modules", "cctv-age");
        var vectors = new SortedDictionary<string, CctvVector>(StringComparer.Ordinal);
        if (!Directory.Exists(dir)) return (null, vectors);
        var index = Path.Combine(dir, "index.js");
        if (File.Exists(index))
        {
            var js = File.ReadAllText(index);
            foreach (Match m in EmbeddedFile().Matches(js))
                vectors[m.Groups[1].Value] = CctvVector.Parse(m.Groups[1].Value, Convert.FromBase64String(m.Groups[2].Value));
        }
        else
        {
            foreach (var file in Directory.GetFiles(dir))
                vectors[Path.GetFileName(file)] = CctvVector.Parse(Path.GetFileName(file), File.ReadAllBytes(file));
        }
        return (dir, vectors);
    }

    public static string RepoRoot()
    {
        // The source path recorded at compile time works even when built with --artifacts-path elsewhere.
        for (var d = new FileInfo(SourceFile()).Directory; d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "Keyward.slnx"))) return d.FullName;
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "Keyward.slnx"))) return d.FullName;
        // Built with --artifacts-path outside the checkout: fall back to the working directory's ancestors.
        for (var d = new DirectoryInfo(Environment.CurrentDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "Keyward.slnx"))) return d.FullName;
        return Environment.CurrentDirectory;
    }

    private static string SourceFile([System.Runtime.CompilerServices.CallerFilePath] string path = "") => path;

    [GeneratedRegex("""// \.\./testdata/([A-Za-z0-9_.-]+)\s*\nvar [A-Za-z0-9_$]+ = __toBinary\("([A-Za-z0-9+/=]*)"\)""")]
    private static partial Regex EmbeddedFile();
}
