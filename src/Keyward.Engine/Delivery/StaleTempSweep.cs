using Keyward.Core.Manifest;
using Keyward.Sinks.Files;

namespace Keyward.Engine.Delivery;

/// <summary>Every command that writes sinks (apply, rotate, bootstrap) first removes what killed writes of the sinks it
/// owns left behind (<see cref="StaleTempFiles"/>): under the state lock, before it writes anything.</summary>
public static class StaleTempSweep
{
    /// <summary>Sweeps the target (and persisted link) path of every file sink of <paramref name="manifest"/>, under
    /// <see cref="EngineOptions.Root"/>; returns how many stale files were removed.</summary>
    public static int Run(KeywardManifest manifest, EngineOptions options)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        ArgumentNullException.ThrowIfNull(options);
        var paths = new List<string>(manifest.Sinks.Count);
        foreach (var s in manifest.Sinks)
        {
            if (s.Kubernetes?.Live == true) continue;
            paths.Add(s.StoragePath);
            if (s.PersistRoot is not null) paths.Add(s.Path);
        }
        // --root is applied per directory by the sweep (a prefix: the same directory for every path in one).
        return StaleTempFiles.Sweep(paths, options.Root is null ? null : options.Rooted);
    }
}
