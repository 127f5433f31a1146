using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Keyward.Services.Tests.ContractServers;

/// <summary>A request as the contract server saw it.</summary>
public sealed record RecordedRequest(string Method, string Path, string Query, IReadOnlyDictionary<string, string> Headers, string Body)
{
    public string? Header(string name) => Headers.TryGetValue(name, out var v) ? v : null;
    public bool IsWrite => Method is "POST" or "PATCH" or "PUT" or "DELETE";
}

public sealed record ContractResponse(int Status, string Body = "", string ContentType = "application/json",
    IReadOnlyDictionary<string, string>? Headers = null, TimeSpan? Delay = null)
{
    public static ContractResponse Json(int status, string body) => new(status, body);
}

/// <summary>
/// An HTTP server on 127.0.0.1 with an ephemeral port, imitating a service as its reference documents it.
/// Every request is recorded so tests can assert what was (and was not) sent.
/// </summary>
public sealed class ContractServer : IAsyncDisposable
{
    private readonly HttpListener _listener;
    private readonly Func<RecordedRequest, ContractResponse> _handler;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    /// <param name="port">A port reserved earlier (a service that comes up after refusing connections); 0 picks a free one.</param>
    public ContractServer(Func<RecordedRequest, ContractResponse> handler, int port = 0)
    {
        _handler = handler;
        (_listener, port) = Listen(port);
        Url = new Uri($"http://127.0.0.1:{port}/");
        _loop = Task.Run(LoopAsync);
    }

    public Uri Url { get; }

    public ConcurrentQueue<RecordedRequest> Requests { get; } = new();

    public IReadOnlyList<RecordedRequest> Writes => Requests.Where(r => r.IsWrite).ToArray();

    /// <summary>
    /// A started listener on 127.0.0.1: on <paramref name="port"/>, or on a free port when it is 0. A free port can be
    /// taken by another process between the probe and the start, so that case is retried — each time with a new
    /// listener, because a listener whose start failed is closed for good (ObjectDisposedException on reuse).
    /// </summary>
    public static (HttpListener Listener, int Port) Listen(int port = 0)
    {
        var fixedPort = port != 0;
        for (var attempt = 0; ; attempt++)
        {
            var candidate = fixedPort ? port : FreePort();
            var listener = new HttpListener();
            listener.Prefixes.Add($"http://127.0.0.1:{candidate}/");
            try
            {
                listener.Start();
                return (listener, candidate);
            }
            catch (HttpListenerException) when (attempt < 10 && !fixedPort)
            {
                listener.Close();
            }
        }
    }

    public static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        var port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    private async Task LoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            HttpListenerContext ctx;
            try { ctx = await _listener.GetContextAsync(); }
            catch (Exception) when (_stop.IsCancellationRequested || !_listener.IsListening) { return; }
            catch (HttpListenerException) { return; }
            _ = Task.Run(() => HandleAsync(ctx));
        }
    }

    private async Task HandleAsync(HttpListenerContext ctx)
    {
        try
        {
            string body;
            using (var reader = new StreamReader(ctx.Request.InputStream, Encoding.UTF8)) body = await reader.ReadToEndAsync();
            var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            foreach (string key in ctx.Request.Headers) headers[key] = ctx.Request.Headers[key] ?? "";
            var path = ctx.Request.Url!.AbsolutePath;
            var request = new RecordedRequest(ctx.Request.HttpMethod, Uri.UnescapeDataString(path), ctx.Request.Url.Query, headers, body);
            Requests.Enqueue(request);
            var response = _handler(request);
            if (response.Delay is { } delay) await Task.Delay(delay, _stop.Token);
            ctx.Response.StatusCode = response.Status;
            ctx.Response.ContentType = response.ContentType;
            foreach (var (k, v) in response.Headers ?? new Dictionary<string, string>()) ctx.Response.Headers[k] = v;
            var bytes = Encoding.UTF8.GetBytes(response.Body);
            ctx.Response.ContentLength64 = bytes.Length;
            await ctx.Response.OutputStream.WriteAsync(bytes);
            ctx.Response.Close();
        }
        catch (Exception)
        {
            try { ctx.Response.Abort(); } catch (ObjectDisposedException) { }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        try
        {
            _listener.Stop();
            _listener.Close();
        }
        catch (Exception e) when (e is ObjectDisposedException or HttpListenerException or InvalidOperationException)
        {
            // Stopping races requests still being answered (a client that gave up mid-response); the server is gone
            // either way, and a test's verdict must not depend on how its fake server shut down.
        }
        try { await _loop; } catch (Exception) { }
        _stop.Dispose();
    }
}
