namespace Keyward.Core.Tests.Manifest;

/// <summary>Locates the repository's manifests (the example and tests/data/manifests) from the test binary.</summary>
internal static class ManifestFiles
{
    public static string RepoRoot { get; } = FindRoot();

    public static string Example => Path.Combine(RepoRoot, "examples", "homelab", "keyward.yaml");

    public static string Data(string kind) => Path.Combine(RepoRoot, "tests", "data", "manifests", kind);

    public static IEnumerable<string> All(string kind) =>
        Directory.EnumerateFiles(Data(kind), "*.yaml").Order(StringComparer.Ordinal);

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Keyward.slnx"))) return dir.FullName;
        // Built with --artifacts-path outside the checkout: fall back to the source location of this file.
        var here = Path.GetDirectoryName(ThisFile())!;
        return Path.GetFullPath(Path.Combine(here, "..", "..", ".."));
    }

    private static string ThisFile([System.Runtime.CompilerServices.CallerFilePath] string path = "") => path;
}
