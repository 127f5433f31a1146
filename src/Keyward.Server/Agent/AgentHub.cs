using System.Security.Cryptography;
using System.Text;
using Keyward.Core.Manifest;
using Keyward.Engine.Agent;
using Keyward.Core.Store;

namespace Keyward.Server.Agent;

/// <summary>
/// Bundles for hosts and the long poll. One loop (every <see cref="PollInterval"/>, only while an agent waits) reads the
/// store's version list — no values —, the open journals and the manifest; when either changed it wakes every waiting agent, each of which
/// re-renders its host's bundle once per change (cached per host until the next change) and returns when its version
/// differs from the one the agent has. 1,000 waiting agents cost one version-list read per interval, not 1,000.
/// </summary>
internal sealed class AgentHub : IDisposable
{
    private readonly ServerState _state;
    private readonly HostStatusBoard _board;
    private readonly Lock _gate = new();
    private readonly CancellationTokenSource _stop = new();
    private TaskCompletionSource _changed = NewSignal();
    private string _generation = "";
    private readonly Dictionary<string, Sealed> _cache = new(StringComparer.Ordinal);
    private Task? _loop;
    private int _waiting;
    private readonly SemaphoreSlim _readGate = new(1, 1);
    private Keyward.Store.OpenedState? _reader;
    private DateTimeOffset _readerOpened;

    /// <summary>How long the hub's read-only open of the store is reused.</summary>
    public static readonly TimeSpan ReaderLifetime = TimeSpan.FromSeconds(30);

    public AgentHub(ServerState state, HostStatusBoard board, TimeSpan? pollInterval = null)
    {
        _state = state;
        _board = board;
        PollInterval = pollInterval ?? TimeSpan.FromMilliseconds(500);
    }

    public TimeSpan PollInterval { get; }

    /// <summary>A host's bundle, sealed to its key, with what the audit and the status board need (no plaintext).</summary>
    internal sealed record Sealed(string Host, string Version, byte[] Bytes, IReadOnlyList<(string Sink, string Fingerprint)> Sinks, IReadOnlyList<string> Pending);

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>The host's current sealed bundle (rendered at most once per store or manifest change).</summary>
    public async Task<Sealed> CurrentAsync(HostSpec host, CancellationToken ct, bool reread = true)
    {
        string generation;
        if (reread) generation = await GenerationAsync(ct).ConfigureAwait(false);
        else lock (_gate) generation = _generation;
        lock (_gate)
            if (_cache.TryGetValue(host.Name, out var hit) && _generation == generation) return hit;
        var manifest = _state.Manifest ?? throw Core.Errors.ErrorCodes.AgentServerError.Exception("the server has no valid manifest");
        using var bundle = await ReadAsync(store => HostBundleBuilder.BuildAsync(store, manifest, host.Name, _state.Time.GetUtcNow(), ct), ct).ConfigureAwait(false);
        // Sealing (an X25519 agreement per host) runs outside the read gate, in parallel with the next host's build.
        var sealedBundle = new Sealed(host.Name, bundle.Version, bundle.Seal(host.KeyText), [.. bundle.Sinks.Select(s => (s.Name, s.Fingerprint))], bundle.Pending);
        _board.Current(host.Name, bundle.Version, bundle.Sinks);
        lock (_gate)
            if (_generation == generation) _cache[host.Name] = sealedBundle;
        return sealedBundle;
    }

