using System.Diagnostics;
using Keyward.Core.Manifest;

namespace Keyward.Core.Tests.Manifest;

/// <summary>The generated schema, checked by an independent validator: python3-jsonschema (Draft 2020-12) with PyYAML.</summary>
[Trait("Category", "Interop")]
public sealed class ManifestSchemaInteropTests
{
    private const string Python = "/usr/bin/python3";

    private const string Script = """
        import sys, json, yaml
        try:
            import jsonschema
        except ImportError:
            print("MISSING jsonschema"); sys.exit(3)
        schema = json.load(open(sys.argv[1]))
        jsonschema.Draft202012Validator.check_schema(schema)
        v = jsonschema.Draft202012Validator(schema)
        for f in sys.argv[2:]:
            doc = json.loads(json.dumps(yaml.safe_load(open(f)), default=str))
            errs = list(v.iter_errors(doc))
            print(("ok " if not errs else "bad ") + f + "".join(" | " + e.message[:200] for e in errs[:2]))
        """;

    private static Dictionary<string, string> Validate(IEnumerable<string> files)
    {
        if (!File.Exists(Python)) Assert.Fail($"{Python} is missing: install python3 with python3-yaml and python3-jsonschema");
        var dir = Directory.CreateTempSubdirectory("keyward-schema-");
        try
        {
            var schema = Path.Combine(dir.FullName, "schema.json");
            var script = Path.Combine(dir.FullName, "validate.py");
            File.WriteAllText(schema, ManifestSchema.ToJson());
            File.WriteAllText(script, Script);
            var psi = new ProcessStartInfo(Python) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
            foreach (var a in new[] { script, schema }.Concat(files)) psi.ArgumentList.Add(a);
            using var p = Process.Start(psi)!;
            p.StandardInput.Close();
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEnd();
            p.WaitForExit();
            var output = stdout.Result;
            if (p.ExitCode == 3) Assert.Fail("python3-jsonschema is not installed: apt-get install -y python3-jsonschema");
            Assert.True(p.ExitCode == 0, $"validator failed ({p.ExitCode}): {stderr}");
            return output.Split('\n', StringSplitOptions.RemoveEmptyEntries)
                .Select(l => l.Split(' ', 3))
                .ToDictionary(x => Path.GetFileName(x[1]), x => x[0] + (x.Length > 2 ? " " + x[2] : ""));
        }
        finally
        {
            dir.Delete(true);
        }
    }

    [Fact]
    public void ExampleAndValidManifests_MatchTheSchema()
    {
        var files = ManifestFiles.All("valid").Append(ManifestFiles.Example).ToList();
        var results = Validate(files);
        Assert.Equal(files.Count, results.Count);
        Assert.All(results, r => Assert.True(r.Value == "ok", $"{r.Key}: {r.Value}"));
    }

    [Fact]
    public void StructurallyInvalidManifests_AreRejectedByTheSchema()
    {
        // The schema checks shape (keys, types, enums, patterns, per-kind fields); references, paths and
        // cross-field rules are the loader's job.
        string[] names =
        [
            "api-version-wrong", "unknown-key", "field-of-other-kind", "field-of-other-format", "invalid-kind", "missing-owner",
            "missing-signed-by", "wrong-type-bytes", "bytes-out-of-range", "invalid-cache-pattern", "invalid-permission",
            "source-two-alternatives", "source-empty", "hook-two-alternatives", "invalid-name", "empty-owner", "invalid-env-source",
            "invalid-rsa-bits", "invalid-format", "invalid-encoding", "unknown-defaults-kind", "invalid-cache-name",
        ];
        var results = Validate(names.Select(n => Path.Combine(ManifestFiles.Data("invalid"), n + ".yaml")));
        Assert.All(names, n => Assert.StartsWith("bad", results[n + ".yaml"], StringComparison.Ordinal));
    }
}
