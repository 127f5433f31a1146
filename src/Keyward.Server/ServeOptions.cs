using Keyward.Core.Errors;

namespace Keyward.Server;

/// <summary>What <c>keyward serve</c> was asked to do. The command line fills it in; tests build it directly.</summary>
public sealed record ServeOptions
{
    /// <summary>The manifest (keyward.yaml); re-read when it changes, the last valid one kept.</summary>
    public required string ManifestPath { get; init; }

    /// <summary>The state directory: identity (and, on the embedded store, the store itself).</summary>
    public required string StateDirectory { get; init; }

    public required ListenAddress Listen { get; init; }

    /// <summary>How often the controller loop runs.</summary>
    public TimeSpan Interval { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>PEM certificate (chain) and unencrypted PEM key; both or neither.</summary>
    public string? TlsCertificatePath { get; init; }
    public string? TlsKeyPath { get; init; }

    /// <summary>Plain HTTP on a non-loopback address, for a TLS-terminating proxy in front.</summary>
    public bool InsecureListen { get; init; }

    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>How trusted OIDC issuers' keys are fetched and cached (CI token exchange).</summary>
    public Services.Oidc.OidcKeyCacheOptions Oidc { get; init; } = new();

    public Func<string, string?> GetEnv { get; init; } = Environment.GetEnvironmentVariable;

    /// <summary>Where warnings go (the CLI prints them with their code).</summary>
    public Action<KeywardError> Warn { get; init; } = _ => { };

    /// <summary>Refuses plain HTTP off loopback (KW1202) and half a TLS configuration (KW1203).</summary>
    public void Validate()
    {
        if ((TlsCertificatePath is null) != (TlsKeyPath is null))
            throw ErrorCodes.TlsFilesInvalid.Exception("give both --tls-cert and --tls-key, or neither");
        if (TlsCertificatePath is null && !InsecureListen && !Listen.IsLoopback)
            throw ErrorCodes.ListenNeedsTls.Exception($"--listen {Listen} is not a loopback address and no TLS certificate was given");
    }
}
