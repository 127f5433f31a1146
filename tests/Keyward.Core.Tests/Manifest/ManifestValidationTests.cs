using Keyward.Core.Errors;
using Keyward.Core.Manifest;

namespace Keyward.Core.Tests.Manifest;

public sealed class ManifestValidationTests
{
    private const string File = "keyward.yaml";

    private static ManifestLoadResult Parse(string yaml) => ManifestLoader.Parse(yaml.ReplaceLineEndings("\n"), File);

    private static string Report(ManifestLoadResult r) =>
        string.Join("\n", r.Diagnostics.Select(d => (d.IsWarning ? "warning " : "") + d.Error));

    public static TheoryData<string> ValidFiles() => [.. ManifestFiles.All("valid").Select(f => Path.GetFileName(f))];

    [Theory]
    [MemberData(nameof(ValidFiles))]
    public void ValidManifest_LoadsWithoutDiagnostics(string name)
    {
        var result = ManifestLoader.Load(Path.Combine(ManifestFiles.Data("valid"), name));
        Assert.True(result.Diagnostics.Count == 0, Report(result));
        Assert.NotNull(result.Manifest);
    }

    [Fact]
    public void FiveProblems_AreAllReportedAtOnceWithTheirPositions()
    {
        var result = Parse("""
            apiVersion: keyward/v1
            credentials:
              jwt: { kind: secret, owner: o, purpose: p, bytez: 64 }
              tok:
                kind: attic-token
                signedBy: jwt-secret
                owner: o
                purpose: p
                subject: ci
                validity: 30d
                caches: { main: [pull, write] }
            sinks:
              env:
                path: /run/keyward/atticd.env
                format: env
                mode: "0644"
                entries: { 1BAD: jwt }
            """);
        Assert.True(result.HasErrors);
        Assert.Null(result.Manifest);
        var got = result.Errors.Select(e => (e.Code.Code, e.Location!.Line, e.Location.Column)).ToList();
        Assert.Equal(
            [
                ("KW0104", 3, 46), // unknown key bytez
                ("KW0201", 6, 15), // signedBy names no credential
                ("KW0208", 11, 28), // 'write' is no Attic permission
                ("KW0214", 16, 11), // world-readable secret sink
                ("KW0216", 17, 16), // invalid environment variable name
            ],
            got);
        Assert.All(result.Errors, e => Assert.Equal(File, e.Location!.File));
        Assert.Contains("did you mean 'bytes'?", result.Errors.First().Hint, StringComparison.Ordinal);
    }

    [Fact]
    public void Diagnostics_AreInFileOrder()
    {
        var result = Parse("""
            apiVersion: keyward/v1
            sinks:
              a: { path: relative, format: raw, credential: missing }
            credentials:
              x: { kind: nope, owner: o, purpose: p }
            """);
        var positions = result.Diagnostics.Select(d => (d.Error.Location!.Line, d.Error.Location.Column)).ToList();
        Assert.True(positions.Count >= 3, Report(result));
        Assert.Equal(positions.Order().ToList(), positions);
    }

    [Fact]
    public void DuplicateKey_IsReportedAndParsingContinues()
    {
        var result = Parse("""
            apiVersion: keyward/v1
            credentials:
              a: { kind: secret, owner: o, purpose: p }
              a: { kind: secret, owner: o, purpose: p }
              b: { kind: secret, owner: o, purpose: p, bytes: 0 }
            """);
        Assert.Contains(result.Errors, e => e.Code == ErrorCodes.ManifestDuplicateKey && e.Location!.Line == 4 && e.Location.Column == 3);
        Assert.Contains(result.Errors, e => e.Code == ErrorCodes.ManifestOutOfRange && e.Location!.Line == 5);
    }

    [Fact]
    public void YamlSyntaxError_IsReportedWithPosition()
    {
        var result = Parse("apiVersion: keyward/v1\ncredentials:\n  a: { kind: secret\n   owner: \"unterminated\n");
        var e = Assert.Single(result.Errors);
        Assert.Equal(ErrorCodes.ManifestSyntax, e.Code);
        Assert.True(e.Location!.Line >= 3, e.ToString());
    }

    [Fact]
    public void Positions_AreOneBased()
    {
        var result = Parse("apiVersion: keyward/v2\ncredentials: {}\n");
        var e = Assert.Single(result.Errors);
        Assert.Equal(ErrorCodes.ManifestApiVersion, e.Code);
        Assert.Equal((1, 13), (e.Location!.Line, e.Location.Column));
    }

