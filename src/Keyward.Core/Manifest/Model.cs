using Keyward.Core.Attic;
using Keyward.Core.Errors;
using Keyward.Core.Time;

namespace Keyward.Core.Manifest;

// The manifest model: what keyward.yaml declares, after parsing and validation.
// Every element keeps the SourceLocation it came from so later stages (planner, checks)
// can point back at the manifest. Ordered collections keep manifest order: it matters
// (Attic's first-match permissions, render order of sink entries).

public sealed record KeywardManifest(
    string File,
    IReadOnlyList<string> Recipients,
    IReadOnlyDictionary<CredentialKind, RotationPolicy> KindDefaults,
    IReadOnlyList<Credential> Credentials,
    IReadOnlyList<Sink> Sinks,
    IReadOnlyList<Service> Services)
{
    private Dictionary<string, Credential>? _byName;
    private Dictionary<string, Sink>? _sinksByName;

    public Credential? FindCredential(string name) =>
        (_byName ??= Credentials.ToDictionary(c => c.Name, StringComparer.Ordinal)).GetValueOrDefault(name);

    /// <summary>One of the authority's own sinks (<see cref="Sinks"/>); host sinks are not found here, so nothing that
    /// writes files on the authority can reach them by name.</summary>
    public Sink? FindSink(string name) =>
        (_sinksByName ??= Sinks.ToDictionary(s => s.Name, StringComparer.Ordinal)).GetValueOrDefault(name);

    /// <summary>Hosts whose <c>keyward agent</c> receives sinks (<c>hosts:</c>), in manifest order.</summary>
    public IReadOnlyList<HostSpec> Hosts { get; init; } = [];

    /// <summary>Sinks delivered to hosts by their agents (<c>host:</c>/<c>hosts:</c>). Kept apart from <see cref="Sinks"/>,
    /// which holds only the authority's own files: apply, check, rotation and every other writer on the authority iterate
    /// <see cref="Sinks"/> and so can never write another host's file.</summary>
    public IReadOnlyList<Sink> HostSinks { get; init; } = [];

    /// <summary>Every sink: the authority's, then the hosts'. For views (graph, plan rotate), never for writing.</summary>
    public IEnumerable<Sink> AllSinks => Sinks.Concat(HostSinks);

    public HostSpec? FindHost(string name) => Hosts.FirstOrDefault(h => h.Name == name);

    /// <summary>The sinks <paramref name="host"/>'s agent receives.</summary>
    public IEnumerable<Sink> SinksOfHost(string host) => HostSinks.Where(s => s.Hosts.Contains(host, StringComparer.Ordinal));

    /// <summary>The policy in force for a credential: its own fields, else the kind default, else built-ins.</summary>
    public RotationPolicy EffectivePolicy(Credential c) =>
        RotationPolicy.Merge(c.Rotation, KindDefaults.GetValueOrDefault(c.Kind));

    /// <summary><c>trustedPublishers:</c> — CI jobs that may exchange their OIDC token for an Attic token (ModelCi.cs).</summary>
    public IReadOnlyList<TrustedPublisher> TrustedPublishers { get; init; } = [];

    /// <summary><c>gate:</c> — the Attic revocation gate's rules (ModelCi.cs).</summary>
    public AtticGateSettings Gate { get; init; } = AtticGateSettings.Default;
}

public enum CredentialKind
{
    Secret,
    RsaKey,
    NixSigningKey,
    AtticToken,
    External,
}

public static class CredentialKinds
{
    public static string Name(this CredentialKind k) => k switch
    {
        CredentialKind.Secret => "secret",
        CredentialKind.RsaKey => "rsa-key",
        CredentialKind.NixSigningKey => "nix-signing-key",
        CredentialKind.AtticToken => "attic-token",
        CredentialKind.External => "external",
        _ => throw new ArgumentOutOfRangeException(nameof(k)),
    };

    // Enum.GetValues allocates a new array per call; TryParse runs once per manifest entry.
    private static readonly CredentialKind[] AllCredentialKindValues = Enum.GetValues<CredentialKind>();

    public static bool TryParse(string s, out CredentialKind kind)
    {
        foreach (var k in AllCredentialKindValues)
            if (k.Name() == s) { kind = k; return true; }
        kind = default;
        return false;
    }
}

