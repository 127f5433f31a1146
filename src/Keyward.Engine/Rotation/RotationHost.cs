using Keyward.Core.Manifest;
using Keyward.Engine.Checks;
using Keyward.Services;
using Keyward.Sinks.Hooks;
using Keyward.Store;

namespace Keyward.Engine.Rotation;

/// <summary>What a front end (the CLI, the server) supplies to run the rotation executor: its clock, actor, hooks,
/// warnings and the one HTTP client for the services.</summary>
public sealed record RotationHost
{
    public required HttpClient Http { get; init; }

    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>Who rotates, for the audit log.</summary>
    public string Actor { get; init; } = EngineOptions.DefaultActor();

    public string? Root { get; init; }

    public bool RunHooks { get; init; } = true;

    public string? Kubeconfig { get; init; }

    public Func<string, string?> GetEnv { get; init; } = Environment.GetEnvironmentVariable;

    public IFaultInjector Faults { get; init; } = NoFaults.Instance;

    public Action<string>? Progress { get; init; }

    /// <summary>Warnings from steps that went on (a manual step, a hook that failed during a roll-back).</summary>
    public Action<string>? Warn { get; init; }

    /// <summary>The executor's options for <paramref name="state"/> and <paramref name="manifest"/>: the same services,
    /// hooks and fault point for <c>keyward rotate</c>, the rotations <c>apply</c> starts, and the server's loop.</summary>
    public RotationExecutorOptions ExecutorOptions(OpenedState state, KeywardManifest manifest)
    {
        ArgumentNullException.ThrowIfNull(state);
        var clients = new ServiceClients(Http, Services.Http.ServiceHttpOptions.Default, Time);
        return new RotationExecutorOptions
        {
            Kubeconfig = Kubeconfig,
            Manifest = manifest,
            Root = Root,
            Time = Time,
            Actor = Actor,
            // Cache-key rollovers switch the live cache's keypair (phase two) and check its public key.
            Services = new AtticServicePlane(state.Store, manifest, clients, Actor),
            // Service tokens: Coder's next one is created through the API with the current one, Gitea's with the admin's
            // password (Basic auth); the old one is deleted.
            ServiceTokens = new ServiceTokenRotators(
                new CoderTokenRotator(state.Store, manifest, clients, Time, Actor),
                new GiteaTokenRotator(state.Store, manifest, clients, Time, Actor)),
            // Under --root the files belong to another system: its units are not ours to restart.
            RunHook = RunHooks && Root is null ? new HookRunner(getEnv: GetEnv).RunAsync
                : (_, _) => Task.FromResult(new HookResult(true, null, Root is null ? "hooks disabled" : "skipped under --root")),
            Faults = Faults,
            GetEnv = GetEnv,
            SopsIdentityFiles = [state.IdentityPath],
            Progress = Progress,
            Warn = Warn,
        };
    }
}
