using Keyward.Server.Controller;
using Keyward.Server.Metrics;
using Microsoft.Extensions.DependencyInjection;

namespace Keyward.Server;

/// <summary>Each server area's services, one line per area (like <see cref="Endpoints.ServerEndpoints"/>). An area adds
/// its metrics with <c>services.AddSingleton&lt;IMetricsSource, TheirMetrics&gt;()</c> in its own method.</summary>
internal static class ServerServices
{
    public static void Add(IServiceCollection services, ServeOptions options)
    {
        AddController(services, options);
    }

    /// <summary>The controller loop, its status, the leader seam and its metrics.</summary>
    private static void AddController(IServiceCollection services, ServeOptions options)
    {
        services.AddSingleton<ControllerStatus>();
        services.AddSingleton<ControllerPass>();
        // One replica on the embedded store always leads; a shared store registers its lock instead (see IControllerLeader).
        services.AddSingleton<IControllerLeader, SingleReplicaLeader>();
        services.AddSingleton<IMetricsSource, ControllerMetrics>();
        if (options.RunController) services.AddHostedService<ControllerLoop>();
    }
}
