using Keyward.Core.Errors;
using Keyward.Core.Manifest;

namespace Keyward.Core.Tests.Manifest;

/// <summary>Env sinks carry literal values (<c>KEY: { value: TEXT }</c>) beside credentials, and the runner template rule
/// (<see cref="AtticEnvRule"/>): an env pointing at a declared Attic cache must carry its ATTIC_PUBLIC_KEY.
/// The invalid forms (both value and credential, control characters, other formats, …) are files under
/// tests/data/manifests/invalid/literal-*.yaml, each with its code and line:col.</summary>
public sealed class LiteralEntryManifestTests
{
    private static ManifestLoadResult Parse(string yaml) => ManifestLoader.Parse(yaml.ReplaceLineEndings("\n"), "keyward.yaml");

    private static string Report(ManifestLoadResult r) =>
        string.Join("\n", r.Diagnostics.Select(d => (d.IsWarning ? "warning " : "") + d.Error));

    private const string Head = """
        apiVersion: keyward/v1
        credentials:
          jwt: { kind: secret, owner: o, purpose: p }
          cache-key: { kind: nix-signing-key, keyName: main-1, owner: o, purpose: p }
          other-key: { kind: nix-signing-key, keyName: other-1, owner: o, purpose: p }
          push: { kind: attic-token, signedBy: jwt, subject: ci, validity: 30d, owner: o, purpose: p, caches: { main: [push] } }
        services:
          attic:
            kind: attic
            url: https://cache.example.org/
            caches: { main: { signingKey: cache-key } }
        sinks:
        """;

    private static ManifestLoadResult WithSink(string sink) => Parse(Head + "\n" + sink);

    [Fact]
    public void LiteralAndCredentialEntries_KeepManifestOrder_AndLiteralsNameNoCredential()
    {
        var r = WithSink("""
              runner-env:
                path: /run/keyward/runner.env
                format: env
                entries:
                  ATTIC_SERVER: { value: "https://cache.example.org/" }
                  ATTIC_CACHE: { value: main }
                  ATTIC_TOKEN: push
                  QUOTED: { value: 'say "hi" to $USER' }
                  ATTIC_PUBLIC_KEY: { credential: cache-key, public: true }
            """);
        Assert.False(r.HasErrors, Report(r));
        Assert.Empty(r.Warnings);
        var sink = r.Manifest!.FindSink("runner-env")!;
        Assert.Equal(["ATTIC_SERVER", "ATTIC_CACHE", "ATTIC_TOKEN", "QUOTED", "ATTIC_PUBLIC_KEY"], sink.Entries.Select(e => e.Key));
        Assert.Equal([EntryValue.Literal, EntryValue.Literal, EntryValue.Value, EntryValue.Literal, EntryValue.PublicKey], sink.Entries.Select(e => e.Take));
        Assert.Equal(["https://cache.example.org/", "main", null, "say \"hi\" to $USER", null], sink.Entries.Select(e => e.Literal));
        Assert.Equal((18, 7), (sink.Entries[1].Location.Line, sink.Entries[1].Location.Column));
        // A literal is no credential reference: what the sink needs a value of is only its credentials.
        Assert.Equal(["push", "cache-key"], sink.CredentialNames);
    }

    [Fact]
    public void SinkOfLiteralsAndPublicKeysOnly_CarriesNoSecret_MayBeWorldReadable()
    {
        var r = WithSink("""
              nix-client-env:
                path: /etc/keyward/attic.env
                format: env
                mode: "0644"
                entries:
                  ATTIC_SERVER: { value: "https://cache.example.org/" }
                  ATTIC_CACHE: { value: main }
                  ATTIC_PUBLIC_KEY: { credential: cache-key, public: true }
            """);
        Assert.False(r.HasErrors, Report(r));
        // The same mode with a credential's value in it is refused (KW0214): literals do not count as secrets.
        var secret = WithSink("""
              nix-client-env:
                path: /etc/keyward/attic.env
                format: env
                mode: "0644"
                entries:
                  ATTIC_CACHE: { value: main }
                  ATTIC_TOKEN: push
            """);
        Assert.Contains(secret.Errors, e => e.Code == ErrorCodes.ManifestWorldReadable);
    }

