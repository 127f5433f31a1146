using Keyward.Core.Secrets;

namespace Keyward.Core.Store;

/// <summary>Lifecycle of one credential version.</summary>
public enum VersionState
{
    /// <summary>Written by a rotation that has not committed yet.</summary>
    Staged,
    /// <summary>The version sinks deliver and tokens are signed with.</summary>
    Active,
    /// <summary>The version before the active one; still valid during an overlap.</summary>
    Previous,
    /// <summary>No longer delivered anywhere.</summary>
    Retired,
}

/// <summary>Metadata of one stored version; never the value.</summary>
public sealed record CredentialVersion(
    string Name,
    int Version,
    string Kind,
    VersionState State,
    DateTimeOffset CreatedAt,
    DateTimeOffset? ExpiresAt,
    string Fingerprint,
    string Origin,
    /// <summary>Free-form non-secret facts (token subject, key name, public key, spec hash...).</summary>
    IReadOnlyDictionary<string, string> Metadata);

/// <summary>A value to store as a new version.</summary>
public sealed record NewVersion(
    string Name,
    string Kind,
    Secret Value,
    VersionState State,
    DateTimeOffset CreatedAt,
    DateTimeOffset? ExpiresAt,
    string Origin,
    IReadOnlyDictionary<string, string> Metadata);

/// <summary>A minted token, as recorded in the ledger (Attic keeps no record of the tokens it accepts).</summary>
public sealed record LedgerEntry(
    string TokenId,
    string Credential,
    int Version,
    string Subject,
    string PermissionsSummary,
    DateTimeOffset IssuedAt,
    DateTimeOffset ExpiresAt,
    string Fingerprint,
    string SignedBy,
    int SignedByVersion,
    DateTimeOffset? RevokedAt);

/// <summary>One audit event: fingerprints, never values.</summary>
public sealed record AuditEvent(
    DateTimeOffset At,
    string Actor,
    string Action,
    string Credential,
    int? Version,
    string? Fingerprint,
    string? Detail);

/// <summary>An audit row as stored, with its place in the hash chain.</summary>
public sealed record AuditRecord(long Sequence, AuditEvent Event, string PreviousHash, string Hash);

/// <summary>The state Keyward last wrote to a sink, to detect drift without reading values back.</summary>
public sealed record SinkRecord(string Name, string Path, string ContentFingerprint, DateTimeOffset WrittenAt);

/// <summary>One step of a write-ahead journal entry.</summary>
public sealed record JournalStep(long JournalId, int Step, string Kind, string Target, string Status, string? Data, DateTimeOffset At);

/// <summary>A journal (one rotation in flight).</summary>
public sealed record JournalRecord(long Id, string Operation, string Status, string Intent, DateTimeOffset StartedAt, IReadOnlyList<JournalStep> Steps);

/// <summary>Credential versions: metadata, encrypted values, and their lifecycle states.</summary>
public interface IVersionStore
{
    /// <summary>Keyed fingerprint (HMAC-SHA256 under a key derived from the data key), printable, safe to log.</summary>
    string Fingerprint(ReadOnlySpan<byte> value);

    /// <summary>Every version of every credential, metadata only, in one query.</summary>
    Task<IReadOnlyList<CredentialVersion>> ListVersionsAsync(CancellationToken cancellationToken);

    Task<IReadOnlyList<CredentialVersion>> GetVersionsAsync(string name, CancellationToken cancellationToken);

    /// <summary>The active version or null.</summary>
    Task<CredentialVersion?> GetActiveAsync(string name, CancellationToken cancellationToken);

    /// <summary>Decrypts one version. Throws KeywardException (KW03xx) if it is missing or fails to authenticate.</summary>
    Task<Secret> RevealAsync(string name, int version, CancellationToken cancellationToken);

    /// <summary>Decrypts the active version of many credentials at once (for rendering thousands of sinks).</summary>
    Task<IReadOnlyDictionary<string, Secret>> RevealActiveAsync(IEnumerable<string> names, CancellationToken cancellationToken);

