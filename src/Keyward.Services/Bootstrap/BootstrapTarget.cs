using Keyward.Core.Secrets;

namespace Keyward.Services.Bootstrap;

/// <summary>The states of a service whose first API token needs a human (the reference infrastructure's
/// Coder token design, applied to Gitea as well).</summary>
public enum BootstrapState
{
    /// <summary>Not yet known (before the first probe, and no earlier run recorded a state).</summary>
    Unknown,
    /// <summary>Fresh deployment: no first user yet (Coder), or the installer still runs (Gitea).</summary>
    Fresh,
    /// <summary>A user exists but no token is stored or placed.</summary>
    NoToken,
    /// <summary>A token the service accepts is stored (and delivered).</summary>
    Valid,
    /// <summary>The token held is refused (invalid, expired or revoked).</summary>
    Invalid,
}

public static class BootstrapStates
{
    public static string Name(this BootstrapState s) => s switch
    {
        BootstrapState.Fresh => "fresh",
        BootstrapState.NoToken => "no-token",
        BootstrapState.Valid => "valid",
        BootstrapState.Invalid => "invalid",
        _ => "unknown",
    };

    /// <summary>The state named <paramref name="name"/> (as <see cref="Name"/> prints it); Unknown otherwise.</summary>
    public static BootstrapState Parse(string? name) => name switch
    {
        "fresh" => BootstrapState.Fresh,
        "no-token" => BootstrapState.NoToken,
        "valid" => BootstrapState.Valid,
        "invalid" => BootstrapState.Invalid,
        _ => BootstrapState.Unknown,
    };
}

/// <summary>What the readiness probe found: the service answers and is set up, or it answers but is not set up yet.</summary>
public enum ServiceReadiness
{
    Ready,
    /// <summary>Coder without a first user; Gitea while its installer runs.</summary>
    Fresh,
}

/// <summary>The service side of bootstrap (Coder, Gitea): HTTP only, no store, no files.</summary>
public interface IBootstrapTarget
{
    string Service { get; }

    /// <summary>Asks the service whether it is up and set up before anything else is judged (Coder <c>/api/v2/buildinfo</c>
    /// then <c>/api/v2/users/first</c>; Gitea <c>/api/v1/version</c>). Throws KW0901/KW0902/KW0907 while it is not answering.</summary>
    Task<ServiceReadiness> ProbeAsync(CancellationToken cancellationToken);

    Task<TokenValidation> ValidateAsync(Secret token, CancellationToken cancellationToken);

    /// <summary>Creates a token through the API when the manifest gives the admin's password; null otherwise.</summary>
    Task<Secret?> TryCreateTokenAsync(CancellationToken cancellationToken);

    /// <summary>The exact steps a human must take in this state (never containing a secret). <paramref name="placeholderPath"/>
    /// is the file a token goes into.</summary>
    string Instructions(BootstrapState state, string placeholderPath);
}
