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