    [Fact]
    public void WildcardShadowingALaterPattern_IsAWarningNotAnError()
    {
        var result = Parse("""
            apiVersion: keyward/v1
            credentials:
              jwt: { kind: secret, owner: o, purpose: p }
              tok:
                kind: attic-token
                signedBy: jwt
                owner: o
                purpose: p
                subject: ci
                validity: 30d
                caches:
                  "*": [pull]
                  main: [pull, push]
                  starlite-*: [pull, push]
            """);
        Assert.False(result.HasErrors, Report(result));
        Assert.NotNull(result.Manifest);
        // The exact name 'main' always wins in Attic, so only the later wildcard pattern is shadowed.
        var w = Assert.Single(result.Warnings);
        Assert.Equal(ErrorCodes.ManifestShadowedPattern, w.Code);
        Assert.Equal((14, 7), (w.Location!.Line, w.Location.Column));
        var token = Assert.IsType<AtticTokenCredential>(result.Manifest.FindCredential("tok"));
        Assert.Equal(["*", "main", "starlite-*"], token.Caches.Select(c => c.Pattern.Text));
    }

    [Fact]
    public void SpecificBeforeWildcard_HasNoWarning()
    {
        var result = Parse("""
            apiVersion: keyward/v1
            credentials:
              jwt: { kind: secret, owner: o, purpose: p }
              tok: { kind: attic-token, signedBy: jwt, owner: o, purpose: p, subject: s, validity: 30d, caches: { "team-ci-*": [push], "team-*": [pull] } }
            """);
        Assert.Empty(result.Diagnostics);
    }

    [Fact]
    public void AutoContinueOnASecret_IsAWarning()
    {
        var result = Parse("""
            apiVersion: keyward/v1
            credentials:
              jwt: { kind: secret, owner: o, purpose: p, rotation: { autoContinue: true } }
            """);
        Assert.False(result.HasErrors);
        Assert.Equal(ErrorCodes.ManifestIgnoredSetting, Assert.Single(result.Warnings).Code);
    }

    [Theory]
    [InlineData("\"0600\"", 0x180)]
    [InlineData("0600", 0x180)]
    [InlineData("600", 0x180)]
    [InlineData("0o640", 0x1A0)]
    [InlineData("\"2750\"", 0x5E8)]
    [InlineData("07770", 0xFF8)]
    public void Mode_IsOctalWhateverTheQuoting(string text, int expected)
    {
        var result = Parse($$"""
            apiVersion: keyward/v1
            credentials:
              jwt: { kind: secret, owner: o, purpose: p }
            sinks:
              out: { path: /run/keyward/jwt, format: raw, credential: jwt, mode: {{text}}, directoryMode: {{text}} }
            """);
        Assert.False(result.HasErrors, Report(result));
        var sink = result.Manifest!.Sinks[0];
        Assert.Equal(expected, sink.Mode);
        Assert.Equal(expected, sink.DirectoryMode);
    }

    [Fact]
    public void Defaults_AreApplied()
    {
        var result = Parse("""
            apiVersion: keyward/v1
            credentials:
              s: { kind: secret, owner: o, purpose: p }
              r: { kind: rsa-key, owner: o, purpose: p }
            sinks:
              raw: { path: /run/keyward/s, format: raw, credential: s }
              conf: { path: /etc/nix/k.conf, format: nix-conf, substituters: ["https://cache.nixos.org"] }
              kube: { path: /var/lib/keyward/k.yaml, format: kubernetes-secret, entries: { key: s } }
            services:
              attic: { kind: attic, url: "https://cache.example.org/", caches: { main: {} } }
            """);
        Assert.False(result.HasErrors, Report(result));
        var m = result.Manifest!;
        var s = Assert.IsType<SecretCredential>(m.FindCredential("s"));
        Assert.Equal((32, ValueEncoding.Raw), (s.Bytes, s.Encoding));
        var r = Assert.IsType<RsaKeyCredential>(m.FindCredential("r"));
        Assert.Equal((4096, RsaKeyFormat.Pkcs1), (r.Bits, r.Format));
        Assert.Equal((0x180, 0x1ED), (m.FindSink("raw")!.Mode, m.FindSink("raw")!.DirectoryMode));
        Assert.Equal(0x1A4, m.FindSink("conf")!.Mode);
        var kube = m.FindSink("kube")!.Kubernetes!;
        Assert.Equal(("kube", "default", "Opaque", false), (kube.Name, kube.Namespace, kube.Type, kube.Live));
        var cache = Assert.Single(Assert.Single(m.Services).Caches);
        Assert.Equal((false, "/nix/store", 41, 0), (cache.IsPublic, cache.StoreDir, cache.Priority, cache.UpstreamCacheKeyNames.Count));
    }