/// <summary><c>rotation: { maxAge, renewBefore, overlap, autoContinue, hostDeadline }</c>. Null fields inherit.</summary>
public sealed record RotationPolicy(
    HumanDuration? MaxAge = null,
    HumanDuration? RenewBefore = null,
    HumanDuration? Overlap = null,
    bool? AutoContinue = null,
    SourceLocation? Location = null,
    HumanDuration? HostDeadline = null)
{
    public static readonly RotationPolicy None = new();

    /// <summary>The longest <see cref="HostDeadline"/> a manifest may set: <c>keyward rotate</c> waits that long in the
    /// foreground, and a host that has not come back within a day is better handled by <c>--resume</c> later.</summary>
    public static readonly TimeSpan MaxHostDeadline = TimeSpan.FromHours(24);

    public static RotationPolicy Merge(RotationPolicy? own, RotationPolicy? fallback) =>
        own is null ? fallback ?? None
        : fallback is null ? own
        : new RotationPolicy(own.MaxAge ?? fallback.MaxAge, own.RenewBefore ?? fallback.RenewBefore,
            own.Overlap ?? fallback.Overlap, own.AutoContinue ?? fallback.AutoContinue, own.Location ?? fallback.Location, own.HostDeadline ?? fallback.HostDeadline);
}

/// <summary>Text encoding of a value where a format needs text.</summary>
public enum ValueEncoding
{
    Raw,
    Base64,
    Base64Url,
    Hex,
    /// <summary>Random secrets only: letters and digits, drawn without bias.</summary>
    Alphanumeric,
}

public static class ValueEncodings
{
    public static string Name(this ValueEncoding e) => e switch
    {
        ValueEncoding.Raw => "raw",
        ValueEncoding.Base64 => "base64",
        ValueEncoding.Base64Url => "base64url",
        ValueEncoding.Hex => "hex",
        ValueEncoding.Alphanumeric => "alphanumeric",
        _ => throw new ArgumentOutOfRangeException(nameof(e)),
    };

    // Enum.GetValues allocates a new array per call; TryParse runs once per manifest entry.
    private static readonly ValueEncoding[] AllValueEncodingValues = Enum.GetValues<ValueEncoding>();

    public static bool TryParse(string s, out ValueEncoding e)
    {
        foreach (var v in AllValueEncodingValues)
            if (v.Name() == s) { e = v; return true; }
        e = default;
        return false;
    }
}

public abstract record Credential(string Name, string Owner, string Purpose, RotationPolicy? Rotation, IReadOnlyList<string> Recipients, SourceLocation Location)
{
    public abstract CredentialKind Kind { get; }

    /// <summary>The credentials this one is derived from (signed-by).</summary>
    public virtual IEnumerable<string> DependsOn => [];
}

/// <summary><c>kind: secret</c> — <c>bytes</c> random bytes; <c>encoding</c> is how the stored value is
/// presented as text (raw bytes by default; <c>alphanumeric</c> generates printable characters).</summary>
public sealed record SecretCredential(string Name, string Owner, string Purpose, RotationPolicy? Rotation, IReadOnlyList<string> Recipients, SourceLocation Location,
    int Bytes, ValueEncoding Encoding)
    : Credential(Name, Owner, Purpose, Rotation, Recipients, Location)
{
    public override CredentialKind Kind => CredentialKind.Secret;
}

public enum RsaKeyFormat
{
    Pkcs1,
    Pkcs8,
}

/// <summary><c>kind: rsa-key</c> — a PEM private key (<c>bits</c>, <c>format: pkcs1|pkcs8</c>).</summary>
public sealed record RsaKeyCredential(string Name, string Owner, string Purpose, RotationPolicy? Rotation, IReadOnlyList<string> Recipients, SourceLocation Location,
    int Bits, RsaKeyFormat Format)
    : Credential(Name, Owner, Purpose, Rotation, Recipients, Location)
{
    public override CredentialKind Kind => CredentialKind.RsaKey;
}

