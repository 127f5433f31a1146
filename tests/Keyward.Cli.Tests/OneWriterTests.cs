using System.Text.RegularExpressions;

namespace Keyward.Cli.Tests;

/// <summary>
/// Every file Keyward replaces goes through the one atomic writer in src/Keyward.Sinks/Files (a 0600 temporary file
/// made without following links, fsynced, renamed, the directory fsynced). A second temp-file-and-rename writer is how
/// the copies that disagreed came about (one without the directory fsync, one with a fixed temp name, one that set the
/// mode after the write), so a rename anywhere else in src/ fails here.
/// </summary>
public sealed partial class OneWriterTests
{
    [GeneratedRegex(@"\bFile\.(Move|Replace)\s*\(|\bDirectory\.Move\s*\(|\brename(at2?)?\s*\(")]
    private static partial Regex Rename();

    /// <summary>Where a rename is the point: the writer itself, and the state directory's crash-safe creation, which renames
    /// a whole staged directory into place (docs/store.md), not a file.</summary>
    private static readonly string[] Allowed =
    [
        "src/Keyward.Sinks/Files/",
        "src/Keyward.Store/State/StatePosix.cs",
        "src/Keyward.Store/State/StateDirectory.cs",
    ];

    [Fact]
    public void NoTempFileAndRenameWriter_OutsideSinksFiles()
    {
        var src = Path.Combine(CliHarness.RepoRoot, "src");
        var found = new List<string>();
        var scanned = 0;
        foreach (var file in Directory.EnumerateFiles(src, "*.cs", SearchOption.AllDirectories))
        {
            var relative = Path.GetRelativePath(CliHarness.RepoRoot, file).Replace('\\', '/');
            if (relative.Contains("/obj/", StringComparison.Ordinal) || relative.Contains("/bin/", StringComparison.Ordinal)) continue;
            scanned++;
            if (Allowed.Any(a => relative.StartsWith(a, StringComparison.Ordinal))) continue;
            var lines = File.ReadAllLines(file);
            for (var i = 0; i < lines.Length; i++)
            {
                var code = lines[i].TrimStart();
                if (code.StartsWith("//", StringComparison.Ordinal)) continue; // a comment may name rename(2)
                if (Rename().IsMatch(code)) found.Add($"{relative}:{i + 1}: {code}");
            }
        }
        Assert.True(scanned > 100, $"only {scanned} source files found under {src}");
        Assert.True(found.Count == 0, "a rename outside the one atomic writer (use Keyward.Sinks.Files.AtomicFile):\n" + string.Join("\n", found));
    }

    [Fact]
    public void ThePattern_FindsTheRenamesItIsFor()
    {
        Assert.Matches(Rename(), "File.Move(temp, path, overwrite: true);");
        Assert.Matches(Rename(), "File.Replace(a, b, null);");
        Assert.Matches(Rename(), "if (rename(from, to) != 0)");
        Assert.DoesNotMatch(Rename(), "var renamed = Renamer.Run();");
    }
}
