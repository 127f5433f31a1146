namespace Keyward.Server.Controller;

/// <summary>
/// Leader election seam of the controller loop: only the replica that leads runs passes; every replica answers health,
/// metrics and reads. The embedded store has one replica (<see cref="SingleReplicaLeader"/>); a shared store plugs a
/// lock in here (PostgreSQL: an advisory lock on a dedicated connection) by registering another implementation.
/// </summary>
public interface IControllerLeader
{
    /// <summary>True while this replica leads (<c>keyward_controller_leader</c>).</summary>
    bool IsLeader { get; }

    /// <summary>Called before every pass: take or confirm leadership; false means skip this pass (another replica leads,
    /// or the lock was lost). Must not throw for a lost lock.</summary>
    ValueTask<bool> TryLeadAsync(CancellationToken cancellationToken);

    /// <summary>Let go (on shutdown), so another replica takes over at once.</summary>
    ValueTask ResignAsync(CancellationToken cancellationToken);
}

/// <summary>One replica on the embedded store: it always leads (the state lock already serialises it with the CLI).</summary>
public sealed class SingleReplicaLeader : IControllerLeader
{
    public bool IsLeader => true;

    public ValueTask<bool> TryLeadAsync(CancellationToken cancellationToken) => ValueTask.FromResult(true);

    public ValueTask ResignAsync(CancellationToken cancellationToken) => ValueTask.CompletedTask;
}

/// <summary>
/// Leadership held through a store lock (<see cref="Store.Leader.ILeaderLock"/>): PostgreSQL's session advisory lock for
/// replicas sharing a database (lost with the session, so a killed leader is replaced on the next try), or a flock on
/// the state directory for the embedded store (two serves on one directory: one leads). Before each pass the holder
/// confirms the lock with a round trip; a lost lock means no pass until it is won again.
/// </summary>
public sealed class LockLeader(Func<CancellationToken, Task<Store.Leader.ILeaderLock>> create, Action<string>? warn = null) : IControllerLeader, IAsyncDisposable
{
    private Store.Leader.ILeaderLock? _lock;
    private volatile bool _leading;

    public bool IsLeader => _leading && _lock is { IsHeld: true };

    public async ValueTask<bool> TryLeadAsync(CancellationToken cancellationToken)
    {
        try
        {
            _lock ??= await create(cancellationToken).ConfigureAwait(false);
            _leading = _lock.IsHeld
                ? await _lock.CheckAsync(cancellationToken).ConfigureAwait(false) || await _lock.TryAcquireAsync(cancellationToken).ConfigureAwait(false)
                : await _lock.TryAcquireAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            _leading = false; // the store is unreachable: not leading; the next pass tries again
            warn?.Invoke($"cannot take the controller lead: {e.GetType().Name}: {e.Message}");
        }
        return _leading;
    }

    public async ValueTask ResignAsync(CancellationToken cancellationToken)
    {
        _leading = false;
        if (_lock is { IsHeld: true } held)
        {
            try
            {
                await held.ReleaseAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // The session is gone already: so is the lock.
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_lock is not null) await _lock.DisposeAsync().ConfigureAwait(false);
    }
}
