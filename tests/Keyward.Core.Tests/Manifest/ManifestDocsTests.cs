using Keyward.Core.Errors;
using Keyward.Core.Manifest.Schema;

namespace Keyward.Core.Tests.Manifest;

/// <summary>docs/manifest.md documents every field of the tables and every manifest validation code.</summary>
public sealed class ManifestDocsTests
{
    private static readonly string Docs = File.ReadAllText(Path.Combine(ManifestFiles.RepoRoot, "docs", "manifest.md"));

    [Fact]
    public void Docs_MentionEveryField()
    {
        var missing = ManifestFields.AllSpecs.SelectMany(s => s.Fields)
            .Where(f => !Docs.Contains($"`{f.Name}`", StringComparison.Ordinal) && !Docs.Contains($"{f.Name}:", StringComparison.Ordinal))
            .Select(f => f.Name).Distinct().ToList();
        Assert.True(missing.Count == 0, "undocumented fields: " + string.Join(", ", missing));
    }

    [Fact]
    public void Docs_ListEveryManifestCode()
    {
        var missing = ErrorCodes.All.Where(c => c.Code.StartsWith("KW01", StringComparison.Ordinal) || c.Code.StartsWith("KW02", StringComparison.Ordinal))
            .Where(c => !Docs.Contains($"| {c.Code} |", StringComparison.Ordinal)).Select(c => c.Code).ToList();
        Assert.True(missing.Count == 0, "undocumented codes: " + string.Join(", ", missing));
    }
}
