using Keyward.Core.Manifest;
using Keyward.Services.Checks;
using Keyward.Store;

namespace Keyward.Engine.Checks;

/// <summary>One run of every check the manifest implies, as <c>keyward check</c> and the server's loop both run it:
/// the services' checks, the sinks through the engine's inspection (<see cref="SinkVerifier"/>), and the condition
/// history kept in the store (<see cref="StoreCheckState"/>).</summary>
public static class CheckPass
{
    public static async Task<IReadOnlyList<CheckReport>> RunAsync(OpenedState state, KeywardManifest manifest, ServiceClients clients,
        CheckOptions options, EngineOptions engine, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(state);
        using var sinks = new SinkVerifier(state.Store, manifest, engine);
        return await new CheckRunner(manifest, new StoreCheckState(state.Store, state.Directory), clients, options, sinks)
            .RunAsync(cancellationToken).ConfigureAwait(false);
    }
}