/// <summary><c>kind: nix-signing-key</c> — Ed25519 in Nix text format <c>keyName:base64(seed‖pub)</c>.</summary>
public sealed record NixSigningKeyCredential(string Name, string Owner, string Purpose, RotationPolicy? Rotation, IReadOnlyList<string> Recipients, SourceLocation Location,
    string KeyName)
    : Credential(Name, Owner, Purpose, Rotation, Recipients, Location)
{
    public override CredentialKind Kind => CredentialKind.NixSigningKey;
}

/// <summary>One <c>pattern: [permissions]</c> entry of an Attic token, in manifest order.</summary>
public sealed record CacheGrant(CacheNamePattern Pattern, IReadOnlyList<AtticPermission> Permissions, SourceLocation Location);

/// <summary><c>kind: attic-token</c> — a JWT minted by Keyward, signed by a <c>secret</c> (HS256) or an <c>rsa-key</c> (RS256).</summary>
public sealed record AtticTokenCredential(string Name, string Owner, string Purpose, RotationPolicy? Rotation, IReadOnlyList<string> Recipients, SourceLocation Location,
    string SignedBy, string Subject, HumanDuration Validity, HumanDuration? RenewBefore,
    IReadOnlyList<CacheGrant> Caches, string? Issuer, IReadOnlyList<string> Audiences)
    : Credential(Name, Owner, Purpose, Rotation, Recipients, Location)
{
    public override CredentialKind Kind => CredentialKind.AtticToken;
    public override IEnumerable<string> DependsOn => [SignedBy];

    /// <summary>Renew-before in force: declared, else one third of the validity (as cert-manager does).</summary>
    public TimeSpan EffectiveRenewBefore => (RenewBefore ?? Rotation?.RenewBefore)?.Value ?? Validity.Value / 3;
}

public enum ExternalProvider
{
    GitHub,
    GitLab,
    Gitea,
    Coder,
    OnePassword,
    S3,
    Generic,
}

public static class ExternalProviders
{
    public static string Name(this ExternalProvider p) => p switch
    {
        ExternalProvider.GitHub => "github",
        ExternalProvider.GitLab => "gitlab",
        ExternalProvider.Gitea => "gitea",
        ExternalProvider.Coder => "coder",
        ExternalProvider.OnePassword => "onepassword",
        ExternalProvider.S3 => "s3",
        ExternalProvider.Generic => "generic",
        _ => throw new ArgumentOutOfRangeException(nameof(p)),
    };

    // Enum.GetValues allocates a new array per call; TryParse runs once per manifest entry.
    private static readonly ExternalProvider[] AllExternalProviderValues = Enum.GetValues<ExternalProvider>();

    public static bool TryParse(string s, out ExternalProvider p)
    {
        foreach (var v in AllExternalProviderValues)
            if (v.Name() == s) { p = v; return true; }
        p = default;
        return false;
    }
}

/// <summary>Where an external token is read from: exactly one of a file, an environment variable, one key of a JSON map,
/// or one key of a SOPS-encrypted file.</summary>
public abstract record ExternalSource(SourceLocation Location);
public sealed record FileSource(string Path, SourceLocation Location) : ExternalSource(Location);
public sealed record EnvSource(string Variable, SourceLocation Location) : ExternalSource(Location);
public sealed record JsonMapSource(string Path, string Key, SourceLocation Location) : ExternalSource(Location);
/// <summary><c>source: { sops: FILE, key: KEY }</c>: a SOPS file (YAML or JSON, age recipients); nested keys join with '/'.</summary>
public sealed record SopsSource(string Path, string Key, SourceLocation Location) : ExternalSource(Location);

/// <summary><c>kind: external</c> — minted elsewhere and imported. <c>host</c> keys host-keyed sinks
/// (access-tokens, netrc, git credentials); <c>username</c> is used by git credentials and netrc.
/// A bootstrap-managed token (Coder, Gitea) may have no source: <c>keyward bootstrap</c> fills it.</summary>
public sealed record ExternalCredential(string Name, string Owner, string Purpose, RotationPolicy? Rotation, IReadOnlyList<string> Recipients, SourceLocation Location,
    ExternalProvider Provider, string? Host, string? Username, ExternalSource? Source, DateTimeOffset? Expires)
    : Credential(Name, Owner, Purpose, Rotation, Recipients, Location)
{
    public override CredentialKind Kind => CredentialKind.External;
}

