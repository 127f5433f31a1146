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
        AddAgents(services);
        RateLimiting.ClientRateLimits.Add(services, options);
    }

    /// <summary>Host agents: one area per server (sessions, status board, long-poll hub) and its gauges.</summary>
    private static void AddAgents(IServiceCollection services)
    {
        services.AddSingleton(sp => new Endpoints.AgentEndpoints.AgentArea(sp.GetRequiredService<ServerState>()));
        services.AddSingleton<IMetricsSource>(sp => sp.GetRequiredService<Endpoints.AgentEndpoints.AgentArea>().Metrics);
    }

    /// <summary>The controller loop, its status, the leader seam and its metrics.</summary>
    private static void AddController(IServiceCollection services, ServeOptions options)
    {
        services.AddSingleton<ControllerStatus>();
        services.AddSingleton<ControllerPass>();
        // Replicas sharing a PostgreSQL store elect a leader with an advisory lock; serves sharing one state directory
        // with a flock on it (see IControllerLeader).
        services.AddSingleton<IControllerLeader>(sp =>
        {
            var state = sp.GetRequiredService<ServerState>();
            void Warn(string message) => options.Warn(Core.Errors.ErrorCodes.ControllerStepFailed.With(message));
            return options.StoreConnection is { } pg
                ? new LockLeader(async ct =>
                {
                    await using var opened = await state.OpenForReadAsync(ct).ConfigureAwait(false);
                    return new Store.Leader.PostgresLeaderLock(pg, opened.Store.StoreId);
                }, Warn)
                : new LockLeader(_ =>
                {
                    // A first serve on a new state directory leads before its first pass creates the state.
                    Directory.CreateDirectory(options.StateDirectory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
                    return Task.FromResult<Store.Leader.ILeaderLock>(new Store.Leader.FileLeaderLock(options.StateDirectory));
                }, Warn);
        });
        services.AddSingleton<IMetricsSource, ControllerMetrics>();
        if (options.RunController) services.AddHostedService<ControllerLoop>();
    }
}
