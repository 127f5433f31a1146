using Keyward.Core.Attic;
using Keyward.Core.Errors;
using Keyward.Core.Manifest;
using Keyward.Core.Secrets;
using Keyward.Core.Time;

namespace Keyward.Sinks.Tests.Support;

/// <summary>Manifest pieces and resolved values for renderer and writer tests. Every value is fake but format-valid.</summary>
internal static class Fixtures
{
    public static readonly SourceLocation Here = new("keyward.yaml", 7, 3);

    /// <summary>64 bytes 0x00..0x3f: the attic JWT secret of the tests.</summary>
    public static readonly byte[] JwtSecretBytes = Enumerable.Range(0, 64).Select(i => (byte)i).ToArray();

    // Fake tokens in the providers' shapes (reference: service-apis.md §3).
    public const string GitHubToken = "ghp_Kw0rdFakeToken000000000000000000000";
    public const string GitLabToken = "glpat-FakeKeywardToken0000";
    public const string GiteaToken = "0123456789abcdef0123456789abcdef01234567";
    public const string AtticToken = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjaS1ydW5uZXIifQ.c2lnbmF0dXJl";
    public const string NixSecretKey = "cache.example.org-0:E7lAO+MsPwTFfPXsdPtW8GKui/5ho4KQHVcAGnX+Tti1V4dUxoVoqLyWJ4YESuZJwQ67GVIksDt47og+tPVUZw==";
    // The Nix manual's example pair (NixOS/nix src/nix/key-generate-secret.md).
    public const string NixPublicKey = "cache.example.org-0:tVeHVMaFaKi8lieGBErmScEOuxlSJLA7eO6IPrT1VGc=";

    public static SecretCredential SecretSpec(string name, int bytes = 64) =>
        new(name, "attic-stack", "test", null, [], Here, bytes, ValueEncoding.Raw);

    public static ExternalCredential External(string name, ExternalProvider provider, string? host = null, string? username = null) =>
        new(name, "gitops", "test", null, [], Here, provider, host, username, null, null);

    public static NixSigningKeyCredential NixKey(string name) => new(name, "attic-cache", "test", null, [], Here, "cache.example.org-0");

    public static AtticTokenCredential AtticTokenSpec(string name) =>
        new(name, "ci", "test", null, [], Here, "attic-jwt-secret", "ci-runner", HumanDuration.Parse("30d"), null,
            [new CacheGrant(CacheNamePattern.Parse("main"), [AtticPermission.Pull, AtticPermission.Push], Here)], null, []);

    public static ResolvedCredential Resolved(Credential spec, string value, string? publicKey = null) =>
        new(spec, Secret.FromUtf8(value), publicKey);

    public static ResolvedCredential Resolved(Credential spec, byte[] value) => new(spec, Secret.FromBytes(value), null);

    public static SinkEntry Entry(string key, string credential, ValueEncoding encoding = ValueEncoding.Raw, EntryValue take = EntryValue.Value,
        string? username = null, string? endpoint = null, string? tokenFile = null) =>
        new(key, credential, encoding, take, username, endpoint, tokenFile, Here);

    public static Sink Sink(SinkFormat format, IReadOnlyList<SinkEntry> entries, string name = "test-sink", string path = "/run/keyward/test",
        NixConfOptions? nixConf = null, KubernetesSecretOptions? kubernetes = null, AtticConfigOptions? attic = null) =>
        new(name, path, format, null, null, 0x180, 0x1C0, null, entries, [], nixConf, kubernetes, attic, Here);

    public static Dictionary<string, ResolvedCredential> Values(params ResolvedCredential[] values) =>
        values.ToDictionary(v => v.Spec.Name, StringComparer.Ordinal);

    /// <summary>The homelab-like set every format test draws from.</summary>
    public static Dictionary<string, ResolvedCredential> Homelab() => Values(
        Resolved(SecretSpec("attic-jwt-secret"), JwtSecretBytes),
        Resolved(NixKey("attic-cache-key"), NixSecretKey, NixPublicKey),
        Resolved(AtticTokenSpec("ci-push-token"), AtticToken),
        Resolved(External("github-token", ExternalProvider.GitHub, "github.com"), GitHubToken),
        Resolved(External("gitlab-token", ExternalProvider.GitLab, "gitlab.com"), GitLabToken),
        Resolved(External("gitea-token", ExternalProvider.Gitea, "git.example.org", "deploy"), GiteaToken),
        Resolved(External("coder-admin-token", ExternalProvider.Coder), "0123456789-abcdefghijklmnopqrstuv"));
}
