using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using Keyward.Core.Secrets;
using Keyward.Server;
using Keyward.Store;
using Keyward.Core.Store;
using Microsoft.AspNetCore.Builder;

namespace Keyward.Server.Tests.Ci;

internal static class Repo
{
    public static string Root { get; } = Find();

    private static string Find([System.Runtime.CompilerServices.CallerFilePath] string here = "")
    {
        for (var d = new DirectoryInfo(Path.GetDirectoryName(here)!); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "Keyward.slnx"))) return d.FullName;
        throw new InvalidOperationException("repository root not found");
    }

    public static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }
}

/// <summary>tests/fixtures/oidc-issuer.py: a real OIDC issuer (discovery + JWKS over HTTP) whose tokens PyJWT signs.</summary>
internal sealed class PythonIssuer : IAsyncDisposable
{
    private readonly Process _process;
    private readonly SemaphoreSlim _gate = new(1, 1);

    private PythonIssuer(Process process, string issuer)
    {
        _process = process;
        Issuer = issuer;
    }

    public string Issuer { get; }

    public static async Task<PythonIssuer> StartAsync()
    {
        if (!File.Exists("/usr/bin/python3")) throw new InvalidOperationException("the OIDC tests need /usr/bin/python3 with python3-jwt and python3-cryptography");
        var port = Repo.FreePort();
        var psi = new ProcessStartInfo("/usr/bin/python3", [Path.Combine(Repo.Root, "tests", "fixtures", "oidc-issuer.py"), port.ToString(System.Globalization.CultureInfo.InvariantCulture)])
        { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        var p = Process.Start(psi)!;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var first = await p.StandardOutput.ReadLineAsync(timeout.Token);
        if (first is null) throw new InvalidOperationException("oidc-issuer.py failed: " + await p.StandardError.ReadToEndAsync(timeout.Token));
        return new PythonIssuer(p, (string)JsonNode.Parse(first)!["issuer"]!);
    }

    public async Task<JsonNode> AskAsync(JsonObject command)
    {
        await _gate.WaitAsync();
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            await _process.StandardInput.WriteLineAsync(command.ToJsonString().AsMemory(), timeout.Token);
            await _process.StandardInput.FlushAsync(timeout.Token);
            var line = await _process.StandardOutput.ReadLineAsync(timeout.Token) ?? throw new InvalidOperationException("oidc-issuer.py exited");
            var answer = JsonNode.Parse(line)!;
            if (answer["error"] is { } e) throw new InvalidOperationException("oidc-issuer.py: " + e);
            return answer;
        }
        finally
        {
            _gate.Release();
        }
    }

    public async Task<string> MintAsync(string kid, JsonObject claims, string cmd = "mint") =>
        (string)(await AskAsync(new JsonObject { ["cmd"] = cmd, ["kid"] = kid, ["claims"] = claims }))["token"]!;

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
        _gate.Dispose();
    }
}

/// <summary>A state directory with a stored Attic JWT secret, a manifest trusting the given issuers, and a started
/// <c>keyward serve</c> on a loopback port.</summary>
internal sealed class ServedState : IAsyncDisposable
{
    private ServedState(string dir, byte[] jwtSecret, ServeOptions options)
    {
        Dir = dir;
        JwtSecret = jwtSecret;
        Options = options;
    }

    public string Dir { get; }
    public string StateDir => Path.Combine(Dir, "state");
    public byte[] JwtSecret { get; }
    public ServeOptions Options { get; }
    public WebApplication App { get; private set; } = null!;
    public Uri Url { get; private set; } = null!;

    /// <summary>Opens the state the server uses (SQLite in <see cref="StateDir"/>, or the PostgreSQL store).</summary>
    public Task<OpenedState> OpenAsync() => Options.StoreConnection is { } pg
        ? Store.Postgres.PostgresState.OpenAsync(StateDir, pg, TimeProvider.System, CancellationToken.None)
        : StateDirectory.OpenAsync(StateDir, TimeProvider.System, CancellationToken.None);

    /// <param name="store">A PostgreSQL store to keep the rows in (the state directory keeps the identity), else SQLite.</param>
    public static async Task<ServedState> StartAsync(string manifestYaml, Services.Oidc.OidcKeyCacheOptions? oidc = null, TimeProvider? time = null,
        Store.Postgres.PostgresConnection? store = null, Func<ServeOptions, ServeOptions>? adjust = null)
    {
        var dir = Directory.CreateTempSubdirectory("kw-ci-").FullName;
        var manifest = Path.Combine(dir, "keyward.yaml");
        await File.WriteAllTextAsync(manifest, manifestYaml);
        var secret = System.Security.Cryptography.RandomNumberGenerator.GetBytes(64);
        var stateDir = Path.Combine(dir, "state");
        await using (var state = store is null
            ? await StateDirectory.OpenOrInitAsync(stateDir, [], TimeProvider.System, CancellationToken.None)
            : await Store.Postgres.PostgresState.OpenOrInitAsync(stateDir, store, [], StateLockOptions.Default, TimeProvider.System, CancellationToken.None))
        {
            await state.Store.PutAsync(new NewVersion("attic-jwt-secret", "secret", Secret.FromBytes(secret), VersionState.Active,
                TimeProvider.System.GetUtcNow(), null, "generated", new Dictionary<string, string>()), CancellationToken.None);
        }
        var options = new ServeOptions
        {
            ManifestPath = manifest,
            StateDirectory = stateDir,
            StoreConnection = store,
            RunController = store is null,
            Listen = [ListenAddress.Parse("127.0.0.1:0")],
            Oidc = oidc ?? new Services.Oidc.OidcKeyCacheOptions { FetchTimeout = TimeSpan.FromSeconds(2) },
            Time = time ?? TimeProvider.System,
        };
        var served = new ServedState(dir, secret, adjust is null ? options : adjust(options));
        await served.StartAppAsync();
        return served;
    }

    /// <summary>Another server on the same state (and store): a second replica, or the one after a restart.</summary>
    public async Task<WebApplication> StartReplicaAsync()
    {
        var app = KeywardServer.Build(Options);
        await app.StartAsync();
        return app;
    }

    /// <summary>Stops the server and starts a new one on the same state: only what the store keeps survives.</summary>
    public async Task RestartAsync()
    {
        await App.StopAsync();
        await App.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        await StartAppAsync();
    }

    private async Task StartAppAsync()
    {
        App = await StartReplicaAsync();
        Url = KeywardServer.BoundAddress(App);
    }

    public async ValueTask DisposeAsync()
    {
        await App.StopAsync();
        await App.DisposeAsync();
        try { Directory.Delete(Dir, true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
