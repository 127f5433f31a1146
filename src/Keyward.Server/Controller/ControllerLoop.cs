using Keyward.Core.Errors;
using Microsoft.Extensions.Hosting;

namespace Keyward.Server.Controller;

/// <summary>
/// The controller loop: a pass every <see cref="ServeOptions.Interval"/>, and at once when the manifest file changes
/// (its stamp is looked at every <see cref="ServeOptions.ManifestPoll"/>), on the replica that leads
/// (<see cref="IControllerLeader"/>). Waits come from the server's <see cref="TimeProvider"/>. On shutdown the pass
/// in progress finishes its current step (see <see cref="ControllerPass"/>); then the loop resigns and returns.
/// </summary>
public sealed class ControllerLoop(ControllerPass pass, ServerState state, IControllerLeader leader) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // Let the host finish starting (Kestrel listening) before the first pass.
        await Task.Yield();
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                var started = state.Time.GetUtcNow();
                try
                {
                    if (await leader.TryLeadAsync(stoppingToken).ConfigureAwait(false))
                        await pass.RunAsync(stoppingToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
                {
                    break;
                }
#pragma warning disable CA1031 // the loop must outlive any one pass: report and go on
                catch (Exception e)
#pragma warning restore CA1031
                {
                    state.Options.Warn(ErrorCodes.ControllerStepFailed.With($"controller pass: {e.GetType().Name}: {e.Message}"));
                }
                await WaitForNextPassAsync(started, stoppingToken).ConfigureAwait(false);
            }
        }
        finally
        {
            await leader.ResignAsync(CancellationToken.None).ConfigureAwait(false);
        }
    }

    /// <summary>Sleeps until an interval after <paramref name="started"/>, or until the manifest file changed, or shutdown.</summary>
    private async Task WaitForNextPassAsync(DateTimeOffset started, CancellationToken stoppingToken)
    {
        var due = started + state.Options.Interval;
        while (!stoppingToken.IsCancellationRequested)
        {
            var left = due - state.Time.GetUtcNow();
            if (left <= TimeSpan.Zero) return;
            var step = left < state.Options.ManifestPoll ? left : state.Options.ManifestPoll;
            try
            {
                await Task.Delay(step, state.Time, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            if (state.ManifestFileChanged()) return;
        }
    }
}
