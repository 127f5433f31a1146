using Keyward.Core.Attic;

namespace Keyward.Core.Manifest.Schema;

/// <summary>The field tables of manifest v1. docs/manifest.md documents them; the parser and the JSON Schema read them.</summary>
internal static class ManifestFields
{
    public const string ApiVersion = "keyward/v1";

    /// <summary>Credential, sink and service names.</summary>
    public const string NamePattern = "^[a-z0-9][a-z0-9-]{0,62}$";

    public const string CacheNamePattern = "^[A-Za-z0-9][A-Za-z0-9_+-]{0,49}$";
    public const string CachePatternPattern = "^[A-Za-z0-9*][A-Za-z0-9_+*-]{0,49}$";
    public const string DurationPattern = @"^\s*[0-9]+\s*[A-Za-z]+(\s*[0-9]+\s*[A-Za-z]+)*\s*$";
    public const string ModePattern = "^(0o)?[0-7]{1,5}$";

    public static readonly string[] CredentialKinds = [.. Enum.GetValues<CredentialKind>().Select(k => k.Name())];
    public static readonly string[] SinkFormatNames = [.. Enum.GetValues<SinkFormat>().Select(f => f.Name())];
    public static readonly string[] ProviderNames = [.. Enum.GetValues<ExternalProvider>().Select(p => p.Name())];
    public static readonly string[] SecretEncodings = [.. Enum.GetValues<ValueEncoding>().Select(e => e.Name())];
    public static readonly string[] EntryEncodings = [.. SecretEncodings.Where(e => e != "alphanumeric")];
    public static readonly string[] PermissionNames = [.. AtticPermissions.All.Select(p => p.Name())];
    public static readonly string[] ServiceKinds = ["attic", "coder", "gitea", "github", "gitlab"];
    public static readonly string[] HostKeyedFormats = ["nix-access-tokens", "netrc", "git-credentials"];

    private static ScalarShape Str(string? pattern = null) => new(ScalarType.String, Pattern: pattern);
    private static readonly ScalarShape Text = Str();
    private static readonly ScalarShape Bool = new(ScalarType.Boolean);
    private static readonly ScalarShape Duration = new(ScalarType.Duration, Pattern: DurationPattern);
    private static readonly ScalarShape Mode = new(ScalarType.Mode, Pattern: ModePattern);
    private static ScalarShape Choice(IReadOnlyList<string> values) => new(ScalarType.String, Choices: values);
    private static readonly ListShape TextList = new(Text);

    public static readonly ObjectSpec Rotation = new("rotation", "Rotation policy. Fields left out inherit the kind default under defaults.rotation.",
    [
        new("maxAge", Duration, "Rotate the credential when its active version is older than this."),
        new("renewBefore", Duration, "Renew this long before the value expires (tokens, external credentials with expires)."),
        new("overlap", Duration, "How long the previous version stays valid (trusted) after a rotation."),
        new("autoContinue", Bool, "Two-phase rotation of a cache signing key: continue to the next phase without an explicit command.", Default: "false"),
        new("hostDeadline", Duration, "How long keyward rotate (and keyward serve, for the rotations it runs) waits at a deliver step for the hosts' agents to confirm the new version before the rotation pauses (at most 24h; rotate --host-deadline overrides it).", Default: "\"2m\""),
    ]);

    public static readonly ObjectSpec DefaultRotation = new("defaultRotation", "Default rotation policy per credential kind.",
        [.. CredentialKinds.Select(k => new Field(k, new ObjectShape(Rotation), $"Default rotation policy of {k} credentials."))]);

    public static readonly ObjectSpec Defaults = new("defaults", "Defaults applied to every credential of a kind.",
    [
        new("rotation", new ObjectShape(DefaultRotation), "Rotation policy per kind: secret, rsa-key, nix-signing-key, attic-token, external."),
    ]);

