using Keyward.Core.Attic;
using Keyward.Core.Errors;
using Keyward.Core.Manifest;
using Keyward.Core.Time;

namespace Keyward.Core.Tests.Rotation;

/// <summary>A model of the reference infrastructure built in code, so the planner tests do not depend on the YAML loader.</summary>
internal static class HomelabModel
{
    private static readonly SourceLocation L = new("keyward.yaml", 1, 1);

    public static KeywardManifest Build(RotationPolicy? cacheKeyPolicy = null, RotationPolicy? jwtPolicy = null, bool extraAtticService = false)
    {
        var creds = new List<Credential>
        {
            new SecretCredential("attic-jwt-secret", "attic-stack", "signs Attic tokens", jwtPolicy ?? new RotationPolicy(MaxAge: HumanDuration.Parse("365d")), [], L, 64, ValueEncoding.Base64),
            new NixSigningKeyCredential("attic-cache-key", "attic-cache-config", "signs the main cache", cacheKeyPolicy, [], L, "main-1"),
            Token("ci-push-token", "ci-runner", "30d", ("main", [AtticPermission.Pull, AtticPermission.Push])),
            Token("admin-token", "admin", "90d", ("*", [AtticPermission.Pull, AtticPermission.Push, AtticPermission.CreateCache])),
            Token("reader-token", "reader", "365d", ("main", [AtticPermission.Pull])),
            new ExternalCredential("github-token", "ops", "flake inputs", null, [], L, ExternalProvider.GitHub, "github.com", "deploy", new JsonMapSource("/persist/tokens.json", "github.com", L), null),
            new ExternalCredential("s3-secret", "attic-stack", "attic storage", null, [], L, ExternalProvider.S3, null, null, new FileSource("/persist/s3.key", L), null),
            new SecretCredential("grafana-password", "ops", "dashboard", null, [], L, 24, ValueEncoding.Alphanumeric),
        };
        var sinks = new List<Sink>
        {
            Sink("atticd-env", "/run/keyward/atticd.env", SinkFormat.Env,
                [Entry("ATTIC_SERVER_TOKEN_HS256_SECRET_BASE64", "attic-jwt-secret"), Entry("AWS_SECRET_ACCESS_KEY", "s3-secret")],
                [new RestartUnitHook("atticd.service", L)]),
            Sink("ci-attic-config", "/var/lib/ci/attic.toml", SinkFormat.AtticConfig, [Entry("main", "ci-push-token")], [new RestartUnitHook("ci-runner.service", L)]),
            Sink("admin-attic-config", "/root/.config/attic/config.toml", SinkFormat.AtticConfig, [Entry("main", "admin-token")], []),
            Sink("reader-netrc", "/etc/nix/netrc", SinkFormat.Netrc, [Entry("cache.example.org", "reader-token")], [new ReloadUnitHook("nix-daemon.service", L)]),
            Sink("nix-conf", "/etc/nix/keyward.conf", SinkFormat.NixConf, [], [new ReloadUnitHook("nix-daemon.service", L)],
                new NixConfOptions(["https://cache.example.org/main"], ["attic-cache-key", "cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY="], "/etc/nix/netrc", [])),
            Sink("cache-signing-key", "/run/keyward/cache.sk", SinkFormat.Raw, [Entry("", "attic-cache-key")], [new CommandHook(["attic-sync-key"], L)]),
            Sink("access-tokens", "/etc/nix/access-tokens.conf", SinkFormat.NixAccessTokens, [Entry("github.com", "github-token")], []),
            Sink("grafana-env", "/run/keyward/grafana.env", SinkFormat.Env, [Entry("GF_SECURITY_ADMIN_PASSWORD", "grafana-password")], [new RestartUnitHook("grafana.service", L)]),
        };
        var services = new List<Service>
        {
            new("attic", ServiceKind.Attic, new Uri("https://cache.example.org/"), "admin-token",
                [new AtticCacheSpec("main", true, "/nix/store", 41, [], "attic-cache-key", null, L)], null, null, [], L),
            new("github", ServiceKind.GitHub, new Uri("https://api.github.com/"), null, [], null, null, [], L),
        };
        if (extraAtticService)
            services.Add(new("attic2", ServiceKind.Attic, new Uri("https://cache2.example.org/"), null, [], null, null, [], L));
        return new KeywardManifest("keyward.yaml", [], new Dictionary<CredentialKind, RotationPolicy>(), creds, sinks, services);
    }

    public static AtticTokenCredential Token(string name, string subject, string validity, params (string Pattern, AtticPermission[] Perms)[] caches) =>
        new(name, "attic-stack", "token", null, [], L, "attic-jwt-secret", subject, HumanDuration.Parse(validity), null,
            caches.Select(c => new CacheGrant(CacheNamePattern.Parse(c.Pattern), c.Perms, L)).ToList(), null, []);

    public static SinkEntry Entry(string key, string credential, EntryValue take = EntryValue.Value) =>
        new(key, credential, ValueEncoding.Raw, take, null, null, null, L);

    public static Sink Sink(string name, string path, SinkFormat format, IReadOnlyList<SinkEntry> entries, IReadOnlyList<Hook> hooks, NixConfOptions? nixConf = null) =>
        new(name, path, format, null, null, 0x180, 0x1c0, null, entries, hooks, nixConf, null, null, L);
}
