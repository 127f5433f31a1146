using Keyward.Core.Errors;
using Keyward.Core.Graph;
using Keyward.Core.Manifest;
using Keyward.Core.Rotation;
using Keyward.Engine.Agent;
using Keyward.Core.Store;

namespace Keyward.Engine.Rotation.Steps;

/// <summary>
/// <c>deliver</c>: a host's agent has confirmed every sink of that host the rotation's phase touches, as the server renders
/// it now. The executor asks <see cref="GapsAsync"/> before journalling the step and pauses the rotation while hosts are
/// missing; the step itself checks again under its journal entry and audits each confirmed sink.
/// </summary>
internal sealed class DeliverStep : IStepHandler
{
    public async Task ExecuteAsync(JournalPlanStep step, RotationRun run, CancellationToken ct)
    {
        var sinks = SinksAwaited(run.Manifest, run.Journal, step);
        var gaps = await HostConfirmations.GapsAsync(run.Store, run.Manifest, [(step.Target, sinks)], run.Now, ct).ConfigureAwait(false);
        if (gaps.Count > 0)
            throw ErrorCodes.RotationAwaitingHosts.Exception($"host {gaps[0]} has not confirmed the new version");
        if (run.Manifest.FindHost(step.Target) is null)
        {
            run.Progress($"     host {step.Target} is no longer declared: not waited for");
            return;
        }
        foreach (var sink in sinks)
            await run.AuditAsync("host-confirmed", sink, null, null, $"the agent on host {step.Target} confirmed what the server renders now", ct).ConfigureAwait(false);
    }

    /// <summary>The sinks of <paramref name="deliver"/>'s host that the journal's steps of the same phase touch.</summary>
    private static List<string> SinksAwaited(KeywardManifest manifest, JournalIntent journal, JournalPlanStep deliver)
    {
        var mine = manifest.SinksOfHost(deliver.Target).Select(s => s.Name).ToHashSet(StringComparer.Ordinal);
        return [.. journal.Steps.Where(s => s.Kind == NodeKind.Sink && s.Phase == deliver.Phase && mine.Contains(s.Target)).Select(s => s.Target).Distinct(StringComparer.Ordinal)];
    }

    /// <summary>The hosts of the run of deliver steps starting at <paramref name="first"/> (not yet done) that have not
    /// confirmed their sinks: every host that misses is named, not only the first.</summary>
    public static Task<IReadOnlyList<HostGap>> GapsAsync(ICredentialStore store, KeywardManifest manifest, JournalIntent journal, HashSet<int> done,
        JournalPlanStep first, DateTimeOffset now, CancellationToken ct)
    {
        var block = journal.Steps.Where(s => s.Order >= first.Order).OrderBy(s => s.Order).TakeWhile(s => s.Action == StepAction.Deliver)
            .Where(s => !done.Contains(s.Order));
        return HostConfirmations.GapsAsync(store, manifest, block.Select(s => (s.Target, (IReadOnlyCollection<string>)SinksAwaited(manifest, journal, s))).ToList(), now, ct);
    }
}