    /// <summary>
    /// Runs <paramref name="read"/> on the hub's one read-only open of the store, one read at a time. Opening the store
    /// reads the identity, unwraps the data key and checks the seal: 1,000 agents woken by one rotation opened it about
    /// 2,000 times (each first look and each host's bundle), most of a rotation's time on this machine
    /// (bench/parts/76-agents-1000.sh). The open is renewed every <see cref="ReaderLifetime"/> (a store replaced on disk
    /// is seen) and after any failure.
    /// </summary>
    private async Task<T> ReadAsync<T>(Func<ICredentialStore, Task<T>> read, CancellationToken ct)
    {
        await _readGate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var now = _state.Time.GetUtcNow();
            if (_reader is not null && now - _readerOpened > ReaderLifetime)
            {
                await _reader.DisposeAsync().ConfigureAwait(false);
                _reader = null;
            }
            if (_reader is null)
            {
                _reader = await _state.OpenForReadAsync(ct).ConfigureAwait(false);
                _readerOpened = now;
            }
            try
            {
                return await read(_reader.Store).ConfigureAwait(false);
            }
            catch
            {
                await _reader.DisposeAsync().ConfigureAwait(false);
                _reader = null;
                throw;
            }
        }
        finally
        {
            _readGate.Release();
        }
    }

    /// <summary>Waits until the host's bundle version differs from <paramref name="since"/> or <paramref name="wait"/>
    /// passes; returns the current bundle either way (the caller compares versions).</summary>
    public async Task<Sealed> WaitAsync(HostSpec host, string? since, TimeSpan wait, CancellationToken ct)
    {
        var deadline = _state.Time.GetUtcNow() + wait;
        Interlocked.Increment(ref _waiting);
        EnsureLoop();
        try
        {
            // The first look reads the store; after that the loop has read it for every waiting agent at once.
            for (var first = true; ; first = false)
            {
                Task changed;
                lock (_gate) changed = _changed.Task;
                var current = await CurrentAsync(host, ct, reread: first).ConfigureAwait(false);
                var left = deadline - _state.Time.GetUtcNow();
                if (current.Version != since || left <= TimeSpan.Zero) return current;
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
                var delay = Task.Delay(left, _state.Time, timeout.Token);
                await Task.WhenAny(changed, delay).ConfigureAwait(false);
                await timeout.CancelAsync().ConfigureAwait(false);
                ct.ThrowIfCancellationRequested();
            }
        }
        finally
        {
            Interlocked.Decrement(ref _waiting);
        }
    }

    /// <summary>Store and manifest as one string: the versions (names, numbers, states, keyed fingerprints), the open
    /// journals' progress and the manifest instance. Any change of a value or a declaration changes it.</summary>
    private async Task<string> GenerationAsync(CancellationToken ct)
    {
        _state.ReloadManifestIfChanged();
        var manifest = _state.Manifest;
        var (versions, journals) = await ReadAsync(async store =>
            (await store.ListVersionsAsync(ct).ConfigureAwait(false), await store.OpenJournalsAsync(ct).ConfigureAwait(false)), ct).ConfigureAwait(false);
        {
            var sb = new StringBuilder().Append(manifest is null ? 0 : System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(manifest)).Append('\n');
            foreach (var v in versions.OrderBy(v => v.Name, StringComparer.Ordinal).ThenBy(v => v.Version))
                sb.Append(v.Name).Append(' ').Append(v.Version).Append(' ').Append(v.State).Append(' ').Append(v.Fingerprint).Append('\n');
            // An open rotation changes what a host trusts (a cache key in rollover) as its steps are done, not only its versions.
            foreach (var j in journals)
                sb.Append("journal ").Append(j.Id).Append(' ').Append(j.Status).Append(' ').Append(j.Steps.Count).Append('\n');
            var generation = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(sb.ToString())));
            lock (_gate)
            {
                if (generation != _generation)
                {
                    _generation = generation;
                    _cache.Clear();
                    var previous = _changed;
                    _changed = NewSignal();
                    previous.TrySetResult();
                }
            }
            return generation;
        }
    }

    private void EnsureLoop()
    {
        lock (_gate) _loop ??= Task.Run(LoopAsync);
    }

    private async Task LoopAsync()
    {
        using var timer = new PeriodicTimer(PollInterval, _state.Time);
        try
        {
            while (await timer.WaitForNextTickAsync(_stop.Token).ConfigureAwait(false))
            {
                if (Volatile.Read(ref _waiting) == 0) continue;
                try
                {
                    await GenerationAsync(_stop.Token).ConfigureAwait(false);
                }
                catch (Exception e) when (e is Core.Errors.KeywardException or IOException)
                {
                    // The store is being initialised or briefly unreadable: the next tick tries again.
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _stop.Dispose();
        // The reader is released by whichever read is running, or here when none is.
        if (_readGate.Wait(TimeSpan.FromSeconds(5)))
        {
            _reader?.DisposeAsync().AsTask().GetAwaiter().GetResult();
            _reader = null;
        }
    }
}
