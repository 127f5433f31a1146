using Keyward.Core.Manifest;
using Keyward.Sinks.Files;

namespace Keyward.Engine.Delivery;

/// <summary>Every command that writes sinks (apply, rotate, bootstrap) first removes what killed writes of the sinks it
/// owns left behind (<see cref="StaleTempFiles"/>): under the state lock, before it writes anything.</summary>
public static class StaleTempSweep
{
    /// <summary>Sweeps the target (and persisted link) path of every file sink of <paramref name="manifest"/>, under
    /// <see cref="EngineOptions.Root"/>; returns how many stale files were removed.</summary>
    public static int Run(KeywardManifest manifest, EngineOptions options) =>
        StaleTempFiles.Sweep(manifest.Sinks.Where(s => s.Kubernetes?.Live != true).SelectMany(s =>
            s.PersistRoot is null ? [options.Rooted(s.StoragePath)] : new[] { options.Rooted(s.StoragePath), options.Rooted(s.Path) }));
}
