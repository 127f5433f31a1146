using Keyward.Core.Manifest;
using Keyward.Sinks;
using Keyward.Sinks.Hooks;

namespace Keyward.Engine.Rotation;

/// <summary>A test-only crash point. The executor calls <see cref="At"/> at every journal step, before and after the
/// step's effect (<c>step-N-before</c>, <c>step-N-after</c>, <c>abort-before-render</c>...). Production passes
/// <see cref="NoFaults"/>; tests pass one that throws <see cref="InjectedFaultException"/> at a chosen point.</summary>
public interface IFaultInjector
{
    void At(string point);
}

/// <summary>The production injector: does nothing. Crash points are set only by tests, in process (an
/// <see cref="IFaultInjector"/> passed in code); no environment variable or file can make a shipped binary stop at one.</summary>
public sealed class NoFaults : IFaultInjector
{
    public static NoFaults Instance { get; } = new();

    public void At(string point)
    {
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
    /// <summary>Runs a graph check (<c>live NAME</c>, <c>cache-key SERVICE/CACHE</c>) or verifies a service against the values the
    /// rotation uses now (<paramref name="current"/>: the staged version of what it re-minted, the active one otherwise).
    /// Null when the plane has nothing to ask for that target.</summary>
    Task<ServiceVerdict?> VerifyAsync(string checkOrService, CurrentValues current, CancellationToken cancellationToken);

    /// <summary>Sets the cache signing keypair of every cache of <paramref name="service"/> that uses <paramref name="credential"/>.</summary>
    Task SwitchCacheKeyAsync(Service service, string credential, Keyward.Core.Secrets.Secret nixSecretKey, CancellationToken cancellationToken);
}

/// <summary>The value and version of a credential as the rotation uses it now; null when it has none.</summary>
public delegate Task<(Keyward.Core.Secrets.Secret Value, Keyward.Core.Store.CredentialVersion Version)?> CurrentValues(string credential, CancellationToken cancellationToken);

public enum VerdictStatus
{
    Verified,
    /// <summary>The service answered and refused: the rotation must not go on.</summary>
    Failed,
    /// <summary>The service could not be asked (unreachable, timed out): reported, the rotation goes on.</summary>
    Unverified,
}

/// <summary>What a verify step learned from a live service, in a sentence without values.</summary>
public sealed record ServiceVerdict(VerdictStatus Status, string Message);

public sealed class RotationExecutorOptions
{
    public required KeywardManifest Manifest { get; init; }

    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>Prefix for every sink path, as <c>apply --root</c>.</summary>
    public string? Root { get; init; }

    /// <summary>Who rotates (audit actor).</summary>
    public string Actor { get; init; } = Environment.UserName + "@" + Environment.MachineName;

    public IFaultInjector Faults { get; init; } = NoFaults.Instance;

    /// <summary>Runs a sink hook; default: <see cref="HookRunner"/>.</summary>
    public Func<Hook, CancellationToken, Task<HookResult>> RunHook { get; init; } = new HookRunner().RunAsync;

    public IRotationServicePlane? Services { get; init; }

    /// <summary>kubeconfig for live kubernetes-secret sinks the rotation re-renders (as <c>apply --kubeconfig</c>).</summary>
    public string? Kubeconfig { get; init; }

    /// <summary>The cluster client for live Secrets; null builds one from <see cref="Kubeconfig"/> when first needed.</summary>
    public Keyward.Services.Kubernetes.ILiveSecretClient? LiveSecrets { get; init; }

    /// <summary>External tokens whose service re-issues them (Coder): created with the current token, old one deleted.</summary>
    public IServiceTokenRotator? ServiceTokens { get; init; }

    /// <summary>Environment for re-importing <c>env</c>-sourced external credentials.</summary>
    public Func<string, string?> GetEnv { get; init; } = Environment.GetEnvironmentVariable;

    /// <summary>age identity files for re-importing <c>sops</c>-sourced external credentials (the host identity).</summary>
    public IReadOnlyList<string> SopsIdentityFiles { get; init; } = [];

    /// <summary>Receives one line per step (names and fingerprints only).</summary>
    public Action<string>? Progress { get; init; }

    public Action<string>? Warn { get; init; }
}
