using Microsoft.AspNetCore.Builder;

namespace Keyward.Server.Endpoints;

/// <summary>The server's routes, one line per area; each area maps its own routes in a file of its own.</summary>
internal static class ServerEndpoints
{
    public static void Map(WebApplication app)
    {
        // Routing runs first (WebApplication adds it), so the limiter sees each endpoint's RequireRateLimiting policy.
        app.UseRateLimiter();
        HealthEndpoints.Map(app);
        DashboardEndpoints.Map(app);
        MetricsEndpoints.Map(app);
        OperatorApiEndpoints.Map(app);
        CiEndpoints.Map(app);
        GateEndpoints.Map(app);
        AgentEndpoints.Map(app);
    }
}
