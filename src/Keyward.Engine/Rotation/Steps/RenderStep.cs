using Keyward.Core.Rotation;

namespace Keyward.Engine.Rotation.Steps;

/// <summary><c>re-render</c>, <c>propagate-public-key</c> and <c>retire-public-key</c>: the sink is written again from the
/// values the rotation uses now; after retire-public-key its trust lists no longer carry the old key.</summary>
internal sealed class RenderStep : IStepHandler
{
    public async Task ExecuteAsync(JournalPlanStep step, RotationRun run, CancellationToken ct)
    {
        var retiring = step.Action == StepAction.RetirePublicKey;
        if (retiring) run.RetiringTrust.Add(step.Target);
        await run.WriteSinkAsync(run.Sink(step.Target), retiring, ct).ConfigureAwait(false);
    }
}
