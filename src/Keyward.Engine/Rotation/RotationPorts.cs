using Keyward.Core.Manifest;
using Keyward.Sinks;
using Keyward.Sinks.Hooks;

namespace Keyward.Engine.Rotation;

/// <summary>A test-only crash point. The executor calls <see cref="At"/> at every journal step, before and after the
/// step's effect (<c>step-N-before</c>, <c>step-N-after</c>, <c>abort-before-render</c>...). Inert unless configured.</summary>
public interface IFaultInjector
{
    void At(string point);
}

/// <summary>Reads <c>KEYWARD_FAULT_AT=&lt;point&gt;</c> (compiled in, inert unless set): throwing there imitates a crash.</summary>
public sealed class EnvironmentFaultInjector(Func<string, string?> getEnv) : IFaultInjector
{
    public const string Variable = "KEYWARD_FAULT_AT";

    public void At(string point)
    {
        if (string.Equals(getEnv(Variable), point, StringComparison.Ordinal))
            throw new InjectedFaultException(point);
    }
}

/// <summary>The simulated crash. Never caught by the executor: it must leave the state exactly as a killed process would.</summary>
public sealed class InjectedFaultException : Exception
{
    public InjectedFaultException(string point) : base($"injected fault at {point}") => Point = point;
    public InjectedFaultException() { Point = ""; }
    public InjectedFaultException(string message, Exception inner) : base(message, inner) { Point = ""; }

    public string Point { get; } = "";
}

/// <summary>Live-service side of a rotation (the services area implements it): checks such as "attic accepts the token",
/// and switching a cache's signing keypair. Without one, those steps are reported as manual.</summary>
public interface IRotationServicePlane
{
    /// <summary>Runs a graph check (<c>live NAME</c>, <c>cache-key SERVICE/CACHE</c>) or verifies a service; null when it cannot tell.</summary>
    Task<string?> VerifyAsync(string checkOrService, CancellationToken cancellationToken);

    /// <summary>Sets the cache signing keypair of every cache of <paramref name="service"/> that uses <paramref name="credential"/>.</summary>
    Task SwitchCacheKeyAsync(Service service, string credential, Keyward.Core.Secrets.Secret nixSecretKey, CancellationToken cancellationToken);
}

public sealed class RotationExecutorOptions
{
    public required KeywardManifest Manifest { get; init; }

    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>Prefix for every sink path, as <c>apply --root</c>.</summary>
    public string? Root { get; init; }

    /// <summary>Who rotates (audit actor).</summary>
    public string Actor { get; init; } = Environment.UserName + "@" + Environment.MachineName;

    public IFaultInjector Faults { get; init; } = new EnvironmentFaultInjector(Environment.GetEnvironmentVariable);

    /// <summary>Runs a sink hook; default: <see cref="HookRunner"/>.</summary>
    public Func<Hook, CancellationToken, Task<HookResult>> RunHook { get; init; } = new HookRunner().RunAsync;

    public IRotationServicePlane? Services { get; init; }

    /// <summary>Environment for re-importing <c>env</c>-sourced external credentials.</summary>
    public Func<string, string?> GetEnv { get; init; } = Environment.GetEnvironmentVariable;

    /// <summary>age identity files for re-importing <c>sops</c>-sourced external credentials (the host identity).</summary>
    public IReadOnlyList<string> SopsIdentityFiles { get; init; } = [];

    /// <summary>Receives one line per step (names and fingerprints only).</summary>
    public Action<string>? Progress { get; init; }

    public Action<string>? Warn { get; init; }
}
