using System.Runtime.ExceptionServices;
using System.Security.Cryptography;

namespace Keyward.Crypto.Age;

/// <summary>Writes the payload's batches to the output. The first batch is written on the calling
/// thread; from the second on, a dedicated thread writes filled buffers while the caller seals or
/// opens the next batch, so the AEAD and the write (a page-cache copy as costly as the cipher)
/// overlap on two cores. Batches are written whole and in order; a small file never starts the
/// thread. A fixed ring of <see cref="SlotCount"/> buffers bounds memory whatever the payload size.</summary>
internal sealed class ChunkWriter(Stream output, int slotSize) : IDisposable
{
    public const int SlotCount = 3;

    private readonly byte[]?[] _slots = new byte[SlotCount][];
    private readonly int[] _lengths = new int[SlotCount];
    // Hand-over state, guarded by _gate: slots filled and not yet written. Monitor.Wait blocks at
    // once; a spinning wait (SemaphoreSlim) cost CPU that the other thread needs on a busy 2-core host.
    private readonly object _gate = new();
    private int _pending;
    private Thread? _thread;
    private volatile Exception? _error;
    private int _next;
    private int _published;
    private bool _finished;

    /// <summary>The buffer for the next batch (valid until <see cref="Publish"/>).</summary>
    public byte[] Acquire()
    {
        if (_published > 0 && _thread is null) Start();
        if (_thread is not null)
        {
            WaitForFreeSlot();
            if (_error is { } error) ExceptionDispatchInfo.Capture(error).Throw();
        }
        return _slots[_next] ??= new byte[slotSize];
    }

    /// <summary>Hands the first <paramref name="length"/> bytes of the acquired buffer to the output.</summary>
    public void Publish(int length)
    {
        _published++;
        if (_thread is null)
        {
            if (length > 0) output.Write(_slots[_next]!, 0, length);
            return;
        }
        Hand(length);
    }

    /// <summary>Waits until every published batch is written; rethrows the writer's failure.</summary>
    public void Finish()
    {
        Stop();
        if (_error is { } error) ExceptionDispatchInfo.Capture(error).Throw();
    }

    /// <summary>Stops the writer (after it has written what was published) and wipes the buffers,
    /// which hold plaintext when decrypting.</summary>
    public void Dispose()
    {
        Stop();
        foreach (var slot in _slots)
            if (slot is not null) CryptographicOperations.ZeroMemory(slot);
    }

    private void Start()
    {
        // The first batch went out synchronously, so every slot is free.
        _thread = new Thread(Run) { IsBackground = true, Name = "age payload writer" };
        _thread.Start();
    }

    private void Stop()
    {
        if (_finished) return;
        _finished = true;
        if (_thread is null) return;
        // A negative length is the end mark; the writer keeps freeing slots even after a failure,
        // so this wait cannot block for good.
        WaitForFreeSlot();
        Hand(-1);
        _thread.Join();
    }

    /// <summary>Producer side: waits until a slot is free (at most SlotCount - 1 pending, since the
    /// slot being filled is the next one the writer will read).</summary>
    private void WaitForFreeSlot()
    {
        lock (_gate)
        {
            while (_pending == SlotCount) Monitor.Wait(_gate);
        }
    }

    private void Hand(int length)
    {
        _lengths[_next] = length;
        _next = (_next + 1) % SlotCount;
        lock (_gate)
        {
            _pending++;
            Monitor.PulseAll(_gate);
        }
    }

    private void Run()
    {
        var index = 0;
        while (true)
        {
            lock (_gate)
            {
                while (_pending == 0) Monitor.Wait(_gate);
            }
            var length = _lengths[index];
            if (length < 0) return;
            if (_error is null && length > 0)
            {
                try
                {
                    output.Write(_slots[index]!, 0, length);
                }
                catch (Exception ex)
                {
                    _error = ex;
                }
            }
            lock (_gate)
            {
                _pending--;
                Monitor.PulseAll(_gate);
            }
            index = (index + 1) % SlotCount;
        }
    }
}
