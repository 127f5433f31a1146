using Keyward.Core.Manifest;
using Keyward.Sinks.Tests.Support;
using static Keyward.Sinks.Tests.Support.Fixtures;

namespace Keyward.Sinks.Tests.Rendering;

/// <summary>One golden file per format (and variant). Renderers are pure, so each is a plain unit test.</summary>
public sealed class RenderGoldenTests
{
    private static byte[] Render(Sink sink) => SinkRenderer.Render(sink, Homelab());

    [Fact]
    public void Raw_SecretBytes_AreWrittenExactlyWithoutNewline()
    {
        var bytes = Render(Sink(SinkFormat.Raw, [Entry("", "attic-jwt-secret")]));
        Assert.Equal(JwtSecretBytes, bytes);
        Golden.Match("raw-secret.bin", bytes);
    }

    [Fact]
    public void Raw_NixSigningKey_IsTheKeyTextWithoutNewline() =>
        Golden.Match("raw-nix-secret-key.txt", Render(Sink(SinkFormat.Raw, [Entry("", "attic-cache-key")])));

    [Fact]
    public void Raw_TakePublicKey_RendersThePublicHalf()
    {
        var bytes = Render(Sink(SinkFormat.Raw, [Entry("", "attic-cache-key", take: EntryValue.PublicKey)]));
        Assert.Equal(NixPublicKey, System.Text.Encoding.UTF8.GetString(bytes));
        Golden.Match("raw-nix-public-key.txt", bytes);
    }

    [Theory]
    [InlineData(ValueEncoding.Base64, "raw-secret-base64.txt")]
    [InlineData(ValueEncoding.Base64Url, "raw-secret-base64url.txt")]
    [InlineData(ValueEncoding.Hex, "raw-secret-hex.txt")]
    public void Raw_Encodings(ValueEncoding encoding, string golden) =>
        Golden.Match(golden, Render(Sink(SinkFormat.Raw, [Entry("", "attic-jwt-secret", encoding)])));

    [Fact]
    public void Env_AtticdSecret_IsBase64AndUnquoted()
    {
        var text = System.Text.Encoding.UTF8.GetString(Render(Sink(SinkFormat.Env, [
            Entry("ATTIC_SERVER_TOKEN_HS256_SECRET_BASE64", "attic-jwt-secret", ValueEncoding.Base64),
        ])));
        Assert.Equal("ATTIC_SERVER_TOKEN_HS256_SECRET_BASE64=" + Convert.ToBase64String(JwtSecretBytes) + "\n", text);
        Golden.Match("env-atticd.env", text);
    }

    [Fact]
    public void Env_ValuesNeedingQuotes_AreDoubleQuotedWithEscapes()
    {
        var values = Values(
            Resolved(External("plain", ExternalProvider.Generic), "abc-DEF_0.9/x+y=z:1,2@h%"),
            Resolved(External("spaced", ExternalProvider.Generic), "two words\tand tab"),
            Resolved(External("nasty", ExternalProvider.Generic), "a\"b\\c`d$e'f#g;h!i"),
            Resolved(External("empty", ExternalProvider.Generic), ""),
            Resolved(External("unicode", ExternalProvider.Generic), "pässwörd"));
        var sink = Sink(SinkFormat.Env, [Entry("PLAIN", "plain"), Entry("SPACED", "spaced"), Entry("NASTY", "nasty"),
            Entry("EMPTY", "empty"), Entry("_UNICODE1", "unicode")]);
        Golden.Match("env-quoting.env", SinkRenderer.Render(sink, values));
    }

    /// <summary>A runner env: literal values of the manifest beside a token and a public key, in manifest order, quoted by
    /// the same rule as credential values.</summary>
    [Fact]
    public void Env_LiteralsBesideCredentials_InManifestOrder()
    {
        var sink = Sink(SinkFormat.Env, [
            SinkEntry.OfLiteral("ATTIC_SERVER", "https://cache.example.org/", Here),
            SinkEntry.OfLiteral("ATTIC_CACHE", "main", Here),
            Entry("ATTIC_TOKEN", "ci-push-token"),
            Entry("ATTIC_PUBLIC_KEY", "attic-cache-key", take: EntryValue.PublicKey),
            SinkEntry.OfLiteral("RUNNER_LABELS", "nix linux/x86_64 $HOME", Here),
        ]);
        var bytes = Render(sink);
        Assert.Equal(
            "ATTIC_SERVER=https://cache.example.org/\n" +
            "ATTIC_CACHE=main\n" +
            $"ATTIC_TOKEN={AtticToken}\n" +
            $"ATTIC_PUBLIC_KEY={NixPublicKey}\n" +
            "RUNNER_LABELS=\"nix linux/x86_64 \\$HOME\"\n",
            System.Text.Encoding.UTF8.GetString(bytes));
        Golden.Match("env-runner.env", bytes);
    }

