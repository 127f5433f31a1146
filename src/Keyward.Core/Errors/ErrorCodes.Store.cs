namespace Keyward.Core.Errors;

/// <summary>KW03xx: the encrypted embedded store and the state directory.</summary>
public static partial class ErrorCodes
{
    public static readonly ErrorCode StoreNotInitialised = new("KW0301", ErrorKind.BadInput, "state directory is not initialised", "run `keyward init` (or `keyward apply`, which initialises an empty state), or pass the right --state DIR");
    public static readonly ErrorCode StoreAlreadyInitialised = new("KW0302", ErrorKind.BadInput, "state directory is already initialised", "Keyward never overwrites an identity or a store; use the existing state, or choose another --state DIR");
    public static readonly ErrorCode StoreIdentityMissing = new("KW0303", ErrorKind.Failed, "store identity file is missing", "restore identity.txt from backup, or recover with an extra recipient's key (see docs/store.md, \"Recovery\")");
    public static readonly ErrorCode StatePermissionsTightened = new("KW0320", ErrorKind.Failed, "state directory or identity file permissions were too open", "Keyward keeps identity.txt at 0600 and the state directory without group write or any 'other' bit; check who could have read or replaced them");
    public static readonly ErrorCode StoreIdentityInvalid = new("KW0304", ErrorKind.BadInput, "identity file cannot be parsed", "an identity file holds one AGE-SECRET-KEY-1... line (comments start with #)");
    public static readonly ErrorCode StoreKeyUnwrap = new("KW0305", ErrorKind.Failed, "cannot unwrap the store data key with this identity", "the identity is not one of the store's recipients; use the store's own identity.txt or a recovery identity (docs/store.md)");
    public static readonly ErrorCode StoreRecipientInvalid = new("KW0306", ErrorKind.BadInput, "invalid recipient", "recipients are age X25519 public keys (age1...) or SSH public keys (ssh-ed25519 AAAA...)");
    public static readonly ErrorCode StoreCorrupt = new("KW0307", ErrorKind.Failed, "store database is corrupt or not a Keyward store", "restore keyward.db from backup; do not edit it by hand");
    public static readonly ErrorCode StoreLocked = new("KW0308", ErrorKind.Failed, "store is locked by another process", "another keyward is writing the same state; wait for it to finish and retry");
    public static readonly ErrorCode StoreVersionMissing = new("KW0309", ErrorKind.BadInput, "credential or version not found in the store", "run `keyward list` to see the stored credentials; `keyward apply` creates missing ones");
    public static readonly ErrorCode StoreTampered = new("KW0310", ErrorKind.Failed, "stored value or credential state failed to authenticate (tampering or corruption)", "a ciphertext was altered or moved between rows or stores, or a version's state, expiry or metadata or a token's revocation was changed outside Keyward; restore the store from backup and rotate what it holds");
    public static readonly ErrorCode StoreSchemaTooNew = new("KW0311", ErrorKind.Failed, "store was written by a newer Keyward", "upgrade Keyward; it never downgrades a store schema");
    public static readonly ErrorCode StoreDuplicateToken = new("KW0312", ErrorKind.Failed, "token id already recorded in the ledger", "token ids are unique; mint a token with a fresh id");
    public static readonly ErrorCode StoreTokenMissing = new("KW0313", ErrorKind.BadInput, "token not found in the ledger", "run `keyward tokens` to see the recorded token ids and their credentials");
    public static readonly ErrorCode StoreJournalMissing = new("KW0314", ErrorKind.Failed, "journal not found", "list open journals; a committed or aborted journal cannot be changed");
    public static readonly ErrorCode StoreIo = new("KW0315", ErrorKind.Failed, "store database operation failed", "check free space and permissions of the state directory");
    public static readonly ErrorCode StateLockTimeout = new("KW0317", ErrorKind.Failed, "timed out waiting for the state lock", "another keyward (named in the message) is writing the same state; wait for it to finish and retry, or give it longer with --lock-timeout");
    public static readonly ErrorCode StoreConnectionInvalid = new("KW0321", ErrorKind.BadInput, "invalid store connection string", "use postgres://USER[:PASSWORD]@HOST:PORT/DATABASE[?sslmode=require] or Npgsql key=value pairs (Host=...;Port=...;Username=...;Database=...)");
    public static readonly ErrorCode StoreUnreachable = new("KW0322", ErrorKind.Failed, "PostgreSQL store operation failed", "check that PostgreSQL is running and reachable, and that the role may connect to the database (the message names host, port and database, never the password)");
    public static readonly ErrorCode StoreCopyTargetNotEmpty = new("KW0323", ErrorKind.BadInput, "store copy target already holds a store", "`keyward store copy` only fills an empty target; choose an empty database or state directory");
    public static readonly ErrorCode StoreRolledBack = new("KW0324", ErrorKind.Failed, "the store is older than its own last write", "keyward.db lost committed writes (its -wal file deleted, or an older copy restored); restore the state directory with its -wal file, or, if you restored an older keyward.db on purpose, delete STATE/audit-head to accept it and rotate what was rotated since");
    public static readonly ErrorCode StoreKeyMismatch = new("KW0316", ErrorKind.Failed, "the unwrapped data key does not belong to this store", "the wrapped key in keyward.db was replaced; restore keyward.db from backup");
}
