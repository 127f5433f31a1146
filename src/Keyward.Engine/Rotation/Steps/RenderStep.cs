using Keyward.Core.Rotation;

namespace Keyward.Engine.Rotation.Steps;

/// <summary><c>re-render</c>, <c>propagate-public-key</c> and <c>retire-public-key</c>: the sink is written again from the
/// values the rotation uses now; after retire-public-key its trust lists no longer carry that key's old half.</summary>
internal sealed class RenderStep : IStepHandler
{
    public async Task ExecuteAsync(JournalPlanStep step, RotationRun run, CancellationToken ct)
    {
        // Retiring drops the old public half of this step's key only: another key rolling over in the same rotation keeps
        // its old half until its own retire step.
        if (step.Action == StepAction.RetirePublicKey) run.RetiringTrust.Add((step.Target, step.Credential));
        await run.WriteSinkAsync(run.Sink(step.Target), retiringTrust: false, ct).ConfigureAwait(false);
    }
}
