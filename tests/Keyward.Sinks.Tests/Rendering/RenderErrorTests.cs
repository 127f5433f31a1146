using System.Text;
using Keyward.Core.Errors;
using Keyward.Core.Manifest;
using Keyward.Sinks.Tests.Support;
using static Keyward.Sinks.Tests.Support.Fixtures;

namespace Keyward.Sinks.Tests.Rendering;

/// <summary>Every refusal, with its code and message in one golden file; and no message ever carries a value.</summary>
public sealed class RenderErrorTests
{
    private const string Spaced = "tok en-with-space";
    private const string Hashed = "token#comment";
    private const string Newline = "line1\nline2";
    private const string Quoted = "\"quoted";

    private static Dictionary<string, ResolvedCredential> Values()
    {
        var v = Homelab();
        foreach (var (name, value) in new[] { ("spaced", Spaced), ("hashed", Hashed), ("newline", Newline), ("quoted", Quoted), ("empty", "") })
            v[name] = Resolved(External(name, ExternalProvider.Generic, "h.example.org"), value);
        v["nohost"] = Resolved(External("nohost", ExternalProvider.Generic), "abc");
        v["binary"] = Resolved(SecretSpec("binary", 4), [0xff, 0xfe, 0x00, 0x80]);
        v["missing"] = new ResolvedCredential(SecretSpec("missing"), null, null);
        return v;
    }

    private static readonly KubernetesSecretOptions Kube = new("s", "ns", "Opaque", new Dictionary<string, string>(), false);

    public static TheoryData<string, ErrorCode> Cases => new()
    {
        { "raw-two-entries", ErrorCodes.SinkShape },
        { "raw-no-value", ErrorCodes.SinkValueMissing },
        { "raw-unresolved", ErrorCodes.SinkValueMissing },
        { "raw-public-key-of-token", ErrorCodes.SinkPublicKeyMissing },
        { "env-bad-name", ErrorCodes.SinkInvalidKey },
        { "env-name-starts-with-digit", ErrorCodes.SinkInvalidKey },
        { "env-newline", ErrorCodes.SinkValueNotRepresentable },
        { "env-binary", ErrorCodes.SinkValueNotRepresentable },
        { "env-duplicate", ErrorCodes.SinkInvalidKey },
        { "json-binary", ErrorCodes.SinkValueNotRepresentable },
        { "access-tokens-space", ErrorCodes.SinkValueNotRepresentable },
        { "access-tokens-hash", ErrorCodes.SinkValueNotRepresentable },
        { "access-tokens-empty", ErrorCodes.SinkValueNotRepresentable },
        { "access-tokens-no-host", ErrorCodes.SinkMissingHost },
        { "access-tokens-host-equals", ErrorCodes.SinkInvalidKey },
        { "access-tokens-duplicate-host", ErrorCodes.SinkInvalidKey },
        { "netrc-space", ErrorCodes.SinkValueNotRepresentable },
        { "netrc-leading-quote", ErrorCodes.SinkValueNotRepresentable },
        { "netrc-login-space", ErrorCodes.SinkValueNotRepresentable },
        { "netrc-duplicate-machine", ErrorCodes.SinkInvalidKey },
        { "git-empty-token", ErrorCodes.SinkValueNotRepresentable },
        { "git-no-host", ErrorCodes.SinkMissingHost },
        { "attic-no-endpoint", ErrorCodes.SinkShape },
        { "attic-unknown-default", ErrorCodes.SinkShape },
        { "nix-conf-no-options", ErrorCodes.SinkShape },
        { "nix-conf-relative-netrc", ErrorCodes.SinkShape },
        { "nix-conf-hash-in-substituter", ErrorCodes.SinkShape },
        { "nix-conf-key-without-public-half", ErrorCodes.SinkPublicKeyMissing },
        { "kube-no-options", ErrorCodes.SinkShape },
        { "kube-bad-key", ErrorCodes.SinkInvalidKey },
        { "kube-bad-name", ErrorCodes.SinkShape },
    };

