using System.Net;
using System.Text;

namespace Keyward.Cli.Tests;

/// <summary>An HTTP server on 127.0.0.1 and a free port for contract tests: each request's body is read and handed to
/// <c>respond</c>, which returns the status code and the JSON answer.</summary>
internal sealed class LoopbackHttpServer : IDisposable
{
    private readonly HttpListener _listener;
    private readonly Func<HttpListenerRequest, string, (int Status, string Json)> _respond;

    public LoopbackHttpServer(Func<HttpListenerRequest, string, (int Status, string Json)> respond)
    {
        _respond = respond;
        (_listener, Port) = Keyward.Services.Tests.ContractServers.ContractServer.Listen();
        _ = Task.Run(ServeAsync);
    }

    public int Port { get; }

    private async Task ServeAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext ctx;
            try { ctx = await _listener.GetContextAsync(); }
            catch (Exception) { return; }
            using var reader = new StreamReader(ctx.Request.InputStream);
            var body = await reader.ReadToEndAsync();
            var (status, json) = _respond(ctx.Request, body);
            ctx.Response.StatusCode = status;
            ctx.Response.ContentType = "application/json";
            var bytes = Encoding.UTF8.GetBytes(json);
            await ctx.Response.OutputStream.WriteAsync(bytes);
            ctx.Response.Close();
        }
    }

    public void Dispose()
    {
        _listener.Stop();
        _listener.Close();
    }
}