public enum SinkFormat
{
    Raw,
    Env,
    Json,
    NixAccessTokens,
    Netrc,
    GitCredentials,
    AtticConfig,
    NixConf,
    KubernetesSecret,
}

public static class SinkFormats
{
    public static string Name(this SinkFormat f) => f switch
    {
        SinkFormat.Raw => "raw",
        SinkFormat.Env => "env",
        SinkFormat.Json => "json",
        SinkFormat.NixAccessTokens => "nix-access-tokens",
        SinkFormat.Netrc => "netrc",
        SinkFormat.GitCredentials => "git-credentials",
        SinkFormat.AtticConfig => "attic-config",
        SinkFormat.NixConf => "nix-conf",
        SinkFormat.KubernetesSecret => "kubernetes-secret",
        _ => throw new ArgumentOutOfRangeException(nameof(f)),
    };

    // Enum.GetValues allocates a new array per call; TryParse runs once per manifest entry.
    private static readonly SinkFormat[] AllSinkFormatValues = Enum.GetValues<SinkFormat>();

    public static bool TryParse(string s, out SinkFormat f)
    {
        foreach (var v in AllSinkFormatValues)
            if (v.Name() == s) { f = v; return true; }
        f = default;
        return false;
    }

    /// <summary>Formats whose output carries secret values (nix-conf carries only public keys and paths).</summary>
    public static bool CarriesSecrets(this SinkFormat f) => f != SinkFormat.NixConf;
}

/// <summary>What a sink entry takes from its credential.</summary>
public enum EntryValue
{
    /// <summary>The value itself (a token, secret bytes in the entry's encoding, a private key).</summary>
    Value,
    /// <summary>The public half: a Nix public key <c>name:base64</c>, or an RSA public key PEM.</summary>
    PublicKey,
    /// <summary>No credential: the text written in the manifest (<c>value:</c>, env sinks), rendered as it is. Not a
    /// secret; <see cref="SinkEntry.Credential"/> is empty and <see cref="SinkEntry.Literal"/> holds the text.</summary>
    Literal,
}

/// <summary>One entry of a sink. <see cref="Key"/> means what the format says: an environment variable
/// (env), a JSON key (json), a host (nix-access-tokens, netrc, git-credentials), a server name
/// (attic-config), a data key (kubernetes-secret), or is empty (raw). A literal entry (<see cref="EntryValue.Literal"/>)
/// names no credential (<see cref="Credential"/> is empty) and carries its text in <see cref="Literal"/>.</summary>
public sealed record SinkEntry(
    string Key,
    string Credential,
    ValueEncoding Encoding,
    EntryValue Take,
    string? Username,
    string? Endpoint,
    string? TokenFile,
    SourceLocation Location)
{
    /// <summary>The manifest's text of a literal entry (<c>KEY: { value: TEXT }</c>); null for credential entries.</summary>
    public string? Literal { get; init; }

    public bool IsLiteral => Take == EntryValue.Literal;

    /// <summary>An entry that writes <paramref name="text"/> as it is, with no credential behind it.</summary>
    public static SinkEntry OfLiteral(string key, string text, SourceLocation location) =>
        new(key, "", ValueEncoding.Raw, EntryValue.Literal, null, null, null, location) { Literal = text };
}

/// <summary>A hook run when a sink's content changes. It runs with a minimal environment (PATH, HOME, LANG, LC_ALL,
/// TZ when set), plus the variables named in <see cref="PassEnv"/>: never Keyward's whole environment, which can hold
/// credentials read by <c>source: { env: … }</c>.</summary>
public abstract record Hook(SourceLocation Location)
{
    /// <summary>Names of Keyward's environment variables the hook also receives (<c>passEnv:</c>).</summary>
    public IReadOnlyList<string> PassEnv { get; init; } = [];
}
public sealed record RestartUnitHook(string Unit, SourceLocation Location) : Hook(Location);
public sealed record ReloadUnitHook(string Unit, SourceLocation Location) : Hook(Location);
public sealed record CommandHook(IReadOnlyList<string> Argv, SourceLocation Location) : Hook(Location);

