using Keyward.Core.Errors;

namespace Keyward.Engine;

/// <summary>What every engine operation needs from its host (CLI today, server later).</summary>
public sealed class EngineOptions
{
    /// <summary>Prefix for every sink path (building disk images, tests); null writes the real paths.</summary>
    public string? Root { get; init; }

    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>The real clock, which sink files' change times are compared with (<see cref="Keyward.Sinks.AtomicFileWriter.Unchanged"/>);
    /// never <see cref="Time"/>, which tests move. A test sets it ahead to make the files it just wrote look old.</summary>
    public TimeProvider FileClock { get; init; } = TimeProvider.System;

    /// <summary>Who is acting, for the audit log (user@host).</summary>
    public string Actor { get; init; } = DefaultActor();

    /// <summary>Environment lookup for external sources (<c>source: { env: NAME }</c>).</summary>
    public Func<string, string?> GetEnv { get; init; } = Environment.GetEnvironmentVariable;

    /// <summary>Receives warnings (never containing values).</summary>
    public Action<KeywardError> Warn { get; init; } = _ => { };

    /// <summary>Progress lines for long operations.</summary>
    public Action<string>? Progress { get; init; }

    /// <summary>Counted steps of long loops; when null each step goes to <see cref="Progress"/> as a line of its own.</summary>
    public Action<ProgressStep>? Steps { get; init; }

    /// <summary>Reports one counted step: to <see cref="Steps"/> when the host counts, else as a line.</summary>
    public void Step(string phase, int done, int total, string item)
    {
        if (Steps is not null) Steps(new ProgressStep(phase, done, total, item));
        else Progress?.Invoke($"[{done}/{total}] {item}");
    }

    /// <summary>Run onChange hooks (off for tests and image builds).</summary>
    public bool RunHooks { get; init; } = true;

    public string? SystemctlPath { get; init; }

    /// <summary>age identity files that open <c>source: { sops: … }</c> files (the host identity of the state directory);
    /// <c>$SOPS_AGE_KEY_FILE</c> and <c>$SOPS_AGE_KEY</c> are tried too, as sops does.</summary>
    public IReadOnlyList<string> SopsIdentityFiles { get; init; } = [];

    /// <summary>Where live Kubernetes Secrets go (<c>kubernetes-secret</c> sinks with <c>live: true</c>): a kubeconfig path,
    /// else $KUBECONFIG, else the in-cluster service account.</summary>
    public string? Kubeconfig { get; init; }

    /// <summary>The cluster client for live Secrets; null builds one from <see cref="Kubeconfig"/> when first needed.</summary>
    public Services.Kubernetes.ILiveSecretClient? LiveSecrets { get; init; }

    public static string DefaultActor() => $"{Environment.UserName}@{Environment.MachineName}";

    public string Rooted(string absolutePath) =>
        Root is null ? absolutePath : Path.Join(Root.AsSpan(), absolutePath.AsSpan().TrimStart('/')); // one string, not two
}
