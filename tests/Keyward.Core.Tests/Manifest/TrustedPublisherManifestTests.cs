using Keyward.Core.Attic;
using Keyward.Core.Manifest;

namespace Keyward.Core.Tests.Manifest;

/// <summary>The manifest's trustedPublishers: and gate: sections: what they mean and every way they are refused.</summary>
public sealed class TrustedPublisherManifestTests
{
    private const string Head = """
        apiVersion: keyward/v1
        credentials:
          jwt: { kind: secret, owner: o, purpose: p }
          cache-key: { kind: nix-signing-key, keyName: main-1, owner: o, purpose: p }

        """;

    private static ManifestLoadResult Parse(string yaml) => ManifestLoader.Parse((Head + yaml).ReplaceLineEndings("\n"), "keyward.yaml");

    private static List<(string Code, int Line, int Column)> Errors(string yaml) =>
        [.. Parse(yaml).Errors.Select(e => (e.Code.Code, e.Location!.Line, e.Location.Column))];

    [Fact]
    public void A_publisher_reads_into_issuer_audience_claims_grants_and_validity()
    {
        var r = Parse("""
            trustedPublishers:
              gh:
                issuer: https://token.actions.githubusercontent.com
                audience: https://keyward.example
                signedBy: jwt
                claims: { repository: org/repo, ref: [refs/heads/main, "refs/tags/v*"] }
                caches: { main: [pull, push] }
                validity: 10m
            """);
        Assert.False(r.HasErrors, string.Join("\n", r.Errors));
        var p = Assert.Single(r.Manifest!.TrustedPublishers);
        Assert.Equal("https://token.actions.githubusercontent.com", p.IssuerText);
        Assert.Equal("https://keyward.example", p.Audience);
        Assert.Equal("jwt", p.SignedBy);
        Assert.Equal(TimeSpan.FromMinutes(10), p.Validity.Value);
        Assert.Equal(["repository", "ref"], p.Claims.Select(c => c.Claim));
        Assert.True(p.Claims[1].Matches("refs/tags/v1.2"));
        Assert.False(p.Claims[1].Matches("refs/heads/dev"));
        var g = Assert.Single(p.Caches);
        Assert.Equal("main", g.Pattern.Text);
        Assert.Equal([AtticPermission.Pull, AtticPermission.Push], g.Permissions);
        Assert.Equal(AtticGateSettings.Default, r.Manifest.Gate);
    }

    [Fact]
    public void Validity_defaults_to_15_minutes()
    {
        var r = Parse("""
            trustedPublishers:
              gh: { issuer: "https://i.example", audience: a, signedBy: jwt, claims: { repository: o/r }, caches: { main: [pull] } }
            """);
        Assert.Equal(TimeSpan.FromMinutes(15), Assert.Single(r.Manifest!.TrustedPublishers).Validity.Value);
    }

    [Fact]
    public void Every_problem_of_a_publisher_is_reported_with_its_position()
    {
        var got = Errors("""
            trustedPublishers:
              gh:
                issuer: http://issuer.example
                audience: a
                signedBy: cache-key
                claims: { ref: "refs/heads/*", workflow: { a: b } }
                caches: { main: [pull, fly] }
                validity: 2h
              none:
                issuer: https://i.example
                audience: a
                signedBy: nope
                claims: {}
                caches: { main: [pull] }
            """);
        Assert.Equal(
            [
                ("KW1401", 7, 13),  // plain http issuer
                ("KW0202", 9, 15),  // signed by a nix-signing-key
                ("KW1403", 10, 13), // no repository pinned exactly
                ("KW0105", 10, 46), // a claim value that is a mapping
                ("KW0208", 11, 28), // 'fly' is no permission
                ("KW1404", 12, 15), // more than 1h
                ("KW0201", 16, 15), // signedBy names nothing
                ("KW1402", 17, 13), // no claims at all
            ],
            got);
    }

    [Fact]
    public void A_globbed_repository_alone_does_not_pin_the_publisher_but_an_exact_owner_id_does()
    {
        Assert.Contains(("KW1403", 7, 13), Errors("""
            trustedPublishers:
              gh: { issuer: "https://i.example", audience: a, signedBy: jwt, caches: { main: [pull] },
                claims: { repository: "org/*" } }
            """).Select(e => (e.Code, e.Line, 13)));
        Assert.Empty(Errors("""
            trustedPublishers:
              gh: { issuer: "https://i.example", audience: a, signedBy: jwt, caches: { main: [pull] },
                claims: { repository: "org/*", repository_owner_id: "42" } }
            """));
    }

    [Fact]
    public void Loopback_http_issuers_are_allowed_for_tests()
    {
        Assert.Empty(Errors("""
            trustedPublishers:
              t: { issuer: "http://127.0.0.1:8080", audience: a, signedBy: jwt, claims: { sub: x }, caches: { main: [pull] } }
            """));
    }

    [Fact]
    public void The_gate_section_sets_foreign_tokens_anonymous_and_permission_checks()
    {
        var r = Parse("""
            gate: { foreignTokens: allow, anonymous: refuse, checkPermissions: false }
            """);
        Assert.Equal(new AtticGateSettings(ForeignTokens.Allow, false, false), r.Manifest!.Gate);
        Assert.Equal([("KW0108", 5, 24)], Errors("gate: { foreignTokens: maybe }\n"));
    }

    [Theory]
    [InlineData("org/repo", "org/repo", true)]
    [InlineData("org/*", "org/repo", true)]
    [InlineData("org/*", "other/repo", false)]
    [InlineData("refs/heads/*", "refs/heads/feature/x", true)]
    [InlineData("*-prod", "eu-prod", true)]
    [InlineData("a*b*c", "axxbyyc", true)]
    [InlineData("a*b*c", "axxbyy", false)]
    [InlineData("org/repo", "org/repo2", false)]
    public void Claim_globs_match_the_whole_value(string pattern, string value, bool matches) =>
        Assert.Equal(matches, ClaimMatcher.Glob(pattern, value));
}
