using Keyward.Server.Metrics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Keyward.Server.Endpoints;

/// <summary><c>GET /metrics</c>: every registered <see cref="IMetricsSource"/>, in the Prometheus text format.</summary>
internal static class MetricsEndpoints
{
    public static void Map(IEndpointRouteBuilder app) =>
        app.MapGet("/metrics", async (HttpContext http) =>
        {
            // The UTF-8 pieces straight to the socket: the per-credential families were rendered once per pass and
            // encoded once; a scrape no longer joins and re-encodes them (3 MB at 10,000 credentials).
            var pieces = MetricsWriter.RenderUtf8(http.RequestServices.GetServices<IMetricsSource>());
            http.Response.StatusCode = StatusCodes.Status200OK;
            http.Response.ContentType = MetricsWriter.ContentType;
            http.Response.ContentLength = pieces.Sum(p => (long)p.Length);
            foreach (var piece in pieces) await http.Response.Body.WriteAsync(piece, http.RequestAborted).ConfigureAwait(false);
        });
}
