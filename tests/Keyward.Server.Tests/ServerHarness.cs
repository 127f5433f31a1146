using System.Net.Http.Headers;
using Keyward.Engine;
using Keyward.Engine.Operators;
using Keyward.Server.Controller;
using Keyward.Store;
using Microsoft.AspNetCore.Builder;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace Keyward.Server.Tests;

/// <summary>A served manifest in a temp directory: state, a sink root, the server on 127.0.0.1:0, an HTTP client.
/// The controller loop is off unless asked for; tests run passes by hand with <see cref="PassAsync"/>.</summary>
internal sealed class ServerHarness : IAsyncDisposable
{
    public const string Manifest = """
        apiVersion: keyward/v1
        credentials:
          signer: { kind: secret, bytes: 48, owner: attic, purpose: signs tokens }
          push-token:
            kind: attic-token
            signedBy: signer
            subject: ci
            validity: 2h
            renewBefore: 1h
            owner: ci
            purpose: push
            caches: { main: [pull, push] }
          db-password: { kind: secret, bytes: 24, owner: app, purpose: database }
        sinks:
          token-file:
            path: /run/keyward/push.token
            format: raw
            mode: "0600"
            credential: push-token
          app-env:
            path: /etc/app/app.env
            format: env
            mode: "0600"
            entries: { DB_PASSWORD: { credential: db-password, encoding: base64 } }
        """;

    public string Dir { get; } = Directory.CreateTempSubdirectory("kw-serve-").FullName;
    public string ManifestPath => Path.Combine(Dir, "keyward.yaml");
    public string State => Path.Combine(Dir, "state");
    public string Root => Path.Combine(Dir, "root");
    public TimeProvider Time { get; }
    public FakeTimeProvider? Fake => Time as FakeTimeProvider;
    public List<string> Warnings { get; } = [];
    public WebApplication App { get; private set; } = null!;
    public HttpClient Http { get; private set; } = null!;

    public ServerHarness(TimeProvider? time = null, string? manifest = null)
    {
        Time = time ?? new FakeTimeProvider(new DateTimeOffset(2026, 12, 1, 0, 0, 0, TimeSpan.Zero));
        File.WriteAllText(ManifestPath, manifest ?? Manifest);
    }

    public ServeOptions Options(Func<ServeOptions, ServeOptions>? adjust = null)
    {
        var o = new ServeOptions
        {
            ManifestPath = ManifestPath,
            StateDirectory = State,
            Listen = [ListenAddress.Parse("127.0.0.1:0")],
            Root = Root,
            RunHooks = false,
            Time = Time,
            RunController = false,
            // The fake clock drives Polly's delays too: no retries, so a refused connection fails at once.
            ServiceHttp = Services.Http.ServiceHttpOptions.Default with { MaxRetries = 0 },
            Warn = e => { lock (Warnings) Warnings.Add($"{e.Code.Code} {e.Message}"); },
        };
        return adjust is null ? o : adjust(o);
    }

    public async Task<ServerHarness> StartAsync(Func<ServeOptions, ServeOptions>? adjust = null)
    {
        App = KeywardServer.Build(Options(adjust));
        await App.StartAsync(TestContext.Current.CancellationToken);
        Http = new HttpClient { BaseAddress = KeywardServer.BoundAddress(App), Timeout = TimeSpan.FromSeconds(60) };
        return this;
    }

    public ControllerPass Pass => App.Services.GetRequiredService<ControllerPass>();
    public ControllerStatus Status => App.Services.GetRequiredService<ControllerStatus>();

    public Task<bool> PassAsync() => Pass.RunAsync(TestContext.Current.CancellationToken);

    public Task<OpenedState> OpenAsync() => StateDirectory.OpenAsync(State, Time, TestContext.Current.CancellationToken);

    public async Task<(string Token, string Id)> CreateOperatorTokenAsync(string name, TimeSpan? validity = null)
    {
        await using var state = await StateDirectory.OpenOrInitAsync(State, [], Time, TestContext.Current.CancellationToken);
        var created = await new OperatorTokens(state.Store, new EngineOptions { Time = Time, Actor = "test" })
            .CreateAsync(name, validity ?? TimeSpan.FromDays(30), TestContext.Current.CancellationToken);
        using (created.Token) return (created.Token.RevealString(), created.Entry.TokenId);
    }

    public async Task<HttpResponseMessage> GetAsync(string path, string? bearer = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(path, UriKind.Relative));
        if (bearer is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        return await Http.SendAsync(request, TestContext.Current.CancellationToken);
    }

    public async Task<string> MetricsAsync()
    {
        using var r = await GetAsync("/metrics");
        r.EnsureSuccessStatusCode();
        return await r.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        Http?.Dispose();
        if (App is not null)
        {
            await App.StopAsync(CancellationToken.None);
            await App.DisposeAsync();
        }
        SqliteConnection.ClearAllPools();
        Directory.Delete(Dir, recursive: true);
    }
}
