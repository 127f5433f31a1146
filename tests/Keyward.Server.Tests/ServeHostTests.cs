using System.Net;
using Keyward.Core.Errors;
using Keyward.Server;

namespace Keyward.Server.Tests;

public sealed class ServeHostTests
{
    private static ServeOptions Options(string listen, bool insecure = false) => new()
    {
        ManifestPath = "/nonexistent/keyward.yaml",
        StateDirectory = "/nonexistent/state",
        Listen = [ListenAddress.Parse(listen)],
        InsecureListen = insecure,
    };

    [Fact]
    public async Task Healthz_answers_on_a_loopback_port_chosen_by_the_system()
    {
        await using var app = KeywardServer.Build(Options("127.0.0.1:0"));
        await app.StartAsync(TestContext.Current.CancellationToken);
        var baseUri = KeywardServer.BoundAddress(app);
        Assert.NotEqual(0, baseUri.Port);
        using var http = new HttpClient { BaseAddress = baseUri };
        using var response = await http.GetAsync(new Uri("/healthz", UriKind.Relative), TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("""{"status":"ok"}""", await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        await app.StopAsync(TestContext.Current.CancellationToken);
    }

    [Theory]
    [InlineData("0.0.0.0:8420")]
    [InlineData("[::]:8420")]
    [InlineData("192.0.2.10:8420")]
    public void Plain_http_off_loopback_is_refused_without_tls_or_insecure_listen(string listen)
    {
        var e = Assert.Throws<KeywardException>(() => KeywardServer.Build(Options(listen)));
        Assert.Equal(ErrorCodes.ListenNeedsTls, e.First.Code);
    }

    [Fact]
    public async Task Insecure_listen_allows_plain_http_off_loopback_for_a_proxy_in_front()
    {
        await using var app = KeywardServer.Build(Options("0.0.0.0:0", insecure: true));
        await app.StartAsync(TestContext.Current.CancellationToken);
        using var http = new HttpClient { BaseAddress = KeywardServer.BoundAddress(app) };
        using var response = await http.GetAsync(new Uri("/healthz", UriKind.Relative), TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        await app.StopAsync(TestContext.Current.CancellationToken);
    }

    [Theory]
    [InlineData("8420")]
    [InlineData("127.0.0.1:")]
    [InlineData("127.0.0.1:99999")]
    [InlineData("::1:8420")]
    [InlineData("example.org:8420")]
    public void Malformed_listen_addresses_are_refused_with_KW1201(string listen)
    {
        var e = Assert.Throws<KeywardException>(() => ListenAddress.Parse(listen));
        Assert.Equal(ErrorCodes.ListenAddressInvalid, e.First.Code);
    }

    [Theory]
    [InlineData("127.0.0.1:8420", true)]
    [InlineData("[::1]:8420", true)]
    [InlineData("localhost:8420", true)]
    [InlineData("10.0.0.1:8420", false)]
    public void Loopback_is_recognised(string listen, bool loopback) =>
        Assert.Equal(loopback, ListenAddress.Parse(listen).IsLoopback);
}
