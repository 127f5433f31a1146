using Microsoft.Win32.SafeHandles;

namespace Keyward.Store.Leader;

/// <summary>
/// Leader lock for the embedded store (one host): a non-blocking exclusive <c>flock(2)</c>, like the state lock, but on
/// its own file <c>DIR/keyward.leader</c> — not on the state directory, because the leader itself opens the state for
/// writing every pass and would then contend with its own leadership (and every CLI writer would wait on a running
/// server). The kernel drops the lock when the holder dies, so a restarted server takes it at once.
/// </summary>
public sealed class FileLeaderLock : ILeaderLock
{
    public const string FileName = "keyward.leader";

    private readonly string _path;
    private SafeFileHandle? _handle;

    public FileLeaderLock(string stateDirectory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(stateDirectory);
        _path = Path.Combine(stateDirectory, FileName);
    }

    public bool IsHeld => _handle is not null;

    public Task<bool> TryAcquireAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (_handle is not null) return Task.FromResult(true);
        var handle = StatePosix.OpenLockFile(_path);
        if (!StatePosix.TryLockExclusive(handle))
        {
            handle.Dispose();
            return Task.FromResult(false);
        }
        _handle = handle;
        return Task.FromResult(true);
    }

    public Task<bool> CheckAsync(CancellationToken cancellationToken) => Task.FromResult(IsHeld);

    public Task ReleaseAsync(CancellationToken cancellationToken)
    {
        if (_handle is not null)
        {
            StatePosix.Unlock(_handle);
            _handle.Dispose();
            _handle = null;
        }
        return Task.CompletedTask;
    }

    public async ValueTask DisposeAsync() => await ReleaseAsync(CancellationToken.None).ConfigureAwait(false);
}
