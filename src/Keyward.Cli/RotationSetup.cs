using Keyward.Core.Errors;
using Keyward.Core.Manifest;
using Keyward.Engine.Rotation;
using Keyward.Store;

namespace Keyward.Cli;

/// <summary>How the CLI runs the rotation executor, for `rotate` and for the rotations `apply` starts when policy says
/// a credential is due: the same services, hooks, fault point and warnings for both (built by the engine's
/// <see cref="RotationHost"/>, which the server uses too).</summary>
internal static class RotationSetup
{
    public static RotationExecutorOptions Options(CliContext context, OpenedState state, KeywardManifest manifest, HttpClient http,
        string? root, bool runHooks, Action<string>? progress, string? kubeconfig = null) => new RotationHost
    {
        Http = http,
        Time = context.Time,
        Actor = Engine.EngineOptions.DefaultActor(),
        Root = root,
        RunHooks = runHooks,
        Kubeconfig = kubeconfig,
        GetEnv = context.Console.GetEnv,
        Faults = context.Faults,
        Progress = progress,
        // Warnings come from steps that went on (a manual step, a hook that failed during a roll-back): `--resume` is not the answer.
        Warn = m => context.Warn(ErrorCodes.RotationStepFailed.With(m, "the rotation went on; do what the message says by hand (`keyward rotate --resume` is only for a rotation that stopped)")),
    }.ExecutorOptions(state, manifest);
}
