using Keyward.Core.Store;
using Keyward.Store.Encryption;

namespace Keyward.Store;

/// <summary>An opened state directory: the unlocked store and the facts about its identity. Dispose to close the store.</summary>
public sealed class OpenedState : IAsyncDisposable
{
    private readonly IKeyedStore _store;
    private readonly IDataKeyWrap _wrap;
    private List<string> _recipients;
    private IDisposable? _lock;

    /// <summary>What opening found and fixed (KW0320: permissions tightened); the front end prints them.</summary>
    public IReadOnlyList<Core.Errors.KeywardError> Warnings { get; internal init; } = [];

    internal OpenedState(IKeyedStore store, string directory, string identityPath, string recipient, IReadOnlyList<string> recipients, IDataKeyWrap wrap)
    {
        _store = store;
        _wrap = wrap;
        Directory = directory;
        IdentityPath = identityPath;
        Recipient = recipient;
        _recipients = [.. recipients];
    }

    public ICredentialStore Store => _store;

    internal IKeyedStore KeyedStore => _store;

    internal IDataKeyWrap Wrap => _wrap;

    public string Directory { get; }

    /// <summary>The identity file the store was unlocked with.</summary>
    public string IdentityPath { get; }

    /// <summary>The public recipient (age1…) of <see cref="IdentityPath"/>.</summary>
    public string Recipient { get; }

    /// <summary>Every recipient the data key is wrapped to, the host identity's first. Public keys, safe to print.</summary>
    public IReadOnlyList<string> Recipients => _recipients;

    /// <summary>Where the store's rows live: the SQLite file, or the PostgreSQL database as <c>postgres://user@host:port/db</c> (no password).</summary>
    public string DatabasePath => _store.Location;

    /// <summary>True when this open created the state (a first <c>apply</c>, <c>init</c>).</summary>
    public bool Created { get; internal set; }

    /// <summary>True when this state was opened for writing and holds the state lock until it is disposed.</summary>
    public bool HoldsLock => _lock is not null;

    /// <summary>The writer lock: the state directory's flock for SQLite, or a marker for PostgreSQL's session advisory
    /// lock, which lives on the store's own connection and is released when the store closes it.</summary>
    internal void Hold(IDisposable held) => _lock = held;

    /// <summary>
    /// Lets another writer in while this state stays open for reading: what was written is committed (no transaction may
    /// be open), and the store is read as any reader reads it from here on (each read sees the latest commit). For a
    /// writer that goes on with read-only work after its writes (the server's checks after its apply), so one open —
    /// one check of the state seal — serves both. Writes made after this are not under the state lock.
    /// </summary>
    public async Task ReleaseLockAsync(CancellationToken ct)
    {
        if (_lock is null) return;
        await _store.ReleaseWriterLockAsync(ct).ConfigureAwait(false);
        _lock.Dispose();
        _lock = null;
    }

    /// <summary>Rewraps the data key to the current recipients plus <paramref name="recipients"/> (age1… or ssh-ed25519),
    /// so an operator holding one of those keys can recover the store. Values are not re-encrypted.</summary>
    public async Task AddRecipientsAsync(IReadOnlyList<string> recipients, CancellationToken ct)
    {
        var added = recipients.Select(_wrap.NormaliseRecipient).ToList();
        var all = new List<string>(_recipients);
        all.AddRange(added.Where(r => !all.Contains(r, StringComparer.Ordinal)).Distinct(StringComparer.Ordinal));
        if (all.Count == _recipients.Count) return;
        await RewrapAsync(all, ct).ConfigureAwait(false);
    }

    internal async Task RewrapAsync(IReadOnlyList<string> recipients, CancellationToken ct)
    {
        var wrapped = _wrap.Wrap(_store.Keys.DataKey.Reveal(), recipients);
        await _store.ReplaceWrappedKeyAsync(wrapped, recipients, ct).ConfigureAwait(false);
        _recipients = [.. recipients];
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await _store.DisposeAsync().ConfigureAwait(false);
        }
        finally
        {
            _lock?.Dispose(); // after the store is closed: the next writer finds every write of this one committed
            _lock = null;
        }
    }
}
