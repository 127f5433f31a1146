using Keyward.Core.Errors;
using Keyward.Core.Manifest;
using Keyward.Engine.Rotation;
using Keyward.Sinks.Hooks;
using Keyward.Store;

namespace Keyward.Cli;

/// <summary>How the CLI runs the rotation executor, for `rotate` and for the rotations `apply` starts when policy says
/// a credential is due: the same services, hooks, fault point and warnings for both.</summary>
internal static class RotationSetup
{
    public static RotationExecutorOptions Options(CliContext context, OpenedState state, KeywardManifest manifest, HttpClient http,
        string? root, bool runHooks, Action<string>? progress, string? kubeconfig = null) => new()
    {
        Kubeconfig = kubeconfig,
        Manifest = manifest,
        Root = root,
        Time = context.Time,
        // Cache-key rollovers switch the live cache's keypair (phase two) and check its public key.
        Services = new AtticServicePlane(state.Store, manifest, new Services.Checks.ServiceClients(http, Services.Http.ServiceHttpOptions.Default, context.Time)),
        // Coder admin tokens: the next one is created through the API with the current one; the old one is deleted.
        ServiceTokens = new CoderTokenRotator(state.Store, manifest, new Services.Checks.ServiceClients(http, Services.Http.ServiceHttpOptions.Default, context.Time),
            context.Time, Engine.EngineOptions.DefaultActor()),
        // Under --root the files belong to another system: its units are not ours to restart.
        RunHook = runHooks && root is null ? new HookRunner(getEnv: context.Console.GetEnv).RunAsync
            : (_, _) => Task.FromResult(new HookResult(true, null, root is null ? "hooks disabled" : "skipped under --root")),
        Faults = context.Faults,
        GetEnv = context.Console.GetEnv,
        SopsIdentityFiles = [state.IdentityPath],
        Progress = progress,
        // Warnings come from steps that went on (a manual step, a hook that failed during a roll-back): `--resume` is not the answer.
        Warn = m => context.Warn(ErrorCodes.RotationStepFailed.With(m, "the rotation went on; do what the message says by hand (`keyward rotate --resume` is only for a rotation that stopped)")),
    };
}