    public static readonly ObjectSpec Source = new("source", "Where an external credential is imported from: exactly one of file, env, jsonMap with key, or sops with key. Relative paths are resolved against the manifest's directory.",
    [
        new("file", Text, "A file holding the token (surrounding whitespace is trimmed)."),
        new("env", Str("^[A-Za-z_][A-Za-z0-9_]*$"), "An environment variable holding the token."),
        new("jsonMap", Text, "A JSON file holding an object of strings, such as {\"github.com\": \"ghp_…\"}."),
        new("sops", Text, "A SOPS-encrypted YAML or JSON file with age recipients, decrypted with the host identity (or $SOPS_AGE_KEY_FILE); its MAC is verified."),
        new("key", Text, "The key to read: of the jsonMap object, or of the sops file (nested keys joined with '/')."),
    ], ExactlyOneOf: [["file"], ["env"], ["jsonMap", "key"], ["sops", "key"]]);

    public static readonly ObjectSpec Credential = new("credential", "A credential Keyward mints, stores, delivers and rotates.",
    [
        new("kind", Choice(CredentialKinds), "What the credential is and how it is made.", Required: true),
        new("owner", Text, "Who answers for the credential (a team, a person, a system).", Required: true),
        new("purpose", Text, "What the credential is for, in one line.", Required: true),
        new("rotation", new ObjectShape(Rotation), "Rotation policy of this credential."),
        new("recipients", TextList, "age (age1…) or SSH (ssh-ed25519 …) recipients `keyward export agenix` encrypts this credential to."),
        new("bytes", new ScalarShape(ScalarType.Integer, Min: 1, Max: 4096), "Number of random bytes (for alphanumeric: number of characters).", Default: "32", AppliesTo: ["secret"]),
        new("encoding", Choice(SecretEncodings), "How the value is presented as text; alphanumeric generates letters and digits.", Default: "\"raw\"", AppliesTo: ["secret"]),
        new("bits", new ScalarShape(ScalarType.Integer, Choices: ["2048", "3072", "4096"]), "RSA modulus size.", Default: "4096", AppliesTo: ["rsa-key"]),
        new("format", Choice(["pkcs1", "pkcs8"]), "PEM format of the private key (Attic documents PKCS#1).", Default: "\"pkcs1\"", AppliesTo: ["rsa-key"]),
        new("keyName", Text, "The Nix key name, the part before ':' in the key files (e.g. cache.example.org-1).", Required: true, AppliesTo: ["nix-signing-key"]),
        new("signedBy", Str(NamePattern), "The signing credential: a secret (HS256) or an rsa-key (RS256).", Required: true, AppliesTo: ["attic-token"]),
        new("subject", Text, "The token's sub claim.", Required: true, AppliesTo: ["attic-token"]),
        new("validity", Duration, "How long a minted token is valid (exp = now + validity).", Required: true, AppliesTo: ["attic-token"]),
        new("renewBefore", Duration, "Re-mint this long before expiry (default: a third of validity).", AppliesTo: ["attic-token"]),
        new("caches", new MapShape(new ListShape(Choice(PermissionNames)), CachePatternPattern),
            "Cache name pattern → permissions, in order: Attic uses the first matching pattern (an exact name always wins).", Required: true, AppliesTo: ["attic-token"]),
        new("issuer", Text, "The iss claim (for servers with token-bound-issuer).", AppliesTo: ["attic-token"]),
        new("audiences", TextList, "The aud claim (for servers with token-bound-audiences).", AppliesTo: ["attic-token"]),
        new("provider", Choice(ProviderNames), "Who minted the credential.", Required: true, AppliesTo: ["external"]),
        new("host", Text, "The host the token is for (keys nix-access-tokens, netrc and git-credentials sinks).", AppliesTo: ["external"]),
        new("username", Text, "User name for git-credentials and netrc.", AppliesTo: ["external"]),
        new("expires", new ScalarShape(ScalarType.Date), "When the token expires (YYYY-MM-DD or an ISO 8601 timestamp).", AppliesTo: ["external"]),
        new("source", new ObjectShape(Source), "Where to import the value from; leave out for bootstrap-managed tokens.", AppliesTo: ["external"]),
    ], Discriminator: "kind");

