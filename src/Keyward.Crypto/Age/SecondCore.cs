using System.Runtime.ExceptionServices;

namespace Keyward.Crypto.Age;

/// <summary>One piece of work at a time on a second thread, while the caller does its own share of the same batch:
/// <see cref="AgePayload"/> seals (or opens) the second half of a batch's chunks here and the first half itself, so the
/// AEAD of a large file runs on two cores. The thread starts on the first <see cref="Begin"/>; a file of one batch
/// never starts it. The work is handed over and awaited with <see cref="Monitor"/>, which blocks at once (see
/// <see cref="ChunkWriter"/> on why not a spinning wait).</summary>
internal sealed class SecondCore : IDisposable
{
    private readonly object _gate = new();
    private Action? _work;
    private bool _busy;
    private bool _stopping;
    private Exception? _error;
    private Thread? _thread;

    /// <summary>Starts <paramref name="work"/> on the second thread; <see cref="End"/> waits for it.</summary>
    public void Begin(Action work)
    {
        if (_thread is null)
        {
            _thread = new Thread(Run) { IsBackground = true, Name = "age payload second core" };
            _thread.Start();
        }
        lock (_gate)
        {
            _work = work;
            _busy = true;
            Monitor.PulseAll(_gate);
        }
    }

    /// <summary>Waits for the work given to <see cref="Begin"/>; rethrows its exception.</summary>
    public void End()
    {
        lock (_gate)
        {
            while (_busy) Monitor.Wait(_gate);
        }
        if (_error is { } error)
        {
            _error = null;
            ExceptionDispatchInfo.Capture(error).Throw();
        }
    }

    public void Dispose()
    {
        if (_thread is null) return;
        lock (_gate)
        {
            // Work still running (the caller failed before End) finishes first: it may be writing into a buffer
            // the caller is about to wipe.
            while (_busy) Monitor.Wait(_gate);
            _stopping = true;
            Monitor.PulseAll(_gate);
        }
        _thread.Join();
    }

    private void Run()
    {
        while (true)
        {
            Action work;
            lock (_gate)
            {
                while (_work is null && !_stopping) Monitor.Wait(_gate);
                if (_work is null) return;
                work = _work;
                _work = null;
            }
            try
            {
                work();
            }
            catch (Exception ex)
            {
                _error = ex;
            }
            lock (_gate)
            {
                _busy = false;
                Monitor.PulseAll(_gate);
            }
        }
    }
}
