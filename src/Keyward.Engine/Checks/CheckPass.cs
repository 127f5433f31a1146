using Keyward.Engine;
using Keyward.Engine.Delivery;
using Keyward.Core.Manifest;
using Keyward.Services;
using Keyward.Store;
using Keyward.Core.Store;

namespace Keyward.Engine.Checks;

/// <summary>One run of every check the manifest implies, as <c>keyward check</c> and the server's loop both run it:
/// the services' checks, the sinks through the engine's inspection (<see cref="SinkVerifier"/>), each host through its agent's
/// confirmations (<see cref="HostVerifier"/>), and the condition
/// history kept in the store (<see cref="StoreCheckState"/>). The store's version list is read once per run and shared
/// by the credential checks, the sink checks' trust lists and the saving of the conditions.</summary>
public static class CheckPass
{
    public static async Task<IReadOnlyList<CheckReport>> RunAsync(OpenedState state, KeywardManifest manifest, ServiceClients clients,
        CheckOptions options, EngineOptions engine, CancellationToken cancellationToken) =>
        (await RunWithActiveAsync(state, manifest, clients, options, engine, cancellationToken).ConfigureAwait(false)).Reports;

    /// <summary>The reports, and the active versions the run saw (with the condition history it saved).</summary>
    /// <param name="routineUses">For a loop that checks again and again (<c>keyward serve</c>): which uses of stored tokens
    /// to audit (<see cref="RoutineUseFilter"/>). Null (<c>keyward check</c>): every use is audited.</param>
    /// <param name="planned">What the plan of the same controller pass found of the sinks, when the pass changed nothing
    /// (<see cref="SinkVerifier"/> proves each answer still holds before using it); null inspects every sink.</param>
    /// <param name="history">For a loop: the parse of conditions.json kept from its last run, taken while the file holds the
    /// same bytes (<see cref="ConditionHistoryCache"/>); null parses it.</param>
    public static async Task<CheckPassResult> RunWithActiveAsync(OpenedState state, KeywardManifest manifest, ServiceClients clients,
        CheckOptions options, EngineOptions engine, CancellationToken cancellationToken, RoutineUseFilter? routineUses = null,
        PlannedInspections? planned = null, ConditionHistoryCache? history = null)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(engine);
        ArgumentNullException.ThrowIfNull(clients);
        var memory = new StoreCheckState(state.Store, state.Directory, engine.Actor, clients.Time) { Planned = planned, History = history };
        using var sinks = new SinkVerifier(state.Store, manifest, engine, memory.VersionsAsync, planned);
        var hosts = new HostVerifier(state.Store, manifest, clients.Time);
        ICheckState checkState = routineUses is null ? memory : new RoutineCheckState(memory, routineUses);
        var reports = await new CheckRunner(manifest, checkState, clients, options, sinks, hosts).RunAsync(cancellationToken).ConfigureAwait(false);
        return new CheckPassResult(reports, memory.Saved ?? []) { SinksReused = sinks.Reused };
    }
}

/// <summary>What one check run found, and the active versions it found them on.</summary>
public sealed record CheckPassResult(IReadOnlyList<CheckReport> Reports, IReadOnlyList<CredentialVersion> Active)
{
    /// <summary>Sinks whose plan-time inspection was proved to still hold instead of being inspected again.</summary>
    public int SinksReused { get; init; }
}