    public static readonly ObjectSpec Hook = new("hook", "A hook run when the sink's content changes: exactly one of restart, reload, command.",
    [
        new("restart", Text, "systemd unit to restart."),
        new("reload", Text, "systemd unit to reload."),
        new("command", new ListShape(Text), "A command to run, as an argv list (no shell)."),
        new("passEnv", new ListShape(Text), "Environment variables passed from Keyward's environment to the hook, by name; otherwise it gets only PATH, HOME, LANG, LC_ALL and TZ."),
    ], ExactlyOneOf: [["restart"], ["reload"], ["command"]]);

    public static readonly ObjectSpec Entry = new("entry", "One entry of a sink: its key is an environment variable (env), JSON key (json), host (nix-access-tokens, netrc, git-credentials), server name (attic-config) or data key (kubernetes-secret).",
    [
        new("credential", Str(NamePattern), "The credential whose value the entry takes (or value:, not both)."),
        new("value", Text, "env: a literal value written as it is (ATTIC_SERVER, ATTIC_CACHE), instead of a credential's; not a secret (it stays in the manifest in clear).", AppliesTo: ["env"]),
        new("encoding", Choice(EntryEncodings), "Text encoding of the credential's value (default: a secret's declared encoding, else raw)."),
        new("public", Bool, "Take the public half (nix-signing-key: name:base64, rsa-key: PEM public key).", Default: "false"),
        new("username", Text, "User name (netrc, git-credentials); default: the credential's username.", AppliesTo: ["netrc", "git-credentials"]),
        new("endpoint", new ScalarShape(ScalarType.Url), "The server's API endpoint (attic-config, required there).", AppliesTo: ["attic-config"]),
        new("tokenFile", Text, "Point the server at this token file instead of embedding the token (attic-config).", AppliesTo: ["attic-config"]),
    ], ExactlyOneOf: [["credential"], ["value"]]);

    private static readonly AnyOfShape Hooks = new([new ObjectShape(Hook), new ListShape(new ObjectShape(Hook))]);

