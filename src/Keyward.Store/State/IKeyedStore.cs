using Keyward.Core.Store;
using Keyward.Store.Encryption;

namespace Keyward.Store;

/// <summary>What <see cref="OpenedState"/> needs from a store beyond the contract, whichever backend holds the rows
/// (the SQLite file in the state directory, or a PostgreSQL database): its keys and its wrapped data key.</summary>
internal interface IKeyedStore : ICredentialStore
{
    StoreKeys Keys { get; }

    /// <summary>Where the rows live, printable: the database file's path, or <c>postgres://user@host:port/db</c> (never a password).</summary>
    string Location { get; }

    /// <summary>Replaces the wrapped data key and the recipient list (after <see cref="OpenedState.AddRecipientsAsync"/> rewrapped it).</summary>
    Task ReplaceWrappedKeyAsync(byte[] wrapped, IReadOnlyList<string> recipients, CancellationToken cancellationToken);

    /// <summary>Checks the state seal against the rows (one snapshot) and seals a store made before the seal existed,
    /// once its audit chain is verified intact. Throws KW0310/KW0811 on tampering.</summary>
    Task VerifySealAsync(CancellationToken cancellationToken);

    /// <summary>Lets go of the writer lock this store's session holds, if any (PostgreSQL's session advisory lock; the
    /// embedded store's flock is not the store's and needs nothing here), keeping the store open for reading.
    /// Refused while a transaction is open.</summary>
    Task ReleaseWriterLockAsync(CancellationToken cancellationToken);
}