    [Fact]
    public void LiteralThatLooksLikeAToken_IsAWarningAtTheValue_WithoutTheValue()
    {
        const string token = "ghp_0123456789abcdefghijklmnopqrstuvwxyz";
        var r = WithSink($"""
              env:
                path: /run/keyward/a.env
                format: env
                entries:
                  GITHUB_TOKEN: {"{"} value: {token} {"}"}
            """);
        Assert.False(r.HasErrors, Report(r));
        var w = Assert.Single(r.Warnings);
        Assert.Equal(ErrorCodes.ManifestLiteralLooksSecret, w.Code);
        Assert.Equal((17, 30), (w.Location!.Line, w.Location.Column));
        Assert.DoesNotContain(token, w.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void BothValueAndCredential_AndControlCharacters_AreAllReportedAtOnce()
    {
        var r = WithSink("""
              env:
                path: /run/keyward/a.env
                format: env
                entries:
                  A: { value: x, credential: jwt }
                  B: { value: "line\nbreak" }
                  C: { value: "carriage\rreturn" }
                  D: { value: "tab\tis fine" }
            """);
        Assert.Equal(
            [(ErrorCodes.ManifestConflictingFields, 17, 12), (ErrorCodes.ManifestLiteralNotRepresentable, 18, 19), (ErrorCodes.ManifestLiteralNotRepresentable, 19, 19)],
            r.Errors.Select(e => (e.Code, e.Location!.Line, e.Location.Column)));
        Assert.Contains("a newline", r.Errors.ElementAt(1).Message, StringComparison.Ordinal);
        Assert.Contains("a carriage return", r.Errors.ElementAt(2).Message, StringComparison.Ordinal);
    }

    // ---- the runner template rule -----------------------------------------------------------------

    [Fact]
    public void RunnerEnvWithoutPublicKey_IsWarnedAtTheSink_WithTheEntryToAdd()
    {
        var r = WithSink("""
              runner-env:
                path: /run/keyward/runner.env
                format: env
                entries:
                  ATTIC_SERVER: { value: "https://cache.example.org/" }
                  ATTIC_CACHE: { value: main }
                  ATTIC_TOKEN: push
            """);
        Assert.False(r.HasErrors, Report(r));
        var w = Assert.Single(r.Warnings);
        Assert.Equal(ErrorCodes.ManifestAtticEnvWithoutPublicKey, w.Code);
        Assert.Equal((13, 3), (w.Location!.Line, w.Location.Column));
        Assert.Contains("sink 'runner-env'", w.Message, StringComparison.Ordinal);
        Assert.Contains("cache 'main' of service 'attic'", w.Message, StringComparison.Ordinal);
        Assert.Equal("add ATTIC_PUBLIC_KEY: { credential: cache-key, public: true } to its entries", w.Hint);

        var finding = AtticEnvRule.Evaluate(r.Manifest!.FindSink("runner-env")!, r.Manifest.Services);
        Assert.Equal((false, "MissingAtticPublicKey"), (finding!.Satisfied, finding.Reason));
    }

    [Theory]
    [InlineData("{ value: \"main-1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\" }", "a literal value")]
    [InlineData("{ credential: other-key, public: true }", "the public half of 'other-key'")]
    [InlineData("cache-key", "the private value of 'cache-key'")]
    public void RunnerEnvWithAnotherPublicKey_IsWarnedAtThatEntry(string entry, string carried)
    {
        var r = WithSink($"""
              runner-env:
                path: /run/keyward/runner.env
                format: env
                entries:
                  ATTIC_SERVER: {"{"} value: "https://cache.example.org/" {"}"}
                  ATTIC_CACHE: {"{"} value: main {"}"}
                  ATTIC_PUBLIC_KEY: {entry}
            """);
        Assert.False(r.HasErrors, Report(r));
        var w = Assert.Single(r.Warnings, x => x.Code == ErrorCodes.ManifestAtticEnvWithoutPublicKey);
        Assert.Equal((19, 7), (w.Location!.Line, w.Location.Column));
        Assert.Contains(carried, w.Message, StringComparison.Ordinal);
        Assert.Equal("write it as ATTIC_PUBLIC_KEY: { credential: cache-key, public: true }", w.Hint);
        Assert.Equal("WrongAtticPublicKey", AtticEnvRule.Evaluate(r.Manifest!.FindSink("runner-env")!, r.Manifest.Services)!.Reason);
    }

    [Fact]
    public void RunnerEnvWithThePublicKey_IsSatisfied()
    {
        var r = WithSink("""
              runner-env:
                path: /run/keyward/runner.env
                format: env
                entries:
                  ATTIC_SERVER: { value: "https://cache.example.org" }
                  ATTIC_CACHE: { value: main }
                  ATTIC_PUBLIC_KEY: { credential: cache-key, public: true }
            """);
        Assert.Empty(r.Diagnostics);
        var finding = AtticEnvRule.Evaluate(r.Manifest!.FindSink("runner-env")!, r.Manifest.Services)!;
        Assert.Equal((true, "CarriesCachePublicKey", "attic", "main"), (finding.Satisfied, finding.Reason, finding.Service.Name, finding.Cache.Name));
    }

    [Theory]
    [InlineData("ATTIC_CACHE: { value: main }")]                                                   // no ATTIC_SERVER
    [InlineData("ATTIC_SERVER: { value: \"https://cache.example.org/\" }")]                        // no ATTIC_CACHE
    [InlineData("ATTIC_SERVER: { value: \"https://cache.example.org/\" }\n      ATTIC_CACHE: { value: elsewhere }")] // undeclared cache
    public void EnvThatPointsAtNoDeclaredCache_IsNotConcerned(string entries)
    {
        var r = WithSink($"""
              env:
                path: /run/keyward/a.env
                format: env
                entries:
                  {entries}
                  ATTIC_TOKEN: push
            """);
        Assert.Empty(r.Diagnostics);
        Assert.Null(AtticEnvRule.Evaluate(r.Manifest!.FindSink("env")!, r.Manifest.Services));
    }

    [Fact]
    public void TwoServicesWithTheCache_TheOneAtAtticServerIsMeant()
    {
        var r = Parse("""
            apiVersion: keyward/v1
            credentials:
              key-a: { kind: nix-signing-key, keyName: a-1, owner: o, purpose: p }
              key-b: { kind: nix-signing-key, keyName: b-1, owner: o, purpose: p }
            services:
              a: { kind: attic, url: "https://a.example.org/", caches: { main: { signingKey: key-a } } }
              b: { kind: attic, url: "https://b.example.org/", caches: { main: { signingKey: key-b } } }
            sinks:
              env:
                path: /run/keyward/a.env
                format: env
                entries:
                  ATTIC_SERVER: { value: "https://b.example.org/" }
                  ATTIC_CACHE: { value: main }
                  ATTIC_PUBLIC_KEY: { credential: key-a, public: true }
            """);
        var w = Assert.Single(r.Warnings);
        Assert.Contains("of service 'b'", w.Message, StringComparison.Ordinal);
        Assert.Equal("write it as ATTIC_PUBLIC_KEY: { credential: key-b, public: true }", w.Hint);
    }
}
