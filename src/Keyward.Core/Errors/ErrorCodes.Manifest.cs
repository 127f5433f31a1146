namespace Keyward.Core.Errors;

// Manifest parsing (01xx: syntax and structure) and validation (02xx: meaning and references).
// Every problem a manifest can have has its own code; docs/manifest.md lists them with examples.
public static partial class ErrorCodes
{
    public static readonly ErrorCode ManifestSyntax = new("KW0101", ErrorKind.BadInput, "manifest is not valid YAML", "fix the YAML syntax at the position shown (indentation, quotes, a missing ':')");
    public static readonly ErrorCode ManifestDuplicateKey = new("KW0102", ErrorKind.BadInput, "duplicate key in a mapping", "each key may appear once per mapping; merge or rename the entries");
    public static readonly ErrorCode ManifestApiVersion = new("KW0103", ErrorKind.BadInput, "missing or unsupported apiVersion", "start the manifest with 'apiVersion: keyward/v1'");
    public static readonly ErrorCode ManifestUnknownKey = new("KW0104", ErrorKind.BadInput, "unknown key", "check the spelling against docs/manifest.md (or let an editor complete from docs/keyward.schema.json)");
    public static readonly ErrorCode ManifestWrongType = new("KW0105", ErrorKind.BadInput, "value has the wrong type", "see docs/manifest.md for the type each field takes");
    public static readonly ErrorCode ManifestMissingField = new("KW0106", ErrorKind.BadInput, "required field missing", "add the field; docs/manifest.md lists the required fields of each kind");
    public static readonly ErrorCode ManifestInvalidName = new("KW0107", ErrorKind.BadInput, "invalid name", "names are 1-63 characters of lowercase letters, digits and '-', starting with a letter or digit");
    public static readonly ErrorCode ManifestInvalidValue = new("KW0108", ErrorKind.BadInput, "value is not one of the allowed choices", "use one of the values listed in the message");
    public static readonly ErrorCode ManifestFieldNotApplicable = new("KW0109", ErrorKind.BadInput, "field does not apply to this kind or format", "remove the field, or change the kind/format it belongs to");
    public static readonly ErrorCode ManifestInvalidDuration = new("KW0110", ErrorKind.BadInput, "invalid duration", "write a humantime duration such as 30d, 12h, '3 months' or '1y 6M'");
    public static readonly ErrorCode ManifestOutOfRange = new("KW0111", ErrorKind.BadInput, "number out of range", "use a value within the range given in the message");
    public static readonly ErrorCode ManifestInvalidDate = new("KW0112", ErrorKind.BadInput, "invalid date", "write a date as YYYY-MM-DD or an ISO 8601 timestamp with an offset (2026-01-31T12:00:00Z)");
    public static readonly ErrorCode ManifestEmpty = new("KW0113", ErrorKind.BadInput, "manifest is empty", "start the manifest with 'apiVersion: keyward/v1' and a 'credentials:' mapping");
    public static readonly ErrorCode ManifestEmptyValue = new("KW0114", ErrorKind.BadInput, "value must not be empty", "write a non-empty value");
    public static readonly ErrorCode ManifestMultipleDocuments = new("KW0115", ErrorKind.BadInput, "more than one YAML document", "keep one manifest per file (remove the extra '---')");
    public static readonly ErrorCode ManifestInvalidRecipient = new("KW0116", ErrorKind.BadInput, "invalid age or SSH recipient", "use an age X25519 recipient (age1…) or an ssh-ed25519 public key line (ssh-ed25519 AAAA…); ssh-rsa keys are not supported");
    public static readonly ErrorCode ManifestConflictingFields = new("KW0117", ErrorKind.BadInput, "conflicting or incomplete alternatives", "use exactly one of the alternatives named in the message");
    public static readonly ErrorCode ManifestAnchor = new("KW0118", ErrorKind.BadInput, "unknown YAML alias", "define the anchor (&name) before using the alias (*name)");
    public static readonly ErrorCode ManifestTooDeep = new("KW0119", ErrorKind.BadInput, "manifest nesting too deep", "a manifest needs fewer than 10 levels of lists and mappings; flatten the structure at the position shown");

