using Keyward.Core.Manifest;

namespace Keyward.Core.Tests.Manifest;

/// <summary>The manifest holds no secrets, but a token pasted where a name belongs must not be echoed in diagnostics.</summary>
public sealed class ManifestLeakTests
{
    // Fake, format-shaped values (the GitHub one is from service-apis.md §3.1's public example).
    private static readonly string[] Tokens =
    [
        "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",
        "glpat-FAKEexampleToken0000",
        "0123456789abcdef0123456789abcdeffeedface",
        "ops_eyJzaWduSW5BZGRyZXNzIjoiZXhhbXBsZS4xcGFzc3dvcmQuY29tIn0",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJtZW93In0.c2lnbmF0dXJl",
        "Zm9vYmFyYmF6cXV4cXV1eFpZWDEyMzQ1Njc4OTBhYmNk",
    ];

    [Fact]
    public void TokensPastedIntoTheManifest_AreNeverEchoed()
    {
        var yaml = $$"""
            apiVersion: keyward/v1
            credentials:
              {{Tokens[0]}}: { kind: secret, owner: o, purpose: p }
              gh: { kind: external, provider: github, host: "{{Tokens[1]}}", owner: o, purpose: p, source: { env: "{{Tokens[2]}}" } }
              op: { kind: "{{Tokens[3]}}", owner: o, purpose: p }
              jwt: { kind: secret, owner: o, purpose: p, "{{Tokens[4]}}": 1 }
              tok: { kind: attic-token, signedBy: "{{Tokens[5]}}", owner: o, purpose: p, subject: s, validity: "{{Tokens[2]}}", caches: { main: ["{{Tokens[0]}}"] } }
            sinks:
              out: { path: /run/keyward/x, format: raw, credential: "{{Tokens[1]}}", mode: "{{Tokens[2]}}" }
            """;
        var result = ManifestLoader.Parse(yaml, "keyward.yaml");
        Assert.True(result.Errors.Count() >= 9, string.Join("\n", result.Errors));
        var text = string.Join("\n", result.Diagnostics.Select(d => d.Error + "\n" + d.Error.Hint));
        foreach (var token in Tokens)
            Assert.DoesNotContain(token, text, StringComparison.Ordinal);
        Assert.DoesNotContain("zQWBuTSOoRi4A9spHcVY5", text, StringComparison.Ordinal);
    }
}
