using System.Net;
using System.Net.Sockets;
using System.Text;
using Keyward.Core.Manifest;
using Keyward.Sinks.Tests.Support;
using static Keyward.Sinks.Tests.Support.Fixtures;

namespace Keyward.Sinks.Tests.Interop;

/// <summary>The real <c>curl --netrc-file</c> sends Keyward's netrc credentials to a loopback server.</summary>
[Trait("Category", "Interop")]
public sealed class NetrcCurlInteropTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>Accepts one HTTP request on 127.0.0.1 and returns its Authorization header (or null).</summary>
    private static async Task<string?> CaptureAuthorizationAsync(TcpListener listener, CancellationToken ct)
    {
        using var client = await listener.AcceptTcpClientAsync(ct);
        var stream = client.GetStream();
        var buffer = new byte[16384];
        var request = new StringBuilder();
        while (!request.ToString().Contains("\r\n\r\n", StringComparison.Ordinal))
        {
            var n = await stream.ReadAsync(buffer, ct);
            if (n == 0) break;
            request.Append(Encoding.ASCII.GetString(buffer, 0, n));
        }
        await stream.WriteAsync("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"u8.ToArray(), ct);
        return request.ToString().Split("\r\n").FirstOrDefault(l => l.StartsWith("Authorization:", StringComparison.OrdinalIgnoreCase))?["Authorization:".Length..].Trim();
    }

    private async Task<string?> CurlAsync(string netrc, string host)
    {
        var curl = Tool.Require("curl", "curl");
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        try
        {
            var port = ((IPEndPoint)listener.LocalEndpoint).Port;
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            var capture = CaptureAuthorizationAsync(listener, cts.Token);
            var result = await Tool.RunAsync(curl, ["-sS", "--noproxy", "*", "--netrc-file", netrc, $"http://{host}:{port}/nix-cache-info"]);
            Assert.True(result.ExitCode == 0, $"curl failed ({result.ExitCode}): {result.Stderr}");
            return await capture;
        }
        finally
        {
            listener.Stop();
        }
    }

    private static string Basic(string user, string password) => "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}"));

    [Fact]
    public async Task Curl_SendsBasicCredentialsForEachMachine()
    {
        // Two machines that both resolve to loopback; the first entry declares no username (Attic's case), and is not last:
        // with a login-less entry curl 7.88 would send nothing for it.
        var values = Homelab();
        var sink = Sink(SinkFormat.Netrc, [Entry("localhost", "ci-push-token"), Entry("127.0.0.1", "gitea-token")]);
        var netrc = _dir["netrc"];
        File.WriteAllBytes(netrc, SinkRenderer.Render(sink, values));

        Assert.Equal(Basic("attic", AtticToken), await CurlAsync(netrc, "localhost"));
        Assert.Equal(Basic("deploy", GiteaToken), await CurlAsync(netrc, "127.0.0.1"));
    }

    [Fact]
    public async Task Curl_TokenWithSpecialCharacters_IsSentVerbatim()
    {
        const string token = "a'b\\c=d&e%f:g@h";
        var values = Values(Resolved(External("t", ExternalProvider.Generic, "127.0.0.1", "ci"), token));
        var netrc = _dir["netrc"];
        File.WriteAllBytes(netrc, SinkRenderer.Render(Sink(SinkFormat.Netrc, [Entry("", "t")]), values));
        Assert.Equal(Basic("ci", token), await CurlAsync(netrc, "127.0.0.1"));
    }
}
