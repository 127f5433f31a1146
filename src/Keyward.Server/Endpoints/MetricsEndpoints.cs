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
        app.MapGet("/metrics", (HttpContext http) =>
            TypedResults.Text(MetricsWriter.Render(http.RequestServices.GetServices<IMetricsSource>()), MetricsWriter.ContentType));
}
