using Keyward.Core.Errors;
using Keyward.Server.Controller;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Keyward.Server.Endpoints;

internal sealed record HealthStatus(string Status);

/// <summary>Why the server is not ready (<c>/readyz</c>): the failed checks, each a sentence without values.</summary>
internal sealed record ReadyStatus(string Status, IReadOnlyList<string> Reasons, DateTimeOffset? LastRun);

/// <summary><c>GET /healthz</c>: the process is alive and answering. <c>GET /readyz</c>: the store opens and the manifest
/// file is valid (200), else 503 with the reasons; a step backing off is reported but does not make it unready.</summary>
internal static class HealthEndpoints
{
    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapGet("/healthz", () => TypedResults.Json(new HealthStatus("ok"), ServerJson.Default.HealthStatus));
        app.MapGet("/readyz", ReadyAsync);
    }

    private static async Task<IResult> ReadyAsync(ServerState state, ControllerStatus status, CancellationToken ct)
    {
        var reasons = new List<string>();
        state.ReloadManifestIfChanged();
        if (state.ManifestErrors.Count > 0)
            reasons.Add($"manifest {state.Options.ManifestPath} is invalid ({(state.Manifest is null ? "no valid manifest loaded" : "serving the last valid one")}): " +
                        string.Join("; ", state.ManifestErrors.Select(e => $"{e.Code.Code} {e.Message}")));
        else if (state.Manifest is null)
            reasons.Add($"manifest {state.Options.ManifestPath} is not loaded");
        try
        {
            await using var opened = await state.OpenForReadAsync(ct).ConfigureAwait(false);
            _ = await opened.Store.GetActiveAsync("", ct).ConfigureAwait(false);
        }
        catch (KeywardException e)
        {
            reasons.Add($"store: {e.First.Code.Code} {e.First.Message}");
        }
        var notes = (status.Backoff?.Snapshot() ?? []).Select(b => $"backing off: {b.Key} ({b.Failures} failure(s)): {b.Reason}");
        return reasons.Count == 0
            ? TypedResults.Json(new ReadyStatus("ready", notes.ToArray(), status.LastRun), ServerJson.Default.ReadyStatus)
            : TypedResults.Json(new ReadyStatus("not-ready", reasons.Concat(notes).ToArray(), status.LastRun), ServerJson.Default.ReadyStatus,
                statusCode: StatusCodes.Status503ServiceUnavailable);
    }
}
