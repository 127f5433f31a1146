using System.Net;
using System.Text;
using Keyward.Core.Errors;
using Keyward.Crypto.Ssh;
using Keyward.Engine;
using Keyward.Engine.Agent;

namespace Keyward.Server.Tests.Agent;

/// <summary><c>agent --watch</c> against a server that answers 5xx (its store briefly unwritable: serve's agent endpoints
/// answer 503 when a delivery cannot be audited; a proxy without its upstream answers 502): the agent keeps its files and
/// retries with back-off instead of exiting, and so it does on a 429 (serve's rate limit). Any other 4xx ends it.</summary>
public sealed class AgentWatchRetryTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("kw-agent-retry-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>Answers every request with <paramref name="status"/> and the server's error shape.</summary>
    private sealed class Answering(HttpStatusCode status) : HttpMessageHandler
    {
        public int Requests;

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref Requests);
            return Task.FromResult(new HttpResponseMessage(status)
            {
                Content = new StringContent("""{"code":"KW1201","message":"the delivery could not be audited"}""", Encoding.UTF8, "application/json"),
            });
        }
    }

    private AgentRunner Agent(HostIdentity identity, HttpMessageHandler handler, List<string> log, Action? onRetry = null) => new(new AgentOptions
    {
        Server = new Uri("https://authority.example.org:8420/"),
        Identity = identity,
        StateDirectory = Path.Combine(_dir, "state"),
        Engine = new EngineOptions { Root = Path.Combine(_dir, "root"), RunHooks = false },
        Handler = handler,
        Log = line =>
        {
            lock (log) log.Add(line);
            onRetry?.Invoke();
        },
    });

    [Fact]
    public async Task Watch_OnA503_RetriesWithBackOff_UntilStopped()
    {
        var age = Crypto.Age.X25519Identity.Generate();
        using var secret = age.ToSecret();
        using var identity = HostIdentity.Parse(secret.RevealString());
        var handler = new Answering(HttpStatusCode.ServiceUnavailable);
        var log = new List<string>();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        using var agent = Agent(identity, handler, log, () => { if (log.Count >= 2) stop.Cancel(); });

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => agent.WatchAsync(stop.Token));
        Assert.True(handler.Requests >= 2, $"{handler.Requests} request(s)");
        Assert.All(log, l => Assert.Contains("answered 503: the delivery could not be audited", l, StringComparison.Ordinal));
        Assert.Contains("Retrying in 1s", log[0], StringComparison.Ordinal);
        Assert.Contains("Retrying in 2s", log[1], StringComparison.Ordinal);
    }

    /// <summary>serve's per-client rate limit (many hosts behind one NAT after a restart) is a wait, not a refusal.</summary>
    [Fact]
    public async Task Watch_OnA429_KeepsItsFilesAndRetries_AsOnA5xx()
    {
        var age = Crypto.Age.X25519Identity.Generate();
        using var secret = age.ToSecret();
        using var identity = HostIdentity.Parse(secret.RevealString());
        var log = new List<string>();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        using var agent = Agent(identity, new Answering(HttpStatusCode.TooManyRequests), log, stop.Cancel);

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => agent.WatchAsync(stop.Token));
        Assert.Contains("answered 429", Assert.Single(log), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Watch_OnA403_Stops_WithTheServersError()
    {
        var age = Crypto.Age.X25519Identity.Generate();
        using var secret = age.ToSecret();
        using var identity = HostIdentity.Parse(secret.RevealString());
        using var agent = Agent(identity, new Answering(HttpStatusCode.Forbidden), []);
        var e = await Assert.ThrowsAsync<KeywardException>(() => agent.WatchAsync(Ct)).WaitAsync(TimeSpan.FromMinutes(1), Ct);
        Assert.Equal(ErrorCodes.AgentServerError, e.First.Code);
        Assert.StartsWith("403", e.First.Message, StringComparison.Ordinal);
    }
}
