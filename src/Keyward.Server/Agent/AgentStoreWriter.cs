using Keyward.Core.Store;

namespace Keyward.Server.Agent;

/// <summary>
/// The agent area's writes to the store — the audit event of each delivery, the confirmations of each report — coalesced:
/// whatever requests arrive while one batch is being written go into the next, and each batch takes the state lock once
/// and commits in one transaction. A request still returns only after its own writes are committed (a bundle is
/// audited before it is handed out), but 1,000 agents answering a rotation at once cost a handful of lock acquisitions
/// instead of 2,000 (each a store open and a commit, contending for the lock by polling: measured in
/// bench/parts/76-agents-1000.sh).
/// </summary>
internal sealed class AgentStoreWriter(ServerState state)
{
    private sealed record Pending(IReadOnlyList<AuditEvent> Audit, IReadOnlyList<SinkRecord> Sinks, TaskCompletionSource Done);

    private readonly Lock _gate = new();
    private List<Pending> _queue = [];
    private bool _draining;

    /// <summary>Completes once <paramref name="audit"/> and <paramref name="sinks"/> are committed; fails with the batch's
    /// error (a lock timeout, KW0317) when the batch could not be written.</summary>
    public Task WriteAsync(IReadOnlyList<AuditEvent> audit, IReadOnlyList<SinkRecord> sinks, CancellationToken ct)
    {
        if (audit.Count == 0 && sinks.Count == 0) return Task.CompletedTask;
        var pending = new Pending(audit, sinks, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        var start = false;
        lock (_gate)
        {
            _queue.Add(pending);
            if (!_draining) _draining = start = true;
        }
        if (start) _ = Task.Run(DrainAsync, CancellationToken.None);
        return pending.Done.Task.WaitAsync(ct);
    }

    private async Task DrainAsync()
    {
        while (true)
        {
            List<Pending> batch;
            lock (_gate)
            {
                if (_queue.Count == 0)
                {
                    _draining = false;
                    return;
                }
                batch = _queue;
                _queue = [];
            }
            try
            {
                var opened = await state.OpenForWriteAsync($"agent deliveries and reports ({batch.Count})", CancellationToken.None).ConfigureAwait(false);
                await using (opened.ConfigureAwait(false))
                {
                    var tx = await opened.Store.BeginAsync(CancellationToken.None).ConfigureAwait(false);
                    await using (tx.ConfigureAwait(false))
                    {
                        foreach (var p in batch)
                        {
                            foreach (var a in p.Audit) await opened.Store.AppendAuditAsync(a, CancellationToken.None).ConfigureAwait(false);
                            foreach (var s in p.Sinks) await opened.Store.PutSinkAsync(s, CancellationToken.None).ConfigureAwait(false);
                        }
                        await tx.CommitAsync(CancellationToken.None).ConfigureAwait(false);
                    }
                }
                foreach (var p in batch) p.Done.TrySetResult();
            }
#pragma warning disable CA1031 // every waiter gets the batch's failure; the drain goes on with the next batch
            catch (Exception e)
#pragma warning restore CA1031
            {
                foreach (var p in batch) p.Done.TrySetException(e);
            }
        }
    }
}
