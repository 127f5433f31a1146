using Keyward.Core.Errors;

namespace Keyward.Engine.Rotation.Steps;

/// <summary><c>switch-signing</c> (phase two of a cache-key rollover): every cache of the service that uses the key signs
/// with the new keypair from now on. Without a service adapter the operator is told to do it by hand.</summary>
internal sealed class SwitchSigningStep : IStepHandler
{
    public async Task ExecuteAsync(JournalPlanStep step, RotationRun run, CancellationToken ct)
    {
        var service = run.Manifest.Services.FirstOrDefault(s => s.Name == step.Target);
        var cred = step.Credential!;
        if (service is null || run.Options.Services is null)
        {
            run.Warn($"set the signing keypair of the caches of '{step.Target}' that use '{cred}' by hand (no service adapter); the new key is `keyward get {cred}`");
            return;
        }
        var nv = await run.NewVersionAsync(cred, ct).ConfigureAwait(false)
            ?? throw ErrorCodes.RotationStepFailed.Exception($"no new version of '{cred}' to switch to");
        using var value = await run.Store.RevealAsync(cred, nv.Version, ct).ConfigureAwait(false);
        await run.Options.Services.SwitchCacheKeyAsync(service, cred, value, ct).ConfigureAwait(false);
    }
}
