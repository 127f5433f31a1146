using Keyward.Core.Errors;
using Keyward.Core.Graph;

namespace Keyward.Engine.Rotation.Steps;

/// <summary><c>restart</c>, <c>reload</c> and <c>run</c>: a sink's <c>onChange</c> hook; a failing hook fails the step.</summary>
internal sealed class HookStep : IStepHandler
{
    public async Task ExecuteAsync(JournalPlanStep step, RotationRun run, CancellationToken ct)
    {
        var hook = run.Manifest.Sinks.SelectMany(s => s.OnChange).FirstOrDefault(h => GraphBuilder.HookName(h) == step.Target)
            ?? throw ErrorCodes.JournalCorrupt.Exception($"the journal names hook '{step.Target}', which the manifest no longer declares");
        var r = await run.Options.RunHook(hook, ct).ConfigureAwait(false);
        if (!r.Success) throw ErrorCodes.RotationStepFailed.Exception($"hook '{step.Target}' failed: {r.Message}");
    }
}