    public static readonly ObjectSpec Sink = new("sink", "A file Keyward writes from credentials.",
    [
        new("format", Choice(SinkFormatNames), "How the file is rendered.", Required: true),
        new("path", Text, "Absolute path of the file (the runtime path when persist is set).", Required: true),
        new("owner", Text, "File owner (user name or uid), applied when running as root."),
        new("group", Text, "File group (group name or gid), applied when running as root."),
        new("mode", Mode, "File mode in octal, as a string (\"0600\") or a YAML number.", Default: "\"0600\""),
        new("directoryMode", Mode, "Mode of directories Keyward creates for the file.", Default: "\"0755\""),
        new("persist", Text, "Persistence root: the file is written under it (e.g. /persist + path) and path links to it."),
        new("onChange", Hooks, "Hooks run after the file changed."),
        new("credential", Str(NamePattern), "raw: the credential written to the file.", AppliesTo: ["raw"]),
        new("encoding", Choice(EntryEncodings), "raw: text encoding of the value (default: a secret's declared encoding, else raw).", AppliesTo: ["raw"]),
        new("public", Bool, "raw: write the public half of a nix-signing-key or rsa-key.", Default: "false", AppliesTo: ["raw"]),
        new("entries", new MapShape(new AnyOfShape([Str(NamePattern), new ObjectShape(Entry)])),
            "Entries in order: KEY: credential-name, KEY: { credential, encoding, public, … }, or (env) KEY: { value: literal text }.",
            AppliesTo: ["env", "json", "nix-access-tokens", "netrc", "git-credentials", "attic-config", "kubernetes-secret"]),
        new("tokens", new ListShape(Str(NamePattern)), "External credentials keyed by their host.", AppliesTo: HostKeyedFormats),
        new("substituters", TextList, "nix-conf: substituter URLs (the substituters line).", AppliesTo: ["nix-conf"]),
        new("trustedPublicKeys", TextList, "nix-conf: nix-signing-key credential names or literal name:base64 keys (the trusted-public-keys line).", AppliesTo: ["nix-conf"]),
        new("netrcFile", Text, "nix-conf: absolute path of the netrc file.", AppliesTo: ["nix-conf"]),
        new("include", TextList, "nix-conf: absolute paths of files to !include.", AppliesTo: ["nix-conf"]),
        new("name", Text, "kubernetes-secret: metadata.name (default: the sink name).", AppliesTo: ["kubernetes-secret"]),
        new("namespace", Text, "kubernetes-secret: metadata.namespace.", Default: "\"default\"", AppliesTo: ["kubernetes-secret"]),
        new("type", Text, "kubernetes-secret: the Secret type.", Default: "\"Opaque\"", AppliesTo: ["kubernetes-secret"]),
        new("labels", new MapShape(Str("^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")), "kubernetes-secret: metadata.labels.", AppliesTo: ["kubernetes-secret"]),
        new("live", Bool, "kubernetes-secret: also apply the Secret to the cluster.", Default: "false", AppliesTo: ["kubernetes-secret"]),
        new("defaultServer", Text, "attic-config: the default server (one of the entry keys).", AppliesTo: ["attic-config"]),
        new("host", Str(NamePattern), "The host (under hosts:) whose `keyward agent` receives this file; leave out (and hosts:) for the authority's own files."),
        new("hosts", new ListShape(Str(NamePattern)), "Several hosts that each receive this file through their agents (instead of host:)."),
    ], Discriminator: "format");

    public static readonly ObjectSpec Host = new("host", "A host whose `keyward agent` receives its sinks, rendered and age-encrypted to its key: exactly one of sshKey, ageRecipient.",
    [
        new("sshKey", Text, "The host's ssh-ed25519 public key (/etc/ssh/ssh_host_ed25519_key.pub): the agent signs a challenge with it (SSHSIG) and bundles are encrypted to it."),
        new("ageRecipient", Text, "An age X25519 recipient (age1…): the agent proves it holds the identity by decrypting a challenge; bundles are encrypted to it."),
    ], ExactlyOneOf: [["sshKey"], ["ageRecipient"]]);

    public static readonly ObjectSpec Cache = new("cache", "Desired configuration of one Attic cache.",
    [
        new("public", Bool, "Anyone may pull without a token.", Default: "false"),
        new("storeDir", Text, "The Nix store directory of the cache.", Default: "\"/nix/store\""),
        new("priority", new ScalarShape(ScalarType.Integer, Min: 0, Max: 1_000_000), "Substituter priority.", Default: "41"),
        new("upstreamCacheKeyNames", TextList, "Key names of upstream caches whose paths are not pushed.", Default: "[]"),
        new("signingKey", Str(NamePattern), "The nix-signing-key credential the cache signs with."),
        new("retentionPeriod", Duration, "Garbage-collection retention period."),
    ]);

    public static readonly ObjectSpec Service = new("service", "A live endpoint the credentials belong to.",
    [
        new("kind", Choice(ServiceKinds), "The kind of service.", Required: true),
        new("url", new ScalarShape(ScalarType.Url), "Base URL of the service (for Attic, the API endpoint ending in '/').", Required: true),
        new("token", Str(NamePattern), "The credential Keyward uses to call the service's API."),
        new("adminUser", Text, "First admin user (bootstrap).", AppliesTo: ["coder", "gitea"]),
        new("adminPassword", Str(NamePattern), "Credential holding the first admin's password (bootstrap).", AppliesTo: ["coder", "gitea"]),
        new("scopes", TextList, "Scopes of the API token bootstrap creates.", AppliesTo: ["coder", "gitea", "github", "gitlab"]),
        new("caches", new MapShape(new ObjectShape(Cache), CacheNamePattern), "Desired caches, by name.", AppliesTo: ["attic"]),
    ], Discriminator: "kind");

