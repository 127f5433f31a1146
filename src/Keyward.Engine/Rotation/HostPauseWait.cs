using Keyward.Core.Errors;
using Keyward.Core.Manifest;
using Keyward.Core.Time;
using Keyward.Store;
using Keyward.Core.Store;

namespace Keyward.Engine.Rotation;

/// <summary>What <see cref="HostPauseWait"/> needs from its front end (<c>keyward rotate</c>, serve's controller).</summary>
public sealed record HostPauseWaitOptions
{
    public required KeywardManifest Manifest { get; init; }

    public required TimeProvider Time { get; init; }

    /// <summary>Opens the state without the lock: the waits read the hosts' confirmations through it.</summary>
    public required Func<CancellationToken, Task<OpenedState>> OpenRead { get; init; }

    /// <summary>Runs the given resume under the state lock with an executor of the front end's (its services, hooks and
    /// output); the front end chooses the token the resume runs under.</summary>
    public required Func<Func<RotationExecutor, CancellationToken, Task<RotationOutcome>>, Task<RotationOutcome>> UnderLock { get; init; }

    /// <summary><c>--host-deadline</c>: every pause waits this long; null: the credentials' <c>rotation.hostDeadline</c>
    /// (<see cref="HostDeadlines.ForOpenRotationAsync"/>).</summary>
    public HumanDuration? Deadline { get; init; }

    /// <summary><c>--continue</c>: a resume may run phase two.</summary>
    public bool ContinuePhaseTwo { get; init; }

    /// <summary>Hears what is worth telling the person or the log (the journal was closed by another writer).</summary>
    public Action<string>? Note { get; init; }
}

/// <summary>
/// What happens when a rotation run pauses for hosts (<see cref="RotationState.AwaitingHosts"/>), the same for
/// <c>keyward rotate</c> and for the rotations serve's controller runs (policy rotations, renewals through the executor,
/// an autoContinue phase two, a resumed journal): wait <em>without</em> the state lock (the server needs it to hand the
/// agents their new files and to record their confirmations) until every awaited host has confirmed
/// (<see cref="RotationExecutor.WaitForHostsAsync"/>, back-off 1 s to 15 s), then resume the journal under the lock —
/// pause after pause, until the run ends; or, when a pause's deadline passes first, stop with KW0815 naming the hosts.
/// The journal then stays open in <c>awaiting-hosts</c> and the old version stays valid: <c>keyward rotate --resume</c>,
/// or the controller's next passes, check again later.
/// </summary>
public sealed class HostPauseWait(HostPauseWaitOptions options)
{
    /// <summary>Waits at <paramref name="outcome"/>'s pause and every later one; returns the outcome that is no pause.</summary>
    /// <param name="firstUntil">When the first pause's wait ends; null: its deadline from now (as each later pause's).
    /// The controller passes the pause's start plus its deadline, so a restarted server does not wait the deadline again.</param>
    /// <exception cref="KeywardException">KW0815 when a pause's deadline passed with hosts still missing.</exception>
    public async Task<RotationOutcome> RunAsync(RotationOutcome outcome, DateTimeOffset? firstUntil, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(outcome);
        while (outcome.State == RotationState.AwaitingHosts)
        {
            var deadline = options.Deadline ?? await DeadlineAsync(cancellationToken).ConfigureAwait(false);
            var until = firstUntil ?? options.Time.GetUtcNow() + deadline.Value;
            firstUntil = null;
            var missing = await RotationExecutor.WaitForHostsAsync(options.OpenRead, options.Manifest, until, options.Time, cancellationToken).ConfigureAwait(false);
            if (missing.Count > 0)
                throw ErrorCodes.RotationAwaitingHosts.Exception(
                    $"rotation journal {outcome.JournalId} is paused: host(s) {string.Join(", ", missing.Select(g => g.ToString()))} did not confirm the new version within {deadline}");
            var journalId = outcome.JournalId;
            outcome = await options.UnderLock(async (executor, ct) =>
            {
                if (await executor.OpenRotationAsync(ct).ConfigureAwait(false) is { } open && open.Id == journalId)
                    return await executor.ResumeAsync(options.ContinuePhaseTwo, ct).ConfigureAwait(false);
                var note = $"rotation journal {journalId} was closed meanwhile by another writer (`keyward rotate`, or `keyward serve`'s controller, resumes it too): see `keyward audit`";
                options.Note?.Invoke(note);
                return new RotationOutcome(journalId, RotationState.Committed, null, [note]);
            }).ConfigureAwait(false);
        }
        return outcome;
    }

    private async Task<HumanDuration> DeadlineAsync(CancellationToken ct)
    {
        var state = await options.OpenRead(ct).ConfigureAwait(false);
        await using (state.ConfigureAwait(false))
            return await HostDeadlines.ForOpenRotationAsync(state.Store, options.Manifest, ct).ConfigureAwait(false);
    }

    /// <summary>The open rotation's pause for hosts: its journal, when it began (the journal's latest <c>waiting</c> step)
    /// and its deadline (<see cref="HostDeadlines.ForOpenRotationAsync"/>); null when no rotation waits for hosts.</summary>
    public static async Task<HostPause?> OfOpenRotationAsync(ICredentialStore store, KeywardManifest manifest, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(store);
        var open = (await store.OpenJournalsAsync(ct).ConfigureAwait(false)).FirstOrDefault(j => j.Operation == RotationStatus.Operation);
        if (open is not { Status: RotationStatus.AwaitingHosts }) return null;
        var since = open.Steps.Where(s => s.Status == RotationStatus.Waiting).Select(s => s.At).DefaultIfEmpty(open.StartedAt).Max();
        IReadOnlyList<string> names;
        try
        {
            names = JournalIntent.Parse(open.Intent).Names;
        }
        catch (System.Text.Json.JsonException)
        {
            return null; // the executor reports an unreadable journal (KW0814) when it resumes it
        }
        var deadline = await HostDeadlines.ForOpenRotationAsync(store, manifest, ct).ConfigureAwait(false);
        return new HostPause(open.Id, names, since, deadline);
    }
}

/// <summary>An open rotation paused for hosts since <see cref="Since"/>; its wait ends at <see cref="Until"/>.</summary>
public sealed record HostPause(long JournalId, IReadOnlyList<string> Credentials, DateTimeOffset Since, HumanDuration Deadline)
{
    public DateTimeOffset Until => Since + Deadline.Value;
}