    [Fact]
    public void Env_OnlyLiterals_NeedNoCredentialValues() =>
        Assert.Equal("ATTIC_CACHE=main\n"u8.ToArray(),
            SinkRenderer.Render(Sink(SinkFormat.Env, [SinkEntry.OfLiteral("ATTIC_CACHE", "main", Here)]), new Dictionary<string, ResolvedCredential>()));

    [Fact]
    public void Env_LiteralWithNewline_IsRefusedWithoutShowingIt()
    {
        // The loader refuses it first (KW0229); the renderer is the second guard for a model built another way.
        var sink = Sink(SinkFormat.Env, [SinkEntry.OfLiteral("ATTIC_CACHE", "main\nINJECTED=1", Here)]);
        var ex = Assert.Throws<Core.Errors.KeywardException>(() => Render(sink));
        Assert.Equal(Core.Errors.ErrorCodes.SinkValueNotRepresentable, ex.First.Code);
        Assert.Contains("entry 'ATTIC_CACHE': the literal value contains a control character", ex.First.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("INJECTED", ex.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Json_KeysInManifestOrder_WithTrailingNewline() =>
        Golden.Match("tokens.json", Render(Sink(SinkFormat.Json, [
            Entry("github.com", "github-token"), Entry("gitlab.com", "gitlab-token"), Entry("git.example.org", "gitea-token"),
            Entry("jwt-secret", "attic-jwt-secret", ValueEncoding.Hex),
        ])));

    [Fact]
    public void NixAccessTokens_HostsFromKeysOrCredential_GitLabGetsPatPrefix() =>
        Golden.Match("access-tokens.conf", Render(Sink(SinkFormat.NixAccessTokens, [
            Entry("", "github-token"), Entry("", "gitlab-token"), Entry("git.example.org", "gitea-token"),
            Entry("github.com/private-org", "github-token"),
        ])));

    [Fact]
    public void NixAccessTokens_GitLabTokenWithPrefix_IsKeptAsIs()
    {
        var values = Values(Resolved(External("oauth", ExternalProvider.GitLab, "gitlab.example.org"), "OAuth2:abc123"),
            Resolved(External("pat", ExternalProvider.GitLab, "gitlab.example.com"), "PAT:def456"));
        var text = System.Text.Encoding.UTF8.GetString(SinkRenderer.Render(Sink(SinkFormat.NixAccessTokens, [Entry("", "oauth"), Entry("", "pat")]), values));
        Assert.Equal("access-tokens = gitlab.example.org=OAuth2:abc123 gitlab.example.com=PAT:def456\n", text);
    }

    [Fact]
    public void Netrc_AtticStyle_AlwaysWithALogin() =>
        Golden.Match("netrc", Render(Sink(SinkFormat.Netrc, [
            Entry("cache.example.org", "ci-push-token"), Entry("", "gitea-token"),
            Entry("gitlab.com", "gitlab-token", username: "ci-bot"),
        ])));

    [Fact]
    public void GitCredentials_DefaultUsernamesByProvider() =>
        Golden.Match("git-credentials", Render(Sink(SinkFormat.GitCredentials, [
            Entry("", "github-token"), Entry("", "gitlab-token"), Entry("", "gitea-token"),
            Entry("git.example.org:3000", "gitea-token", username: "bot"),
        ])));

    [Fact]
    public void GitCredentials_PercentEncodesLikeGit()
    {
        var values = Values(Resolved(External("odd", ExternalProvider.Generic, "git.example.org"), "p@ss:w/rd?#&=+ ~-_.é"));
        var sink = Sink(SinkFormat.GitCredentials, [Entry("git.example.org:8443/org/repo.git", "odd", username: "us er@corp")]);
        var text = System.Text.Encoding.UTF8.GetString(SinkRenderer.Render(sink, values));
        // git: user/password/host keep only [A-Za-z0-9-_.~], the path keeps reserved characters too; lowercase hex.
        Assert.Equal("https://us%20er%40corp:p%40ss%3aw%2frd%3f%23%26%3d%2b%20~-_.%c3%a9@git.example.org%3a8443/org/repo.git\n", text);
        Golden.Match("git-credentials-encoded", text);
    }

    [Fact]
    public void AtticConfig_TokenAndTokenFile_DefaultServerFirst() =>
        Golden.Match("attic-config.toml", Render(Sink(SinkFormat.AtticConfig, [
            Entry("homelab", "ci-push-token", endpoint: "https://cache.example.org/"),
            Entry("local.dev", "ci-push-token", endpoint: "http://localhost:8080", tokenFile: "/run/keyward/attic-token"),
        ])));

    [Fact]
    public void AtticConfig_DeclaredDefaultServer_IsUsed()
    {
        var sink = Sink(SinkFormat.AtticConfig, [
            Entry("a", "ci-push-token", endpoint: "https://a.example.org/"),
            Entry("b", "ci-push-token", endpoint: "https://b.example.org/", tokenFile: "/run/t"),
        ], attic: new AtticConfigOptions("b"));
        Assert.StartsWith("default-server = \"b\"\n", System.Text.Encoding.UTF8.GetString(SinkRenderer.Render(sink, Homelab())), StringComparison.Ordinal);
    }

    [Fact]
    public void NixConf_FragmentWithPublicKeysNetrcAndIncludes()
    {
        var sink = Sink(SinkFormat.NixConf, [], nixConf: new NixConfOptions(
            ["https://cache.example.org/main", "https://cache.nixos.org/"],
            ["attic-cache-key", "cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY="],
            "/etc/nix/netrc",
            ["/etc/nix/access-tokens.conf"]));
        Golden.Match("nix.conf", Render(sink));
    }

    [Fact]
    public void NixConf_NeverReadsSecretValues()
    {
        // The key credential resolves with a public key but no value: nix-conf must not need it.
        var values = Values(new ResolvedCredential(NixKey("attic-cache-key"), null, NixPublicKey));
        var sink = Sink(SinkFormat.NixConf, [], nixConf: new NixConfOptions([], ["attic-cache-key"], null, []));
        Assert.Equal("trusted-public-keys = " + NixPublicKey + "\n", System.Text.Encoding.UTF8.GetString(SinkRenderer.Render(sink, values)));
    }

    [Fact]
    public void KubernetesSecret_ManifestWithBase64Data() =>
        Golden.Match("kubernetes-secret.yaml", Render(Sink(SinkFormat.KubernetesSecret, [
            Entry("token", "coder-admin-token"), Entry("jwt.secret", "attic-jwt-secret"),
        ], kubernetes: new KubernetesSecretOptions("coder-admin-api-token", "coder", "Opaque",
            new Dictionary<string, string> { ["app.kubernetes.io/name"] = "coder", ["app.kubernetes.io/managed-by"] = "keyward", ["enabled"] = "true" }, false))));

    [Fact]
    public void EveryFormat_IsDeterministic()
    {
        foreach (var format in Enum.GetValues<SinkFormat>())
        {
            var sink = format switch
            {
                SinkFormat.NixConf => Sink(format, [], nixConf: new NixConfOptions(["https://c/"], ["attic-cache-key"], null, [])),
                SinkFormat.KubernetesSecret => Sink(format, [Entry("t", "github-token")], kubernetes: new KubernetesSecretOptions("s", "n", "Opaque", new Dictionary<string, string>(), false)),
                SinkFormat.AtticConfig => Sink(format, [Entry("s", "ci-push-token", endpoint: "https://c/")]),
                SinkFormat.Env => Sink(format, [Entry("T", "github-token")]),
                _ => Sink(format, [Entry("github.com", "github-token")]),
            };
            Assert.Equal(SinkRenderer.Render(sink, Homelab()), SinkRenderer.Render(sink, Homelab()));
        }
    }
}