    [Fact]
    public void EntryWithoutEncoding_TakesTheSecretsDeclaredEncoding()
    {
        var result = Parse("""
            apiVersion: keyward/v1
            credentials:
              hex: { kind: secret, bytes: 16, encoding: hex, owner: o, purpose: p }
            sinks:
              a: { path: /run/keyward/a, format: raw, credential: hex }
              b: { path: /run/keyward/b, format: raw, credential: hex, encoding: raw }
              c: { path: /run/keyward/c.env, format: env, entries: { A: hex, B: { credential: hex, encoding: base64 } } }
            """);
        Assert.False(result.HasErrors, Report(result));
        var m = result.Manifest!;
        Assert.Equal(ValueEncoding.Hex, m.FindSink("a")!.Entries[0].Encoding);
        Assert.Equal(ValueEncoding.Raw, m.FindSink("b")!.Entries[0].Encoding);
        Assert.Equal([ValueEncoding.Hex, ValueEncoding.Base64], m.FindSink("c")!.Entries.Select(e => e.Encoding));
    }

    [Fact]
    public void FieldOfAnotherKind_NamesTheKindItBelongsTo()
    {
        var result = Parse("""
            apiVersion: keyward/v1
            credentials:
              k: { kind: nix-signing-key, keyName: main-1, owner: o, purpose: p, bytes: 32 }
            """);
        var e = Assert.Single(result.Errors);
        Assert.Equal(ErrorCodes.ManifestFieldNotApplicable, e.Code);
        Assert.Contains("secret", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void UnknownKindValue_SuggestsTheClosestKind()
    {
        var result = Parse("""
            apiVersion: keyward/v1
            credentials:
              k: { kind: nix-signing-keys, owner: o, purpose: p }
            """);
        var e = Assert.Single(result.Errors);
        Assert.Equal(ErrorCodes.ManifestInvalidValue, e.Code);
        Assert.Equal("did you mean 'nix-signing-key'?", e.Hint);
    }

    [Fact]
    public void BrokenCredential_DoesNotCascadeIntoDanglingReferences()
    {
        var result = Parse("""
            apiVersion: keyward/v1
            credentials:
              jwt: { kind: sekret, owner: o, purpose: p }
            sinks:
              out: { path: /run/keyward/jwt, format: raw, credential: jwt }
            """);
        Assert.Equal(ErrorCodes.ManifestInvalidValue, Assert.Single(result.Errors).Code);
    }

    [Fact]
    public void RelativeSourcePaths_AreKeptAsWritten()
    {
        var result = Parse("""
            apiVersion: keyward/v1
            credentials:
              gh: { kind: external, provider: github, host: github.com, owner: o, purpose: p, source: { jsonMap: tokens.json, key: github.com } }
            """);
        var gh = Assert.IsType<ExternalCredential>(result.Manifest!.FindCredential("gh"));
        var src = Assert.IsType<JsonMapSource>(gh.Source);
        Assert.Equal(("tokens.json", "github.com"), (src.Path, src.Key));
    }

    [Fact]
    public void Load_MissingFile_ReportsFileNotFound()
    {
        var result = ManifestLoader.Load(Path.Combine(Path.GetTempPath(), "keyward-no-such-dir-" + Guid.NewGuid(), "keyward.yaml"));
        Assert.True(result.HasErrors);
        Assert.Equal(ErrorCodes.FileNotFound, Assert.Single(result.Errors).Code);
    }

    [Fact]
    public void OrThrow_CarriesEveryError()
    {
        var result = Parse("apiVersion: keyward/v1\ncredentials:\n  a: { kind: secret }\n");
        var ex = Assert.Throws<KeywardException>(() => result.OrThrow());
        Assert.Equal(2, ex.Errors.Count); // owner and purpose
        Assert.Equal(ErrorKind.BadInput, ex.Kind);
    }
}