    /// <summary>Stores a new version (next version number) and returns its metadata. Activating a version moves the old active one to Previous.</summary>
    Task<CredentialVersion> PutAsync(NewVersion version, CancellationToken cancellationToken);

    Task SetStateAsync(string name, int version, VersionState state, CancellationToken cancellationToken);

    Task SetMetadataAsync(string name, int version, IReadOnlyDictionary<string, string> metadata, DateTimeOffset? expiresAt, CancellationToken cancellationToken);
}

/// <summary>The ledger of every token Keyward minted (Attic keeps none), with revocations.</summary>
public interface ITokenLedger
{
    Task RecordTokenAsync(LedgerEntry entry, CancellationToken cancellationToken);
    Task<IReadOnlyList<LedgerEntry>> ListLedgerAsync(CancellationToken cancellationToken);
    Task RevokeTokenAsync(string tokenId, DateTimeOffset at, CancellationToken cancellationToken);
}

/// <summary>The append-only, hash-chained audit log.</summary>
public interface IAuditLog
{
    Task AppendAuditAsync(AuditEvent auditEvent, CancellationToken cancellationToken);
    Task<IReadOnlyList<AuditRecord>> ReadAuditAsync(DateTimeOffset? since, CancellationToken cancellationToken);
    /// <summary>Recomputes the hash chain; returns the problems found (empty when intact).</summary>
    Task<IReadOnlyList<string>> VerifyAuditAsync(CancellationToken cancellationToken);
}

/// <summary>What Keyward last wrote to each sink (and each host's confirmations), by name.</summary>
public interface ISinkRecords
{
    Task<IReadOnlyList<SinkRecord>> ListSinksAsync(CancellationToken cancellationToken);
    Task PutSinkAsync(SinkRecord sink, CancellationToken cancellationToken);
}

/// <summary>The write-ahead journals of operations in flight (rotations). Every call commits on its own.</summary>
public interface IJournalStore
{
    Task<long> BeginJournalAsync(string operation, string intent, DateTimeOffset at, CancellationToken cancellationToken);
    Task AppendJournalStepAsync(long journalId, string kind, string target, string status, string? data, DateTimeOffset at, CancellationToken cancellationToken);
    Task SetJournalStatusAsync(long journalId, string status, CancellationToken cancellationToken);
    /// <summary>Journals whose status is neither committed nor aborted.</summary>
    Task<IReadOnlyList<JournalRecord>> OpenJournalsAsync(CancellationToken cancellationToken);
}

/// <summary>
/// The store contract: one per entity above, together, plus transactions. SQLite, PostgreSQL and the in-memory store
/// (`Keyward.Store.Memory.MemoryCredentialStore`) implement it, and all three run one shared contract test suite.
/// Values are encrypted at rest (envelope encryption); this interface only ever hands out <see cref="Secret"/>.
/// Writes made inside <see cref="BeginAsync"/> commit together; outside one, each call is atomic on its own.
/// </summary>
public interface ICredentialStore : IVersionStore, ITokenLedger, IAuditLog, ISinkRecords, IJournalStore, IAsyncDisposable
{
    /// <summary>A random id fixed at creation, bound into every value's associated data.</summary>
    string StoreId { get; }

    Task<IStoreTransaction> BeginAsync(CancellationToken cancellationToken);
}

public interface IStoreTransaction : IAsyncDisposable
{
    Task CommitAsync(CancellationToken cancellationToken);
}

/// <summary>Journal statuses the store gives meaning to; any other status (e.g. "phase-one-done") counts as open.</summary>
public static class JournalStatuses
{
    /// <summary>Set by <see cref="ICredentialStore.BeginJournalAsync"/>.</summary>
    public const string Open = "open";
    public const string Committed = "committed";
    public const string Aborted = "aborted";
}
