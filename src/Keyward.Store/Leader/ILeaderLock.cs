namespace Keyward.Store.Leader;

/// <summary>
/// Who runs the controller loop: at most one holder per store at a time. <c>keyward serve</c> calls
/// <see cref="TryAcquireAsync"/> every interval and acts only while <see cref="CheckAsync"/> says it still holds the
/// lock; the moment it does not (connection broken, process killed), it must stop work. Implementations:
/// <see cref="PostgresLeaderLock"/> (any number of replicas on one PostgreSQL store) and <see cref="FileLeaderLock"/>
/// (one host, the embedded store). See docs/store.md, "Leader lock".
/// </summary>
public interface ILeaderLock : IAsyncDisposable
{
    /// <summary>Tries once, without waiting: true when this instance holds the lock (now or already).</summary>
    Task<bool> TryAcquireAsync(CancellationToken cancellationToken);

    /// <summary>What this instance last knew, without a round trip: false once the lock is released or its connection
    /// is seen broken. Call <see cref="CheckAsync"/> before acting on it.</summary>
    bool IsHeld { get; }

    /// <summary>Confirms the lock is still held (for PostgreSQL a round trip on the lock's connection); a failure means
    /// the lock is lost, and <see cref="IsHeld"/> turns false.</summary>
    Task<bool> CheckAsync(CancellationToken cancellationToken);

    /// <summary>Gives the lock up (a draining leader); another replica can take it at once.</summary>
    Task ReleaseAsync(CancellationToken cancellationToken);
}