    private static Sink Case(string name) => name switch
    {
        "raw-two-entries" => Sink(SinkFormat.Raw, [Entry("", "github-token"), Entry("", "gitlab-token")]),
        "raw-no-value" => Sink(SinkFormat.Raw, [Entry("", "missing")]),
        "raw-unresolved" => Sink(SinkFormat.Raw, [Entry("", "not-declared")]),
        "raw-public-key-of-token" => Sink(SinkFormat.Raw, [Entry("", "github-token", take: EntryValue.PublicKey)]),
        "env-bad-name" => Sink(SinkFormat.Env, [Entry("MY-VAR", "github-token")]),
        "env-name-starts-with-digit" => Sink(SinkFormat.Env, [Entry("1VAR", "github-token")]),
        "env-newline" => Sink(SinkFormat.Env, [Entry("VAR", "newline")]),
        "env-binary" => Sink(SinkFormat.Env, [Entry("VAR", "binary")]),
        "env-duplicate" => Sink(SinkFormat.Env, [Entry("VAR", "github-token"), Entry("VAR", "gitlab-token")]),
        "json-binary" => Sink(SinkFormat.Json, [Entry("k", "binary")]),
        "access-tokens-space" => Sink(SinkFormat.NixAccessTokens, [Entry("", "spaced")]),
        "access-tokens-hash" => Sink(SinkFormat.NixAccessTokens, [Entry("", "hashed")]),
        "access-tokens-empty" => Sink(SinkFormat.NixAccessTokens, [Entry("", "empty")]),
        "access-tokens-no-host" => Sink(SinkFormat.NixAccessTokens, [Entry("", "nohost")]),
        "access-tokens-host-equals" => Sink(SinkFormat.NixAccessTokens, [Entry("a=b", "github-token")]),
        "access-tokens-duplicate-host" => Sink(SinkFormat.NixAccessTokens, [Entry("github.com", "github-token"), Entry("", "github-token")]),
        "netrc-space" => Sink(SinkFormat.Netrc, [Entry("", "spaced")]),
        "netrc-leading-quote" => Sink(SinkFormat.Netrc, [Entry("", "quoted")]),
        "netrc-login-space" => Sink(SinkFormat.Netrc, [Entry("", "github-token", username: "a b")]),
        "netrc-duplicate-machine" => Sink(SinkFormat.Netrc, [Entry("GitHub.com", "github-token"), Entry("github.com", "gitlab-token")]),
        "git-empty-token" => Sink(SinkFormat.GitCredentials, [Entry("", "empty")]),
        "git-no-host" => Sink(SinkFormat.GitCredentials, [Entry("", "nohost")]),
        "attic-no-endpoint" => Sink(SinkFormat.AtticConfig, [Entry("main", "ci-push-token")]),
        "attic-unknown-default" => Sink(SinkFormat.AtticConfig, [Entry("main", "ci-push-token", endpoint: "https://c/")], attic: new AtticConfigOptions("other")),
        "nix-conf-no-options" => Sink(SinkFormat.NixConf, []),
        "nix-conf-relative-netrc" => Sink(SinkFormat.NixConf, [], nixConf: new NixConfOptions([], [], "netrc", [])),
        "nix-conf-hash-in-substituter" => Sink(SinkFormat.NixConf, [], nixConf: new NixConfOptions(["https://c/#x"], [], null, [])),
        "nix-conf-key-without-public-half" => Sink(SinkFormat.NixConf, [], nixConf: new NixConfOptions([], ["github-token"], null, [])),
        "kube-no-options" => Sink(SinkFormat.KubernetesSecret, [Entry("t", "github-token")]),
        "kube-bad-key" => Sink(SinkFormat.KubernetesSecret, [Entry("a/b", "github-token")], kubernetes: Kube),
        "kube-bad-name" => Sink(SinkFormat.KubernetesSecret, [Entry("t", "github-token")], kubernetes: Kube with { Name = "Bad_Name" }),
        _ => throw new ArgumentOutOfRangeException(nameof(name)),
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Refusal_HasItsCode_AndNoValueInTheMessage(string name, ErrorCode expected)
    {
        var e = Assert.Throws<KeywardException>(() => SinkRenderer.Render(Case(name), Values()));
        Assert.Equal(expected, e.First.Code);
        Assert.NotNull(e.First.Location);
        foreach (var secret in AllValues())
            Assert.DoesNotContain(secret, e.Message + e.First.Hint, StringComparison.Ordinal);
    }

    [Fact]
    public void Refusals_MatchGoldenMessages()
    {
        var sb = new StringBuilder();
        foreach (var row in Cases)
        {
            var name = (string)row.Data.Item1;
            var e = Assert.Throws<KeywardException>(() => SinkRenderer.Render(Case(name), Values()));
            sb.Append(name).Append(": ").Append(e.First).Append('\n');
        }
        Golden.Match("errors.txt", sb.ToString());
    }

    private static IEnumerable<string> AllValues() =>
        [Spaced, Hashed, Newline, Quoted, GitHubToken, GitLabToken, GiteaToken, AtticToken, NixSecretKey, Convert.ToBase64String(JwtSecretBytes)];
}
