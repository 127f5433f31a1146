using System.Collections;
using System.Reflection;
using Keyward.Core.Errors;
using Keyward.Core.Manifest;
using Keyward.Core.Manifest.Loading;
using Keyward.Core.Manifest.Yaml;

namespace Keyward.Core.Tests.Manifest;

/// <summary>The validated model kept in the state directory: read back, it is the loader's model field for field (every
/// public property of every model type, through reflection), and it is never used for another text, another file name,
/// another build or a damaged file.</summary>
public sealed class ManifestModelCacheTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("kw-model-cache-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string CacheFile => Path.Combine(_dir, ManifestModelCache.FileName);

    /// <summary>Writes of the model's file (the tree's file goes through the same writer).</summary>
    private int _writes;

    /// <summary>What the CLI's atomic writer does, as far as the loader can tell: the whole file, 0600.</summary>
    private void Write(string path, byte[] content)
    {
        if (Path.GetFileName(path) == ManifestModelCache.FileName) _writes++;
        var temp = path + ".test-tmp";
        File.WriteAllBytes(temp, content);
        File.SetUnixFileMode(temp, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.Move(temp, path, overwrite: true);
    }

    /// <summary>What the fixtures under tests/data do not show: sops sources, hook passEnv, persistence roots, a host
    /// deadline, hosts with both key kinds and their sinks.</summary>
    private const string Extras = """
        apiVersion: keyward/v1
        defaults:
          rotation:
            secret: { maxAge: 90d, hostDeadline: 10m }
            nix-signing-key: { autoContinue: true }
        credentials:
          signer: { kind: secret, bytes: 48, encoding: hex, owner: ops, purpose: signs, rotation: { overlap: 2d, hostDeadline: 5m } }
          from-sops: { kind: external, provider: generic, owner: ops, purpose: imported, source: { sops: secrets.yaml, key: a/b }, expires: "2031-04-05T06:07:08+02:00" }
          from-env: { kind: external, provider: github, host: github.com, username: bot, owner: ops, purpose: gh, source: { env: GH_TOKEN } }
          rs: { kind: rsa-key, bits: 3072, owner: ops, purpose: signs, rotation: { maxAge: 1y }, recipients: [age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p] }
        hosts:
          web1: { sshKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl web1" }
          deploy: { ageRecipient: age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p }
        gate:
          foreignTokens: allow
        sinks:
          persisted:
            path: /root/.config/op/token
            persist: /persist
            format: raw
            credential: from-sops
            onChange: { command: [/usr/local/bin/notify, --now], passEnv: [DEPLOY_URL, HOME_URL] }
          k8s:
            path: /var/lib/k8s/rs.yaml
            format: kubernetes-secret
            name: rs
            namespace: ops
            live: true
            entries:
              key: rs
            onChange:
              - { restart: a.service, passEnv: [A] }
              - { reload: b.service, passEnv: [B] }
          on-web1:
            host: web1
            path: /etc/app/env
            format: env
            mode: "0640"
            entries:
              TOKEN: { credential: from-env }
              MODE: { value: production }
            onChange: { reload: app.service }
        """;

    public static TheoryData<string> Manifests()
    {
        var data = new TheoryData<string> { ManifestFiles.Example };
        foreach (var f in ManifestFiles.All("valid")) data.Add(f);
        return data;
    }

    [Theory]
    [MemberData(nameof(Manifests))]
    public void CachedModel_IsTheLoadersModel_FieldForField(string path)
    {
        var text = File.ReadAllText(path);
        AssertRoundTrip(text, path);
    }

    [Fact]
    public void CachedModel_OfTheExtras_IsTheLoadersModel()
    {
        var result = AssertRoundTrip(Extras, "extras.yaml");
        Assert.Equal(2, result.Hosts.Count);
        Assert.Contains(result.Credentials, c => c is ExternalCredential { Source: SopsSource });
    }

    /// <summary>Every public property of every type in the model holds a value other than its default in at least one of
    /// the manifests the round trip is tested with. A property added to the model without a fixture that sets it (and so
    /// without the round trip showing the cache keeps it) fails here.</summary>
    [Fact]
    public void TheRoundTrips_CoverEveryPropertyOfTheModel()
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var types = new HashSet<Type>();
        var files = new List<string> { ManifestFiles.Example };
        files.AddRange(ManifestFiles.All("valid"));
        foreach (var path in files.Append("extras"))
        {
            var text = path == "extras" ? Extras : File.ReadAllText(path);
            var file = path == "extras" ? "extras.yaml" : path;
            var m = ManifestLoader.Parse(text, file).OrThrow();
            Walk(m, seen, types, 0);
        }
        var missing = new List<string>();
        foreach (var type in types)
            foreach (var p in ModelProperties(type))
                if (!seen.Contains(Name(p))) missing.Add(Name(p));
        Assert.True(missing.Count == 0, "never set in the tested manifests (add it to Extras): " + string.Join(", ", missing.Order()));
        // The abstract records' cases all appear.
        foreach (var (baseType, count) in new[] { (typeof(Credential), 5), (typeof(Hook), 3), (typeof(ExternalSource), 4) })
            Assert.Equal(count, types.Count(t => t.IsSubclassOf(baseType)));
    }

    [Fact]
    public void DamagedFile_IsNotUsed_AndTheLoadStillGivesTheModel()
    {
        var text = File.ReadAllText(ManifestFiles.Example);
        var expected = ManifestLoader.Parse(text, "keyward.yaml").OrThrow();
        ManifestLoader.Parse(text, "keyward.yaml", _dir, Write);
        Assert.Equal(1, _writes);
        var good = File.ReadAllBytes(CacheFile);
        foreach (var damage in new Func<byte[], byte[]>[]
                 {
                     b => Flip(b, b.Length - 3), // the body (its hash no longer matches)
                     b => Flip(b, 10), // the key
                     b => Flip(b, 0), // the magic
                     b => b[..(b.Length / 2)], // torn
                     b => [],
                     b => [.. b, 0], // trailing byte
                 })
        {
            File.WriteAllBytes(CacheFile, damage(good));
            Assert.Null(ManifestModelCache.TryRead(_dir, text, "keyward.yaml"));
            var again = ManifestLoader.Parse(text, "keyward.yaml", _dir, (ManifestCacheWriter?)null);
            Assert.Empty(again.Diagnostics);
            AssertSameModel(expected, again.OrThrow());
        }
        // A writer's load replaces the damaged file with a good one.
        ManifestLoader.Parse(text, "keyward.yaml", _dir, Write);
        Assert.Equal(good, File.ReadAllBytes(CacheFile));
    }

    [Fact]
    public void BodyWithAValidHashButBadContent_IsNotUsed()
    {
        // A body that hashes right but is not a model (written by another codec, say): the reader refuses it.
        var text = File.ReadAllText(ManifestFiles.Example);
        ManifestLoader.Parse(text, "keyward.yaml", _dir, Write);
        var bytes = File.ReadAllBytes(CacheFile);
        var body = bytes.AsSpan(6 + 64).ToArray();
        foreach (var forgedBody in new[] { body[..^1], [.. body, 0], body[1..] })
        {
            var forged = new byte[6 + 64 + forgedBody.Length];
            bytes.AsSpan(0, 6 + 32).CopyTo(forged);
            System.Security.Cryptography.SHA256.HashData(forgedBody).CopyTo(forged, 6 + 32);
            forgedBody.CopyTo(forged, 6 + 64);
            File.WriteAllBytes(CacheFile, forged);
            Assert.Null(ManifestModelCache.TryRead(_dir, text, "keyward.yaml"));
        }
    }

    [Fact]
    public void ChangedManifest_OrAnotherFileName_GetsItsOwnModel()
    {
        var text = File.ReadAllText(ManifestFiles.Example);
        ManifestLoader.Parse(text, "keyward.yaml", _dir, Write);
        Assert.NotNull(ManifestModelCache.TryRead(_dir, text, "keyward.yaml"));
        Assert.Null(ManifestModelCache.TryRead(_dir, text, "other.yaml"));

        // One sink's mode changed: the cache of the old text must not answer for the new one.
        var sink = ManifestLoader.Parse(text, "keyward.yaml").OrThrow().Sinks.First(s => s.Mode == 0x180);
        var changed = text.Replace("mode: \"0600\"", "mode: \"0640\"", StringComparison.Ordinal);
        Assert.NotEqual(text, changed);
        Assert.Null(ManifestModelCache.TryRead(_dir, changed, "keyward.yaml"));
        var loaded = ManifestLoader.Parse(changed, "keyward.yaml", _dir, Write).OrThrow();
        AssertSameModel(ManifestLoader.Parse(changed, "keyward.yaml").OrThrow(), loaded);
        Assert.Contains(loaded.Sinks, s => s.Mode == 0x1a0);
        // And now the cache holds the new text's model.
        var cached = ManifestModelCache.TryRead(_dir, changed, "keyward.yaml");
        Assert.NotNull(cached);
        AssertSameModel(loaded, cached);
        Assert.Equal(0x1a0, cached.FindSink(sink.Name)!.Mode);
        Assert.Null(ManifestModelCache.TryRead(_dir, text, "keyward.yaml"));
    }

    [Fact]
    public void ManifestWithWarnings_IsNotKeptAsAModel_AndItsWarningsStay()
    {
        const string text = Warned, file = "warned.yaml";
        var fresh = ManifestLoader.Parse(text, file);
        Assert.False(fresh.HasErrors);
        Assert.NotEmpty(fresh.Diagnostics);
        ManifestLoader.Parse(text, file, _dir, Write);
        Assert.Equal(0, _writes);
        Assert.False(File.Exists(CacheFile));
        Assert.True(File.Exists(Path.Combine(_dir, YamlTreeCache.FileName))); // the tree is kept instead
        var again = ManifestLoader.Parse(text, file, _dir, Write);
        Assert.Equal(fresh.Diagnostics.Select(d => d.Error.ToString()), again.Diagnostics.Select(d => d.Error.ToString()));
    }

    [Fact]
    public void ManifestWithErrors_IsNotKept()
    {
        var text = File.ReadAllText(ManifestFiles.Example) + "\nbogus: 1\n";
        Assert.True(ManifestLoader.Parse(text, "keyward.yaml").HasErrors);
        var result = ManifestLoader.Parse(text, "keyward.yaml", _dir, Write);
        Assert.True(result.HasErrors);
        Assert.Equal(0, _writes);
        Assert.True(ManifestLoader.Parse(text, "keyward.yaml", _dir, Write).HasErrors);
    }

    [Fact]
    public void AWriterThatFails_LeavesTheLoadAsItIs()
    {
        var text = File.ReadAllText(ManifestFiles.Example);
        var result = ManifestLoader.Parse(text, "keyward.yaml", _dir, (_, _) => throw new IOException("disk full"));
        AssertSameModel(ManifestLoader.Parse(text, "keyward.yaml").OrThrow(), result.OrThrow());
        Assert.False(File.Exists(CacheFile));
    }

    [Fact]
    public void TheCache_HoldsNoLiteralItWasNotGiven()
    {
        // The model holds no credential value; the one text of a literal env entry is the manifest's own.
        var text = File.ReadAllText(ManifestFiles.Example);
        ManifestLoader.Parse(text, "keyward.yaml", _dir, Write);
        var strings = System.Text.Encoding.UTF8.GetString(File.ReadAllBytes(CacheFile));
        foreach (var literal in ManifestLoader.Parse(text, "keyward.yaml").OrThrow().Sinks.SelectMany(s => s.Entries).Where(e => e.IsLiteral))
            Assert.Contains(literal.Literal!, text, StringComparison.Ordinal);
        Assert.DoesNotContain("BEGIN", strings, StringComparison.Ordinal);
    }

    // autoContinue on a secret: a warning (KW: ignored setting), no error.
    private const string Warned = """
        apiVersion: keyward/v1
        credentials:
          a: { kind: secret, owner: o, purpose: p, rotation: { autoContinue: true } }
        """;

    private KeywardManifest AssertRoundTrip(string text, string file)
    {
        var fresh = ManifestLoader.Parse(text, file);
        Assert.Empty(fresh.Diagnostics);
        var expected = fresh.OrThrow();
        var first = ManifestLoader.Parse(text, file, _dir, Write);
        Assert.Equal(1, _writes);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(CacheFile));
        var cached = ManifestModelCache.TryRead(_dir, text, file);
        Assert.NotNull(cached);
        AssertSameModel(expected, cached);
        AssertSameModel(expected, first.OrThrow());
        // The second load is the cached one, and it writes nothing.
        var second = ManifestLoader.Parse(text, file, _dir, Write);
        Assert.Equal(1, _writes);
        Assert.Empty(second.Diagnostics);
        AssertSameModel(expected, second.OrThrow());
        return cached;
    }

    private static byte[] Flip(byte[] b, int i)
    {
        var copy = b.ToArray();
        copy[i] ^= 0x01;
        return copy;
    }

    // ---- reflection over the model ----

    private static bool IsLeaf(Type t) =>
        t.IsPrimitive || t.IsEnum || t == typeof(string) || t == typeof(decimal) || t == typeof(TimeSpan) || t == typeof(DateTimeOffset) || t == typeof(Uri)
        || t == typeof(Keyward.Core.Time.HumanDuration) || t == typeof(SourceLocation) || t == typeof(HostKey)
        || t == typeof(Keyward.Core.Attic.CacheNamePattern) || (Nullable.GetUnderlyingType(t) is { } u && IsLeaf(u));

    private static IEnumerable<PropertyInfo> ModelProperties(Type t) =>
        t.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.GetIndexParameters().Length == 0 && p.Name != "EqualityContract")
            // Derived views, computed from the rest on each call.
            .Where(p => p.SetMethod is not null || p.DeclaringType!.GetConstructors().Any(c => c.GetParameters().Any(a => a.Name == p.Name)));

    private static void AssertSameModel(object? expected, object? actual, string at = "manifest")
    {
        if (expected is null || actual is null)
        {
            Assert.True(expected is null && actual is null, $"{at}: {expected ?? "null"} vs {actual ?? "null"}");
            return;
        }
        var type = expected.GetType();
        // Lists may come back as another list type; everything else as the very same type.
        Assert.True(type == actual.GetType() || (expected is IEnumerable and not string && actual is IEnumerable), $"{at}: {type.Name} vs {actual.GetType().Name}");
        if (IsLeaf(type))
        {
            if (expected is Uri u) Assert.Equal(u.OriginalString, ((Uri)actual).OriginalString);
            if (expected is DateTimeOffset d) Assert.Equal(d.Offset, ((DateTimeOffset)actual).Offset);
            Assert.True(Equals(expected, actual), $"{at}: {expected} vs {actual}");
            return;
        }
        if (expected is IDictionary de)
        {
            var da = (IDictionary)actual;
            Assert.Equal(de.Keys.Cast<object>(), da.Keys.Cast<object>());
            foreach (var key in de.Keys) AssertSameModel(de[key], da[key], $"{at}[{key}]");
            return;
        }
        if (expected is IEnumerable e)
        {
            var le = e.Cast<object?>().ToList();
            var la = ((IEnumerable)actual).Cast<object?>().ToList();
            Assert.True(le.Count == la.Count, $"{at}: {le.Count} items vs {la.Count}");
            for (var i = 0; i < le.Count; i++) AssertSameModel(le[i], la[i], $"{at}[{i}]");
            return;
        }
        foreach (var p in ModelProperties(type)) AssertSameModel(p.GetValue(expected), p.GetValue(actual), $"{at}.{p.Name}");
    }

    // A property of a base record counts once, whichever derived record shows it set.
    private static string Name(PropertyInfo p) => $"{p.DeclaringType!.Name}.{p.Name}";

    private static void Walk(object? value, HashSet<string> seen, HashSet<Type> types, int depth)
    {
        if (value is null || depth > 20) return;
        var type = value.GetType();
        if (IsLeaf(type)) return;
        if (value is IDictionary d)
        {
            foreach (var v in d.Values) Walk(v, seen, types, depth + 1);
            return;
        }
        if (value is IEnumerable e)
        {
            foreach (var v in e) Walk(v, seen, types, depth + 1);
            return;
        }
        types.Add(type);
        foreach (var p in ModelProperties(type))
        {
            var v = p.GetValue(value);
            var isDefault = v is null || (v is ICollection c && c.Count == 0) || (v is IEnumerable<object> o && !o.Any())
                || (p.PropertyType.IsValueType && Nullable.GetUnderlyingType(p.PropertyType) is null && v.Equals(Activator.CreateInstance(p.PropertyType)));
            if (!isDefault) seen.Add(Name(p));
            Walk(v, seen, types, depth + 1);
        }
    }
}