    /// <summary>The claims of an OIDC ID token that pin where a job runs; a trusted publisher must match one exactly.</summary>
    public static readonly string[] IdentityClaims = ["repository", "repository_id", "repository_owner_id", "project_path", "project_id", "sub"];

    public static readonly ObjectSpec TrustedPublisher = new("trustedPublisher", "CI jobs that may exchange their OIDC ID token for a short-lived Attic token (POST /api/v1/ci/attic-token).",
    [
        new("issuer", new ScalarShape(ScalarType.Url), "The OIDC issuer, exactly as the iss claim (GitHub: https://token.actions.githubusercontent.com); its discovery document and keys are fetched from it.", Required: true),
        new("audience", Text, "The aud the job's ID token must carry (and only it): request the token with this audience.", Required: true),
        new("signedBy", Str(NamePattern), "The signing credential of the minted Attic token: a secret (HS256) or an rsa-key (RS256), the one atticd verifies with.", Required: true),
        new("claims", new MapShape(new AnyOfShape([Text, TextList])),
            "Claim → value, or a list of values: each must match the token's claim exactly, or as a glob with '*'. One of repository, repository_id, repository_owner_id, project_path, project_id or sub must be matched exactly.", Required: true),
        new("caches", new MapShape(new ListShape(Choice(PermissionNames)), CachePatternPattern),
            "What the minted token grants: cache name pattern → permissions, in Attic's first-match order.", Required: true),
        new("validity", Duration, "How long the minted Attic token is valid; at most 1h.", Default: "\"15m\""),
    ]);

    public static readonly ObjectSpec Gate = new("gate", "The Attic revocation gate (GET /api/v1/attic/auth, nginx auth_request in front of atticd).",
    [
        new("foreignTokens", Choice(["refuse", "allow"]), "Tokens signed by a trusted secret but not in Keyward's ledger (minted elsewhere, e.g. by atticadm): refused, or allowed while valid.", Default: "\"refuse\""),
        new("anonymous", Choice(["pass", "refuse"]), "Requests without a token: passed on to atticd (which serves public caches only), or refused.", Default: "\"pass\""),
        new("checkPermissions", Bool, "When nginx passes X-Original-URI, the token must also grant the cache and action the request is for.", Default: "true"),
    ]);

    public static readonly ObjectSpec Root = new("manifest", "Keyward manifest v1: every credential of the infrastructure, where it is delivered and the services it belongs to.",
    [
        new("apiVersion", new ScalarShape(ScalarType.String, Choices: [ApiVersion]), "The manifest format version.", Required: true),
        new("recipients", TextList, "Extra store recipients (age1… or SSH public keys) that can recover the store."),
        new("defaults", new ObjectShape(Defaults), "Defaults per credential kind."),
        new("credentials", new MapShape(new ObjectShape(Credential), NamePattern), "Credentials by name.", Required: true),
        new("hosts", new MapShape(new ObjectShape(Host), NamePattern), "Hosts whose agents receive sinks, by name."),
        new("sinks", new MapShape(new ObjectShape(Sink), NamePattern), "Files Keyward writes, by name."),
        new("services", new MapShape(new ObjectShape(Service), NamePattern), "Live services, by name."),
        new("trustedPublishers", new MapShape(new ObjectShape(TrustedPublisher), NamePattern), "CI jobs trusted through their OIDC ID token, by name."),
        new("gate", new ObjectShape(Gate), "How the Attic revocation gate decides."),
    ]);

    public static IEnumerable<ObjectSpec> AllSpecs =>
        [Root, Defaults, DefaultRotation, Rotation, Credential, Source, Host, Sink, Entry, Hook, Service, Cache, TrustedPublisher, Gate];
}
