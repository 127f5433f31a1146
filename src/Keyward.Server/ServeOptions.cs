using Keyward.Core.Errors;

namespace Keyward.Server;

/// <summary>What <c>keyward serve</c> was asked to do. The command line fills it in; tests build it directly.</summary>
public sealed record ServeOptions
{
    /// <summary>The manifest (keyward.yaml); re-read when it changes, the last valid one kept.</summary>
    public required string ManifestPath { get; init; }

    /// <summary>The state directory: identity (and, on the embedded store, the store itself).</summary>
    public required string StateDirectory { get; init; }

    /// <summary>Where to listen (<c>--listen</c>, repeatable): TCP addresses and Unix sockets, at least one.</summary>
    public required IReadOnlyList<ListenAddress> Listen { get; init; }

    /// <summary>The mode of every Unix socket (<c>--socket-mode</c>). connect(2) needs write permission, so 0660 lets
    /// the service's user and group in (put nginx in that group) and no other local user.</summary>
    public UnixFileMode SocketMode { get; init; } = DefaultSocketMode;

    public const UnixFileMode DefaultSocketMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite;

    /// <summary>The rows in PostgreSQL (<c>--store</c>); null: the embedded SQLite store in <see cref="StateDirectory"/>.
    /// The identity that unwraps the data key stays in <see cref="StateDirectory"/> either way.</summary>
    public Store.Postgres.PostgresConnection? StoreConnection { get; init; }

    /// <summary>How often the controller loop runs.</summary>
    public TimeSpan Interval { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>PEM certificate (chain) and unencrypted PEM key; both or neither.</summary>
    public string? TlsCertificatePath { get; init; }
    public string? TlsKeyPath { get; init; }

    /// <summary>Plain HTTP on an address that is not local (<see cref="ListenAddress.IsLocal"/>), for a TLS-terminating proxy in front.</summary>
    public bool InsecureListen { get; init; }

    /// <summary>Ask for an operator-token login on the dashboard even on loopback (off loopback it is always asked).</summary>
    public bool DashboardLogin { get; init; }

    /// <summary>Checks operator tokens (dashboard login, the operator API); null leaves the server's own ledger-backed one.</summary>
    public Dashboard.IOperatorAuthenticator? OperatorAuthenticator { get; init; }

    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>The real clock sink files' change times are compared with (<c>EngineOptions.FileClock</c>); tests move it.</summary>
    public TimeProvider FileClock { get; init; } = TimeProvider.System;

    /// <summary>Prefix every sink path (as <c>apply --root</c>; hooks are not run under a root).</summary>
    public string? Root { get; init; }

    /// <summary>Run onChange hooks when the loop changes a sink (off with <c>--no-hooks</c>).</summary>
    public bool RunHooks { get; init; } = true;

    /// <summary>kubeconfig for live kubernetes-secret sinks (else $KUBECONFIG, else in-cluster).</summary>
    public string? Kubeconfig { get; init; }

    /// <summary>ExpiresSoon turns true this long before expiry (as <c>check --warn-before</c>).</summary>
    public TimeSpan WarnBefore { get; init; } = TimeSpan.FromDays(7);

    /// <summary>Time limit of each check.</summary>
    public TimeSpan CheckTimeout { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>Who the loop acts as in the audit log.</summary>
    public string Actor { get; init; } = "serve";

    /// <summary>How often the loop looks at the manifest file's stamp between passes (a change starts a pass).</summary>
    public TimeSpan ManifestPoll { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>First back-off of a failing step (a service, a rotation); doubles per failure up to <see cref="BackoffCap"/>.</summary>
    public TimeSpan BackoffBase { get; init; } = TimeSpan.FromSeconds(30);

    public TimeSpan BackoffCap { get; init; } = TimeSpan.FromHours(1);

    /// <summary>How long SIGTERM waits for the loop to reach the end of its current step.</summary>
    public TimeSpan ShutdownTimeout { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>Retries and timeouts of the loop's calls to services (tests with a fake clock turn retries off).</summary>
    public Services.Http.ServiceHttpOptions ServiceHttp { get; init; } = Services.Http.ServiceHttpOptions.Default;

    /// <summary>Run the controller loop (tests that drive passes by hand turn it off).</summary>
    public bool RunController { get; init; } = true;
    /// <summary>The per-client bound on the endpoints anyone can call (<c>--rate-limit</c>, <c>--trusted-proxy</c>).</summary>
    public RateLimiting.RateLimitOptions RateLimit { get; init; } = new();

    /// <summary>How trusted OIDC issuers' keys are fetched and cached (CI token exchange).</summary>
    public Services.Oidc.OidcKeyCacheOptions Oidc { get; init; } = new();

    public Func<string, string?> GetEnv { get; init; } = Environment.GetEnvironmentVariable;

    /// <summary>One line per thing the loop did (renewed, rotated, reconciled); no values.</summary>
    public Action<string>? Log { get; init; }

    /// <summary>Where warnings go (the CLI prints them with their code).</summary>
    public Action<KeywardError> Warn { get; init; } = _ => { };

    /// <summary>True when some listener is reachable from the network (the dashboard then always asks for a login).</summary>
    public bool ListensBeyondThisHost => Listen.Any(l => !l.IsLocal);

    /// <summary>Refuses plain HTTP on an address that is not local (KW1202), half a TLS configuration (KW1203), no
    /// listener or the same one twice (KW1201).</summary>
    public void Validate()
    {
        if ((TlsCertificatePath is null) != (TlsKeyPath is null))
            throw ErrorCodes.TlsFilesInvalid.Exception("give both --tls-cert and --tls-key, or neither");
        if (Listen.Count == 0)
            throw ErrorCodes.ListenAddressInvalid.Exception("no --listen address");
        if (Listen.GroupBy(l => l.SocketPath ?? l.Text, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1) is { } twice)
            throw ErrorCodes.ListenAddressInvalid.Exception($"--listen {twice.First()} is given twice");
        if (TlsCertificatePath is null && !InsecureListen && Listen.FirstOrDefault(l => !l.IsLocal) is { } open)
            throw ErrorCodes.ListenNeedsTls.Exception($"--listen {open} is not a loopback address or a Unix socket and no TLS certificate was given");
    }
}