    public static readonly ErrorCode ManifestDanglingReference = new("KW0201", ErrorKind.BadInput, "reference to an undeclared credential", "declare the credential under 'credentials:' or fix the name");
    public static readonly ErrorCode ManifestKindMismatch = new("KW0202", ErrorKind.BadInput, "referenced credential has the wrong kind", "reference a credential of one of the kinds named in the message");
    public static readonly ErrorCode ManifestCycle = new("KW0203", ErrorKind.BadInput, "credentials derive from each other in a cycle", "break the cycle: a signing credential must be a secret or an rsa-key");
    public static readonly ErrorCode ManifestNoPublicHalf = new("KW0204", ErrorKind.BadInput, "credential has no public half", "'public: true' needs a nix-signing-key or an rsa-key");
    public static readonly ErrorCode ManifestNoHost = new("KW0205", ErrorKind.BadInput, "credential has no host for a host-keyed sink", "add 'host:' to the external credential, or list it under 'entries:' with the host as key");
    public static readonly ErrorCode ManifestInvalidCachePattern = new("KW0206", ErrorKind.BadInput, "invalid Attic cache name pattern", "patterns are letters, digits, '-', '_', '+' and '*', at most 50 characters, not starting with '-', '_' or '+'");
    public static readonly ErrorCode ManifestInvalidCacheName = new("KW0207", ErrorKind.BadInput, "invalid Attic cache name", "cache names are letters, digits, '-', '_' and '+', at most 50 characters, starting with a letter or digit (no '*')");
    public static readonly ErrorCode ManifestInvalidPermission = new("KW0208", ErrorKind.BadInput, "invalid Attic permission", "use pull, push, delete, create-cache, configure-cache, configure-cache-retention or destroy-cache");
    public static readonly ErrorCode ManifestShadowedPattern = new("KW0209", ErrorKind.BadInput, "a wildcard cache pattern shadows a later pattern", "Attic uses the first matching pattern; list the more specific pattern first");
    public static readonly ErrorCode ManifestRenewBeforeTooLong = new("KW0210", ErrorKind.BadInput, "renewBefore is not shorter than validity", "renewBefore must be shorter than validity (a third of it is a good default)");
    public static readonly ErrorCode ManifestInvalidMode = new("KW0211", ErrorKind.BadInput, "invalid file mode", "write the mode as octal digits, at most 07777, e.g. \"0600\"");
    public static readonly ErrorCode ManifestInvalidPath = new("KW0212", ErrorKind.BadInput, "invalid path", "sink paths and persistence roots are absolute and normalised (no '.', '..', '//' or trailing '/')");
    public static readonly ErrorCode ManifestDuplicatePath = new("KW0213", ErrorKind.BadInput, "two sinks write the same file", "give each sink its own path");
    public static readonly ErrorCode ManifestWorldReadable = new("KW0214", ErrorKind.BadInput, "a sink carrying secrets would give other users access", "clear every 'other' bit (read, write, execute), e.g. mode \"0600\" or \"0640\"");
    public static readonly ErrorCode ManifestInNixStore = new("KW0215", ErrorKind.BadInput, "a sink carrying secrets would be written inside /nix/store", "the Nix store is world-readable; write secrets under /run, /var/lib or /etc instead");
    public static readonly ErrorCode ManifestInvalidEnvName = new("KW0216", ErrorKind.BadInput, "invalid environment variable name", "use letters, digits and '_', not starting with a digit");
    public static readonly ErrorCode ManifestInvalidKubernetesName = new("KW0217", ErrorKind.BadInput, "invalid Kubernetes name", "Secret names are DNS subdomains, namespaces DNS labels (lowercase letters, digits, '-'), data keys [-._a-zA-Z0-9]+");
    public static readonly ErrorCode ManifestInvalidNixKeyName = new("KW0218", ErrorKind.BadInput, "invalid Nix key name", "a Nix key name is non-empty and has no ':' or whitespace, e.g. cache.example.org-1");
    public static readonly ErrorCode ManifestInvalidHost = new("KW0219", ErrorKind.BadInput, "invalid host name", "write a host name, optionally with a port: github.com, git.example.org:3000");
    public static readonly ErrorCode ManifestInvalidUrl = new("KW0220", ErrorKind.BadInput, "invalid URL", "write an absolute http:// or https:// URL");
    public static readonly ErrorCode ManifestDuplicateEntry = new("KW0221", ErrorKind.BadInput, "two entries of one sink have the same key", "each entry key (variable, host, server, data key) may appear once per sink");
    public static readonly ErrorCode ManifestInvalidHook = new("KW0222", ErrorKind.BadInput, "invalid onChange hook", "use { restart: unit.service }, { reload: unit.service } or { command: [argv…] }");
    public static readonly ErrorCode ManifestEmptyGrant = new("KW0223", ErrorKind.BadInput, "Attic token grants nothing", "list at least one cache pattern with at least one permission");
    public static readonly ErrorCode ManifestSinkWithoutContent = new("KW0224", ErrorKind.BadInput, "sink has nothing to write", "give the sink 'credential:' (raw), 'entries:' or 'tokens:'");
    public static readonly ErrorCode ManifestInvalidPublicKey = new("KW0225", ErrorKind.BadInput, "invalid trusted public key", "name a nix-signing-key credential or write a literal Nix public key name:base64(32 bytes)");
    public static readonly ErrorCode ManifestUnknownServer = new("KW0226", ErrorKind.BadInput, "defaultServer names no server of this sink", "set defaultServer to one of the sink's entry keys");
    public static readonly ErrorCode ManifestWorldWritable = new("KW0228", ErrorKind.BadInput, "a sink's file or directory mode would be world-writable", "clear the 'other' write bit, e.g. directoryMode \"0755\" or \"0700\", mode \"0644\"");
    public static readonly ErrorCode ManifestIgnoredSetting = new("KW0227", ErrorKind.BadInput, "setting has no effect here", "remove the setting (it is only used by the kinds named in the message)");
    public static readonly ErrorCode ManifestLiteralNotRepresentable = new("KW0229", ErrorKind.BadInput, "a literal value the sink's format cannot carry", "an env file holds one line per variable: remove newlines, carriage returns, NUL and other control characters from the value (a tab is fine)");
    public static readonly ErrorCode ManifestLiteralLooksSecret = new("KW0230", ErrorKind.BadInput, "a literal value looks like a token or key", "a literal value is kept in the manifest in clear and written as it is, like any setting: declare the token as a credential (kind: external with a source) and name it with credential:");
    public static readonly ErrorCode ManifestAtticEnvWithoutPublicKey = new("KW0231", ErrorKind.BadInput, "an env sink points at a declared Attic cache without its public key", "add ATTIC_PUBLIC_KEY: { credential: <the cache's signingKey>, public: true } to the sink's entries, so clients trust what the cache signs (and follow its rotations)");
}
