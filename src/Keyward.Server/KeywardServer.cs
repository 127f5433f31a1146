using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Keyward.Core.Errors;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Keyward.Server;

/// <summary>
/// Builds the <c>keyward serve</c> host: Kestrel on every <c>--listen</c> address (plain HTTP only on loopback and Unix
/// sockets unless told otherwise; TLS, when configured, on the TCP ones: a Unix socket is always plain HTTP),
/// JSON from <see cref="ServerJson"/>, and the endpoints of every server area (<see cref="Endpoints.ServerEndpoints"/>).
/// </summary>
public static class KeywardServer
{
    public static WebApplication Build(ServeOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var certificate = options.TlsCertificatePath is { } certPath ? LoadCertificate(certPath, options.TlsKeyPath!) : null;

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            Args = [],
            ContentRootPath = AppContext.BaseDirectory,
            EnvironmentName = Environments.Production,
        });
        builder.Logging.ClearProviders();
        if (certificate is not null) builder.WebHost.UseKestrelHttpsConfiguration();
        var sockets = new UnixListenSockets();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            var unix = 0;
            foreach (var address in options.Listen)
            {
                if (address.IsUnixSocket) k.ListenHandle(sockets[unix++].Handle);
                else k.Listen(address.Address!, address.Port, l =>
                {
                    if (certificate is not null) l.UseHttps(certificate);
                });
            }
        });
        // Made by a factory (and resolved below), so the container closes the sockets and removes their files with the host.
        builder.Services.AddSingleton(_ => sockets);
        builder.Services.ConfigureHttpJsonOptions(j => j.SerializerOptions.TypeInfoResolverChain.Insert(0, ServerJson.Default));
        builder.Services.AddSingleton(options);
        var state = new ServerState(options);
        state.ReloadManifestIfChanged();
        builder.Services.AddSingleton(state);
        builder.Services.AddSingleton(options.OperatorAuthenticator ?? new Auth.LedgerOperatorAuthenticator(state));
        builder.Services.AddSingleton(options.Time);
        // SIGTERM: the loop finishes the step it is in (never half a journal step) before the host gives up on it.
        builder.Services.Configure<HostOptions>(h => h.ShutdownTimeout = options.ShutdownTimeout);
        ServerServices.Add(builder.Services, options);

        // Bound last, so a refusal above leaves no socket behind.
        try
        {
            foreach (var address in options.Listen.Where(l => l.IsUnixSocket))
                sockets.Add(UnixListenSocket.Bind(address, options.SocketMode));
        }
        catch
        {
            sockets.Dispose();
            throw;
        }
        var app = builder.Build();
        _ = app.Services.GetRequiredService<UnixListenSockets>();
        Endpoints.ServerEndpoints.Map(app);
        return app;
    }

    /// <summary>Runs the server until <paramref name="cancellationToken"/> fires or the host is told to stop (SIGTERM,
    /// SIGINT), then stops it. <paramref name="started"/> hears each address it listens on (a URL, or <c>unix:PATH</c>).</summary>
    public static async Task RunAsync(ServeOptions options, Action<string> started, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(started);
        var app = Build(options);
        await using (app.ConfigureAwait(false))
        {
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
            foreach (var address in BoundTcpAddresses(app)) started(address.ToString());
            foreach (var address in options.Listen.Where(l => l.IsUnixSocket)) started("unix:" + address.SocketPath);
            try
            {
                await app.WaitForShutdownAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
            }
            await app.StopAsync(CancellationToken.None).ConfigureAwait(false);
        }
    }

    /// <summary>The first TCP address Kestrel actually bound (with port 0 resolved), once the app has started.</summary>
    public static Uri BoundAddress(WebApplication app)
    {
        var tcp = BoundTcpAddresses(app);
        return tcp.Count > 0 ? tcp[0] : throw new InvalidOperationException("the server has not started on a TCP address");
    }

    /// <summary>The TCP addresses Kestrel bound, in <c>--listen</c> order (Kestrel names a Unix socket
    /// <c>http://unix:/PATH</c>, which is no URL a client can use: left out).</summary>
    public static IReadOnlyList<Uri> BoundTcpAddresses(WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
        return [.. addresses
            .Select(a => a.Replace("://[::]", "://[::1]", StringComparison.Ordinal).Replace("://0.0.0.0", "://127.0.0.1", StringComparison.Ordinal))
            .Select(a => Uri.TryCreate(a, UriKind.Absolute, out var uri) && uri.HostNameType is UriHostNameType.IPv4 or UriHostNameType.IPv6 ? uri : null)
            .OfType<Uri>()];
    }

    private static X509Certificate2 LoadCertificate(string certPath, string keyPath)
    {
        try
        {
            using var pem = X509Certificate2.CreateFromPemFile(certPath, keyPath);
            // Kestrel needs the key in a form it can use for every handshake: round-trip through PKCS#12 in memory.
            return X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null);
        }
        catch (Exception e) when (e is CryptographicException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            throw ErrorCodes.TlsFilesInvalid.Exception($"--tls-cert {certPath} / --tls-key {keyPath}: {IoErrorText.Describe(e)}");
        }
    }
}
