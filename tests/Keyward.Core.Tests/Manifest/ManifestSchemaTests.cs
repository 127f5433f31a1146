using System.Text.Json.Nodes;
using Keyward.Core.Manifest;
using Keyward.Core.Manifest.Schema;

namespace Keyward.Core.Tests.Manifest;

public sealed class ManifestSchemaTests
{
    private static string Committed => Path.Combine(ManifestFiles.RepoRoot, "docs", "keyward.schema.json");

    [Fact]
    public void CommittedSchema_EqualsGenerated()
    {
        // Regenerate with: keyward schema > docs/keyward.schema.json
        Assert.Equal(ManifestSchema.ToJson(), File.ReadAllText(Committed));
    }

    [Fact]
    public void Schema_DescribesEveryFieldOfEveryTable()
    {
        var schema = JsonNode.Parse(ManifestSchema.ToJson())!;
        Assert.Equal("https://json-schema.org/draft/2020-12/schema", (string?)schema["$schema"]);
        foreach (var spec in ManifestFields.AllSpecs)
        {
            var node = spec == ManifestFields.Root ? schema : schema["$defs"]![spec.Id]!;
            var names = new HashSet<string>(node["properties"]!.AsObject().Select(p => p.Key));
            foreach (var branch in node["allOf"]?.AsArray() ?? [])
                names.UnionWith(branch!["then"]!["properties"]!.AsObject().Select(p => p.Key));
            Assert.All(spec.Fields, f => Assert.Contains(f.Name, names));
            Assert.All(spec.Fields.Where(f => f.Required && f.AppliesTo is null), f => Assert.Contains(f.Name, node["required"]!.AsArray().Select(x => (string)x!)));
        }
    }

    [Fact]
    public void Schema_KindSpecificRequiredFields_SitInTheirBranch()
    {
        var schema = JsonNode.Parse(ManifestSchema.ToJson())!;
        var branch = schema["$defs"]!["credential"]!["allOf"]!.AsArray()
            .Single(b => (string?)b!["if"]!["properties"]!["kind"]!["const"] == "attic-token")!;
        var required = branch["then"]!["required"]!.AsArray().Select(x => (string)x!).ToList();
        Assert.Equal(["signedBy", "subject", "validity", "caches"], required);
    }
}
