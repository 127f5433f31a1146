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
/// Builds the <c>keyward serve</c> host: Kestrel on one address (plain HTTP only on loopback unless told otherwise),
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
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Listen(options.Listen.Address, options.Listen.Port, l =>
            {
                if (certificate is not null) l.UseHttps(certificate);
            });
        });
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

        var app = builder.Build();
        Endpoints.ServerEndpoints.Map(app);
        return app;
    }

    /// <summary>Runs the server until <paramref name="cancellationToken"/> fires or the host is told to stop (SIGTERM,
    /// SIGINT), then stops it. <paramref name="started"/> hears the bound address once it listens.</summary>
    public static async Task RunAsync(ServeOptions options, Action<Uri> started, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(started);
        var app = Build(options);
        await using (app.ConfigureAwait(false))
        {
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
            started(BoundAddress(app));
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

    /// <summary>The address Kestrel actually bound (with port 0 resolved), once the app has started.</summary>
    public static Uri BoundAddress(WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses;
        var first = addresses?.FirstOrDefault() ?? throw new InvalidOperationException("the server has not started");
        return new Uri(first.Replace("://[::]", "://[::1]", StringComparison.Ordinal).Replace("://0.0.0.0", "://127.0.0.1", StringComparison.Ordinal));
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
