using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Keyward.Server.Endpoints;

internal sealed record HealthStatus(string Status);

/// <summary><c>GET /healthz</c>: the process is alive and answering.</summary>
internal static class HealthEndpoints
{
    public static void Map(IEndpointRouteBuilder app) =>
        app.MapGet("/healthz", () => TypedResults.Json(new HealthStatus("ok"), ServerJson.Default.HealthStatus));
}
