using Keyward.Core.Errors;
using Keyward.Core.Manifest;
using Keyward.Core.Manifest.Yaml;

namespace Keyward.Core.Tests.Manifest;

/// <summary>The YAML tree kept in the state directory: the same tree (and so the same manifest and diagnostics) as the
/// parser's, and never used for another text, another file name or a damaged file.</summary>
public sealed class YamlTreeCacheTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("kw-tree-cache-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>What the CLI's atomic writer does, as far as the loader can tell: the whole file, 0600.</summary>
    private static void Write(string path, byte[] content)
    {
        var temp = path + ".test-tmp";
        File.WriteAllBytes(temp, content);
        File.SetUnixFileMode(temp, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.Move(temp, path, overwrite: true);
    }

    public static TheoryData<string> Manifests()
    {
        var data = new TheoryData<string> { ManifestFiles.Example };
        foreach (var f in ManifestFiles.All("valid")) data.Add(f);
        foreach (var f in ManifestFiles.All("invalid")) data.Add(f);
        return data;
    }

    [Theory]
    [MemberData(nameof(Manifests))]
    public void CachedTree_GivesTheParsersTreeAndTheSameResult(string path)
    {
        var text = File.ReadAllText(path);
        var parsed = new List<Diagnostic>();
        var tree = YamlTree.Parse(text, path, parsed);
        var first = ManifestLoader.Parse(text, path, _dir, Write, keepModel: false);
        var cached = YamlTreeCache.TryRead(_dir, text, path);
        if (tree is null || parsed.Count > 0)
        {
            // Only a clean parse is kept.
            Assert.Null(cached);
            return;
        }
        Assert.NotNull(cached);
        AssertSameTree(tree, cached);
        var second = ManifestLoader.Parse(text, path, _dir, null, keepModel: false);
        Assert.Equal(Describe(first), Describe(second));
        Assert.Equal(Describe(ManifestLoader.Parse(text, path)), Describe(second));
    }

    [Fact]
    public void AnotherText_AnotherFileName_OrADamagedFile_IsNotUsed()
    {
        var text = File.ReadAllText(ManifestFiles.Example);
        ManifestLoader.Parse(text, "keyward.yaml", _dir, Write, keepModel: false);
        Assert.NotNull(YamlTreeCache.TryRead(_dir, text, "keyward.yaml"));
        Assert.Null(YamlTreeCache.TryRead(_dir, text + "\n# one more line\n", "keyward.yaml"));
        Assert.Null(YamlTreeCache.TryRead(_dir, text, "other.yaml"));

        var file = Path.Combine(_dir, YamlTreeCache.FileName);
        var bytes = File.ReadAllBytes(file);
        bytes[^10] ^= 0x20; // one bit of one scalar
        File.WriteAllBytes(file, bytes);
        Assert.Null(YamlTreeCache.TryRead(_dir, text, "keyward.yaml"));
        File.WriteAllBytes(file, bytes[..(bytes.Length / 2)]);
        Assert.Null(YamlTreeCache.TryRead(_dir, text, "keyward.yaml"));
        // And the load itself still works, from the text.
        Assert.NotNull(ManifestLoader.Parse(text, "keyward.yaml", _dir, null, keepModel: false).Manifest);
    }

    [Fact]
    public void CacheFile_IsOwnerOnly_AndAliasesAreCopied()
    {
        const string text = """
            apiVersion: keyward.dev/v1
            credentials:
              a: &spec { kind: secret, bytes: 32 }
              b: *spec
            """;
        ManifestLoader.Parse(text, "m.yaml", _dir, Write, keepModel: false);
        var file = Path.Combine(_dir, YamlTreeCache.FileName);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
        var problems = new List<Diagnostic>();
        AssertSameTree(YamlTree.Parse(text, "m.yaml", problems)!, YamlTreeCache.TryRead(_dir, text, "m.yaml")!);
        Assert.Empty(Directory.GetFiles(_dir, "*.tmp"));
    }

    [Fact]
    public void AliasBomb_IsNotCached()
    {
        // Nine levels of nine aliases: a small text whose tree, written out, would be 9^9 nodes.
        var lines = new List<string> { "apiVersion: keyward.dev/v1", "a0: &a0 [x]" };
        for (var i = 1; i <= 9; i++) lines.Add($"a{i}: &a{i} [{string.Join(", ", Enumerable.Repeat($"*a{i - 1}", 9))}]");
        var text = string.Join('\n', lines);
        ManifestLoader.Parse(text, "bomb.yaml", _dir, Write, keepModel: false);
        Assert.Null(YamlTreeCache.TryRead(_dir, text, "bomb.yaml"));
    }

    private static string Describe(ManifestLoadResult r) =>
        string.Join("\n", r.Diagnostics.Select(d => d.Error.ToString())) + "\n" +
        (r.Manifest is { } m
            ? string.Join(",", m.Credentials.Select(c => $"{c.Name}:{c.Kind}")) + "|" + string.Join(",", m.Sinks.Select(s => $"{s.Name}:{s.Path}:{s.Mode}")) +
              "|" + string.Join(",", m.Services.Select(s => s.Name)) + "|" + string.Join(",", m.Recipients)
            : "no manifest");

    private static void AssertSameTree(YNode expected, YNode actual)
    {
        Assert.Equal(expected.GetType(), actual.GetType());
        Assert.Equal((expected.File, expected.Line, expected.Column), (actual.File, actual.Line, actual.Column));
        switch (expected)
        {
            case YScalar s:
                var a = (YScalar)actual;
                Assert.Equal((s.Value, s.Plain), (a.Value, a.Plain));
                break;
            case YSequence q:
                var aq = (YSequence)actual;
                Assert.Equal(q.Items.Count, aq.Items.Count);
                for (var i = 0; i < q.Items.Count; i++) AssertSameTree(q.Items[i], aq.Items[i]);
                break;
            case YMapping m:
                var am = (YMapping)actual;
                Assert.Equal(m.Pairs.Count, am.Pairs.Count);
                for (var i = 0; i < m.Pairs.Count; i++)
                {
                    AssertSameTree(m.Pairs[i].Key, am.Pairs[i].Key);
                    AssertSameTree(m.Pairs[i].Value, am.Pairs[i].Value);
                }
                break;
        }
    }
}