/// <summary>Settings only the nix-conf format uses.</summary>
public sealed record NixConfOptions(
    IReadOnlyList<string> Substituters,
    /// <summary>Each either a credential name (its public key is rendered) or a literal <c>name:base64</c> key.</summary>
    IReadOnlyList<string> TrustedPublicKeys,
    string? NetrcFile,
    IReadOnlyList<string> Includes);

/// <summary>Settings only the kubernetes-secret format uses.</summary>
public sealed record KubernetesSecretOptions(string Name, string Namespace, string Type, IReadOnlyDictionary<string, string> Labels, bool Live);

/// <summary>Settings only the attic-config format uses.</summary>
public sealed record AtticConfigOptions(string? DefaultServer);

/// <summary>A file Keyward writes. With <see cref="PersistRoot"/>, the file lives at
/// <c>PersistRoot + Path</c> and <see cref="Path"/> is a symlink to it.</summary>
public sealed record Sink(
    string Name,
    string Path,
    SinkFormat Format,
    string? Owner,
    string? Group,
    int Mode,
    int DirectoryMode,
    string? PersistRoot,
    IReadOnlyList<SinkEntry> Entries,
    IReadOnlyList<Hook> OnChange,
    NixConfOptions? NixConf,
    KubernetesSecretOptions? Kubernetes,
    AtticConfigOptions? AtticConfig,
    SourceLocation Location)
{
    /// <summary>Where the bytes are written (under the persistence root when there is one).</summary>
    public string StoragePath => PersistRoot is null ? Path : PersistRoot.TrimEnd('/') + Path;

    /// <summary>The credentials the sink carries (its entries', then its trusted public keys'), each once, in first-seen
    /// order. A loop, not a query: apply asks this of every sink several times, and most sinks carry one credential.</summary>
    public IEnumerable<string> CredentialNames
    {
        get
        {
            var trusted = NixConf?.TrustedPublicKeys ?? [];
            // The usual sink: one entry, nothing else (one small array, or none).
            if (trusted.Count == 0 && Entries.Count <= 1)
                return Entries.Count == 0 || Entries[0].IsLiteral ? [] : new[] { Entries[0].Credential };
            var names = new List<string>(Entries.Count + trusted.Count);
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var e in Entries)
                if (!e.IsLiteral && seen.Add(e.Credential)) names.Add(e.Credential);
            foreach (var k in trusted)
                if (seen.Add(k)) names.Add(k);
            return names;
        }
    }

    /// <summary>The hosts whose agents receive this sink (<c>host:</c>/<c>hosts:</c>); empty: the authority writes it itself.</summary>
    public IReadOnlyList<string> Hosts { get; init; } = [];
}

/// <summary>A host of <c>hosts:</c>: its agent authenticates with <see cref="SshKey"/> (an SSHSIG-signed challenge) and
/// receives its sinks age-encrypted to that key, or, with <see cref="AgeRecipient"/>, proves it can decrypt a challenge
/// encrypted to the recipient. Exactly one of the two is set.</summary>
public sealed record HostSpec(string Name, HostKey? SshKey, string? AgeRecipient, SourceLocation Location)
{
    /// <summary>The key as the host declared it, for messages and age (never secret).</summary>
    public string KeyText => SshKey?.ToString() ?? AgeRecipient!;
}

public enum ServiceKind
{
    Attic,
    Coder,
    Gitea,
    GitHub,
    GitLab,
}

/// <summary>Desired shape of one Attic cache (what <c>keyward reconcile</c> enforces).</summary>
public sealed record AtticCacheSpec(
    string Name,
    bool IsPublic,
    string StoreDir,
    int Priority,
    IReadOnlyList<string> UpstreamCacheKeyNames,
    string? SigningKey,
    HumanDuration? RetentionPeriod,
    SourceLocation Location);

/// <summary>A live endpoint. <see cref="Token"/> is the credential Keyward uses to talk to it (admin token);
/// <see cref="AdminPassword"/> and <see cref="AdminUser"/> let bootstrap create the first API token.</summary>
public sealed record Service(
    string Name,
    ServiceKind Kind,
    Uri Url,
    string? Token,
    IReadOnlyList<AtticCacheSpec> Caches,
    string? AdminUser,
    string? AdminPassword,
    IReadOnlyList<string> Scopes,
    SourceLocation Location);
