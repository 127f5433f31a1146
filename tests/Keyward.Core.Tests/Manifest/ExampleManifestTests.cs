using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Keyward.Core.Attic;
using Keyward.Core.Manifest;

namespace Keyward.Core.Tests.Manifest;

/// <summary>examples/homelab: the reference infrastructure must load cleanly and say what issue 2 part 8 asks for.</summary>
public sealed partial class ExampleManifestTests
{
    private static KeywardManifest Example()
    {
        var result = ManifestLoader.Load(ManifestFiles.Example);
        Assert.True(result.Diagnostics.Count == 0, string.Join("\n", result.Diagnostics.Select(d => d.Error.ToString())));
        return result.Manifest!;
    }

    [Fact]
    public void Example_LoadsWithoutErrorsOrWarnings() => Assert.NotNull(Example());

    [Fact]
    public void Example_EveryCredentialHasOwnerAndPurpose()
    {
        var m = Example();
        Assert.All(m.Credentials, c => Assert.False(string.IsNullOrWhiteSpace(c.Owner) || string.IsNullOrWhiteSpace(c.Purpose), c.Name));
    }

    [Fact]
    public void Example_Attic()
    {
        var m = Example();
        var secret = Assert.IsType<SecretCredential>(m.FindCredential("attic-jwt-secret"));
        Assert.Equal(64, secret.Bytes);
        Assert.Equal(TimeSpan.FromDays(365), m.EffectivePolicy(secret).MaxAge!.Value.Value);
        Assert.Equal("cache.example.org-1", Assert.IsType<NixSigningKeyCredential>(m.FindCredential("attic-cache-key")).KeyName);
        foreach (var name in new[] { "attic-admin-token", "ci-push-token", "private-reader-token" })
            Assert.Equal("attic-jwt-secret", Assert.IsType<AtticTokenCredential>(m.FindCredential(name)).SignedBy);
        var ci = (AtticTokenCredential)m.FindCredential("ci-push-token")!;
        var grant = Assert.Single(ci.Caches);
        Assert.Equal("main", grant.Pattern.Text);
        Assert.Equal([AtticPermission.Pull, AtticPermission.Push], grant.Permissions);
        Assert.Equal(TimeSpan.FromDays(10), m.EffectivePolicy(ci).RenewBefore!.Value.Value); // from defaults

        var env = m.FindSink("atticd-env")!;
        Assert.Equal(("/run/keyward/atticd.env", SinkFormat.Env, "atticd", 0x100), (env.Path, env.Format, env.Owner, env.Mode));
        var entry = Assert.Single(env.Entries);
        Assert.Equal(("ATTIC_SERVER_TOKEN_HS256_SECRET_BASE64", "attic-jwt-secret", ValueEncoding.Base64), (entry.Key, entry.Credential, entry.Encoding));
        Assert.Equal("atticd.service", Assert.IsType<RestartUnitHook>(Assert.Single(env.OnChange)).Unit);

        var client = m.FindSink("attic-client-config")!;
        Assert.Equal(("/root/.config/attic/config.toml", SinkFormat.AtticConfig, "main"), (client.Path, client.Format, client.AtticConfig!.DefaultServer));
        Assert.Equal("https://cache.example.org/", Assert.Single(client.Entries).Endpoint);

        var conf = m.FindSink("runner-nix-conf")!;
        Assert.Equal(["attic-cache-key"], conf.NixConf!.TrustedPublicKeys);
        Assert.Equal("/etc/nix/keyward-netrc", conf.NixConf.NetrcFile);
        var netrc = m.FindSink("runner-netrc")!;
        Assert.Equal((SinkFormat.Netrc, 0x180), (netrc.Format, netrc.Mode));
        Assert.Equal(("cache.example.org", "ci-push-token"), (netrc.Entries[0].Key, netrc.Entries[0].Credential));
        // The runner template: literal server and cache beside the push token and the cache's public key.
        var runner = m.FindSink("runner-env")!;
        Assert.Equal(["ATTIC_SERVER", "ATTIC_CACHE", "ATTIC_TOKEN", "ATTIC_PUBLIC_KEY"], runner.Entries.Select(e => e.Key));
        Assert.Equal(["https://cache.example.org/", "main"], runner.Entries.Where(e => e.IsLiteral).Select(e => e.Literal));
        Assert.Equal(["ci-push-token", "attic-cache-key"], runner.CredentialNames);
        Assert.True(AtticEnvRule.Evaluate(runner, m.Services)!.Satisfied);

        var attic = m.Services.Single(s => s.Kind == ServiceKind.Attic);
        Assert.Equal(new Uri("https://cache.example.org/"), attic.Url);
        var cache = Assert.Single(attic.Caches);
        Assert.Equal(("main", true, "/nix/store", 41, 0, "attic-cache-key"),
            (cache.Name, cache.IsPublic, cache.StoreDir, cache.Priority, cache.UpstreamCacheKeyNames.Count, cache.SigningKey));
    }

