using Keyward.Core.Rotation;

namespace Keyward.Engine.Rotation.Steps;

/// <summary>The effect of one kind of journal step. Every handler is idempotent: the executor journals a step as
/// <c>started</c> before calling it and <c>done</c> after, and <c>--resume</c> calls it again when a run stopped between
/// the two, so a second call must find its work done and leave it as it is.</summary>
internal interface IStepHandler
{
    Task ExecuteAsync(JournalPlanStep step, RotationRun run, CancellationToken ct);
}

/// <summary>Which handler runs which <see cref="StepAction"/>: one handler per kind of step.</summary>
internal static class StepHandlers
{
    private static readonly IStepHandler Stage = new StageStep();
    private static readonly IStepHandler Render = new RenderStep();
    private static readonly IStepHandler Hook = new HookStep();
    private static readonly IStepHandler Verify = new VerifyStep();
    private static readonly IStepHandler SwitchSigning = new SwitchSigningStep();
    private static readonly IStepHandler Activate = new ActivateStep();
    private static readonly IStepHandler Deliver = new DeliverStep();
    private static readonly IStepHandler Retire = new RetireStep();
    private static readonly IStepHandler Revoke = new RevokeStep();

    public static IStepHandler For(StepAction action) => action switch
    {
        StepAction.Stage or StepAction.ReMint or StepAction.ReImport => Stage,
        StepAction.ReRender or StepAction.PropagatePublicKey or StepAction.RetirePublicKey => Render,
        StepAction.Restart or StepAction.Reload or StepAction.Run => Hook,
        StepAction.Verify => Verify,
        StepAction.SwitchSigning => SwitchSigning,
        StepAction.Activate => Activate,
        StepAction.Deliver => Deliver,
        StepAction.Retire => Retire,
        StepAction.Revoke => Revoke,
        _ => throw new InvalidOperationException($"unknown step action {action}"),
    };
}