    [Fact]
    public void Example_GitOpsTokens()
    {
        var m = Example();
        foreach (var sinkName in new[] { "nix-access-tokens", "git-credentials" })
        {
            var sink = m.FindSink(sinkName)!;
            Assert.Equal(("deploy", 0x180), (sink.Owner, sink.Mode));
            Assert.Equal(["github.com", "gitlab.com", "git.example.org"], sink.Entries.Select(e => e.Key));
        }
        Assert.Equal(SinkFormat.NixAccessTokens, m.FindSink("nix-access-tokens")!.Format);
        Assert.Equal("/home/deploy/.git-credentials", m.FindSink("git-credentials")!.Path);
        Assert.All(m.FindSink("git-credentials")!.Entries, e => Assert.NotNull(e.Username));
        foreach (var (name, host) in new[] { ("github-token", "github.com"), ("gitlab-token", "gitlab.com"), ("gitea-token", "git.example.org") })
        {
            var c = Assert.IsType<ExternalCredential>(m.FindCredential(name));
            var src = Assert.IsType<JsonMapSource>(c.Source);
            Assert.Equal(("tokens.json", host, host), (src.Path, src.Key, c.Host));
        }
    }

    [Fact]
    public void Example_OnePasswordTokenIsPersisted()
    {
        var m = Example();
        var sink = m.FindSink("onepassword-token")!;
        Assert.Equal(("/root/.config/op/token", "/persist/root/.config/op/token"), (sink.Path, sink.StoragePath));
        Assert.Equal(("root", "root", 0x180, 0x1C0), (sink.Owner, sink.Group, sink.Mode, sink.DirectoryMode));
        var c = Assert.IsType<ExternalCredential>(m.FindCredential("onepassword-token"));
        Assert.Equal(ExternalProvider.OnePassword, c.Provider);
        Assert.Equal("op-token", Assert.IsType<FileSource>(c.Source).Path);
    }

    [Fact]
    public void Example_CoderTokenIsAKubernetesSecret()
    {
        var m = Example();
        var c = Assert.IsType<ExternalCredential>(m.FindCredential("coder-admin-token"));
        Assert.Equal((ExternalProvider.Coder, (ExternalSource?)null), (c.Provider, c.Source));
        var sink = m.FindSink("coder-admin-api-token")!;
        Assert.Equal(SinkFormat.KubernetesSecret, sink.Format);
        Assert.Equal(("coder-admin-api-token", "coder"), (sink.Kubernetes!.Name, sink.Kubernetes.Namespace));
        Assert.Contains(m.Services, s => s.Kind == ServiceKind.Coder && s.Token == "coder-admin-token");
        Assert.Contains(m.Services, s => s.Kind == ServiceKind.Gitea);
    }

    // The example's tokens are fake but format-valid (service-apis.md §3.1–3.3).
    [Fact]
    public void ExampleTokens_AreFormatValid()
    {
        var dir = Path.GetDirectoryName(ManifestFiles.Example)!;
        var map = JsonSerializer.Deserialize<Dictionary<string, string>>(File.ReadAllText(Path.Combine(dir, "tokens.json")))!;

        var gh = map["github.com"];
        Assert.Matches(GitHubClassic(), gh);
        Assert.Equal(Base62(Crc32(Encoding.ASCII.GetBytes(gh[4..^6]))), gh[^6..]);
        Assert.Matches(GitLabLegacy(), map["gitlab.com"]);
        Assert.Matches(FortyHex(), map["git.example.org"]);

        var op = File.ReadAllText(Path.Combine(dir, "op-token")).Trim();
        Assert.StartsWith("ops_eyJ", op, StringComparison.Ordinal);
        var b64 = op[4..];
        var json = Encoding.UTF8.GetString(Convert.FromBase64String(b64.PadRight(b64.Length + ((4 - (b64.Length % 4)) % 4), '=')));
        using var doc = JsonDocument.Parse(json);
        Assert.Contains("FAKE", json, StringComparison.Ordinal);
    }

    [Fact]
    public void Crc32Base62_MatchesTheDocumentedGitHubExample()
    {
        // service-apis.md §3.1: 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 ends in the checksum 0mLq17.
        const string sample = "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";
        Assert.Equal("0mLq17", Base62(Crc32(Encoding.ASCII.GetBytes(sample[4..^6]))));
    }

    private static uint Crc32(byte[] data)
    {
        var crc = 0xFFFFFFFFu;
        foreach (var b in data)
        {
            crc ^= b;
            for (var k = 0; k < 8; k++) crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
        }
        return ~crc;
    }

    private static string Base62(uint n)
    {
        const string alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        var s = "";
        for (; n > 0; n /= 62) s = alphabet[(int)(n % 62)] + s;
        return s.PadLeft(6, '0');
    }

    [GeneratedRegex("^ghp_[A-Za-z0-9]{36}$")]
    private static partial Regex GitHubClassic();

    [GeneratedRegex("^glpat-[0-9A-Za-z_-]{20}$")]
    private static partial Regex GitLabLegacy();

    [GeneratedRegex("^[0-9a-f]{40}$")]
    private static partial Regex FortyHex();
}
