using System.Net;
using System.Net.Sockets;
using Keyward.Core.Errors;
using Keyward.Server;

namespace Keyward.Server.Tests;

/// <summary><c>--listen unix:PATH</c>: plain HTTP on a Unix socket (local, like loopback), the socket's mode, a stale
/// socket replaced, anything else at the path refused, the file removed when the host stops.</summary>
public sealed class UnixSocketListenTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("kw-unix-").FullName;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string SocketPath => Path.Combine(_dir, "gate.sock");

    private static ServeOptions Options(params string[] listen) => new()
    {
        ManifestPath = "/nonexistent/keyward.yaml",
        StateDirectory = "/nonexistent/state",
        Listen = [.. listen.Select(ListenAddress.Parse)],
        RunController = false,
    };

    /// <summary>An HttpClient whose every connection goes to the Unix socket at <paramref name="path"/>.</summary>
    internal static HttpClient Client(string path) => new(new SocketsHttpHandler
    {
        AllowAutoRedirect = false,
        ConnectCallback = async (_, ct) =>
        {
            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), ct);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        },
    })
    { BaseAddress = new Uri("http://localhost/") };

    private static async Task<string> HealthzAsync(HttpClient http)
    {
        using var response = await http.GetAsync(new Uri("/healthz", UriKind.Relative), Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.Content.ReadAsStringAsync(Ct);
    }

    /// <summary>A socket file nobody listens on: what a serve killed with SIGKILL leaves.</summary>
    private static void LeaveStaleSocket(string path)
    {
        // .NET unlinks the path of a socket it bound when the Socket is disposed; a killed process never gets there.
        // Bind under another name and move the socket file into place after the close.
        var aside = path + ".binding";
        using (var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
        {
            s.Bind(new UnixDomainSocketEndPoint(aside));
            File.Move(aside, path);
        }
        Assert.True(Keyward.Sinks.Files.FileStatus.Lstat(path)?.IsSocket, "no stale socket was left");
    }

    [Fact]
    public async Task Plain_http_on_a_unix_socket_needs_no_tls_answers_with_mode_0660_and_the_file_goes_with_the_host()
    {
        var app = KeywardServer.Build(Options("unix:" + SocketPath));
        await using (app)
        {
            await app.StartAsync(Ct);
            Assert.Equal(ServeOptions.DefaultSocketMode, File.GetUnixFileMode(SocketPath));
            using var http = Client(SocketPath);
            Assert.Equal("""{"status":"ok"}""", await HealthzAsync(http));
            await app.StopAsync(Ct);
        }
        Assert.False(File.Exists(SocketPath) || Directory.Exists(SocketPath), "the socket file outlived the host");
    }

    [Fact]
    public async Task The_socket_mode_is_the_operators_choice()
    {
        var options = Options("unix:" + SocketPath) with { SocketMode = UnixFileMode.UserRead | UnixFileMode.UserWrite };
        await using var app = KeywardServer.Build(options);
        await app.StartAsync(Ct);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(SocketPath));
        await app.StopAsync(Ct);
    }

    [Fact]
    public async Task Tcp_and_unix_listeners_serve_together()
    {
        await using var app = KeywardServer.Build(Options("127.0.0.1:0", "unix:" + SocketPath));
        await app.StartAsync(Ct);
        using var tcp = new HttpClient { BaseAddress = KeywardServer.BoundAddress(app) };
        using var unix = Client(SocketPath);
        Assert.Equal(await HealthzAsync(tcp), await HealthzAsync(unix));
        Assert.Single(KeywardServer.BoundTcpAddresses(app)); // the socket is not offered as a URL
        await app.StopAsync(Ct);
    }

    [Fact]
    public async Task A_stale_socket_left_by_a_killed_serve_is_replaced()
    {
        LeaveStaleSocket(SocketPath);
        Assert.True(File.Exists(SocketPath));
        await using var app = KeywardServer.Build(Options("unix:" + SocketPath));
        await app.StartAsync(Ct);
        using var http = Client(SocketPath);
        Assert.Equal("""{"status":"ok"}""", await HealthzAsync(http));
        await app.StopAsync(Ct);
    }

    [Fact]
    public async Task A_socket_another_server_accepts_on_is_refused_and_keeps_working()
    {
        await using var first = KeywardServer.Build(Options("unix:" + SocketPath));
        await first.StartAsync(Ct);
        var e = Assert.Throws<KeywardException>(() => KeywardServer.Build(Options("unix:" + SocketPath)));
        Assert.Equal(ErrorCodes.ListenSocketOccupied, e.First.Code);
        using var http = Client(SocketPath);
        Assert.Equal("""{"status":"ok"}""", await HealthzAsync(http));
        await first.StopAsync(Ct);
    }

    [Fact]
    public void A_regular_file_at_the_path_is_refused_and_left_alone()
    {
        File.WriteAllText(SocketPath, "not a socket");
        var e = Assert.Throws<KeywardException>(() => KeywardServer.Build(Options("unix:" + SocketPath)));
        Assert.Equal(ErrorCodes.ListenSocketOccupied, e.First.Code);
        Assert.Contains("regular file", e.First.Message, StringComparison.Ordinal);
        Assert.Equal("not a socket", File.ReadAllText(SocketPath));
    }

    [Fact]
    public void A_symlink_at_the_path_is_refused_even_when_it_points_at_a_stale_socket()
    {
        var target = Path.Combine(_dir, "elsewhere.sock");
        LeaveStaleSocket(target);
        File.CreateSymbolicLink(SocketPath, target);
        var e = Assert.Throws<KeywardException>(() => KeywardServer.Build(Options("unix:" + SocketPath)));
        Assert.Equal(ErrorCodes.ListenSocketOccupied, e.First.Code);
        Assert.Contains("symbolic link", e.First.Message, StringComparison.Ordinal);
        Assert.Equal(target, new FileInfo(SocketPath).LinkTarget);
        Assert.True(File.Exists(target), "the link's target was removed");
    }

    [Fact]
    public void A_directory_at_the_path_is_refused()
    {
        Directory.CreateDirectory(SocketPath);
        var e = Assert.Throws<KeywardException>(() => KeywardServer.Build(Options("unix:" + SocketPath)));
        Assert.Equal(ErrorCodes.ListenSocketOccupied, e.First.Code);
        Assert.True(Directory.Exists(SocketPath));
    }

    [Fact]
    public void A_socket_in_a_directory_that_does_not_exist_is_refused_with_KW1208()
    {
        var e = Assert.Throws<KeywardException>(() => KeywardServer.Build(Options("unix:" + Path.Combine(_dir, "missing", "gate.sock"))));
        Assert.Equal(ErrorCodes.ListenSocketUnusable, e.First.Code);
        Assert.Equal(ErrorKind.BadInput, e.First.Code.Kind);
        Assert.Contains("does not exist", e.First.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Plain_http_off_loopback_beside_a_unix_socket_is_still_refused_and_no_socket_is_left()
    {
        var e = Assert.Throws<KeywardException>(() => KeywardServer.Build(Options("unix:" + SocketPath, "0.0.0.0:0")));
        Assert.Equal(ErrorCodes.ListenNeedsTls, e.First.Code);
        Assert.False(File.Exists(SocketPath));
    }

    [Theory]
    [InlineData("unix:")]
    [InlineData("unix:gate.sock")]
    [InlineData("unix:/run/keyward/")]
    public void Malformed_unix_addresses_are_refused_with_KW1201(string listen)
    {
        var e = Assert.Throws<KeywardException>(() => ListenAddress.Parse(listen));
        Assert.Equal(ErrorCodes.ListenAddressInvalid, e.First.Code);
    }

    [Fact]
    public void A_socket_path_longer_than_sun_path_is_refused_with_KW1201()
    {
        var e = Assert.Throws<KeywardException>(() => ListenAddress.Parse("unix:/" + new string('a', ListenAddress.MaxSocketPathBytes)));
        Assert.Equal(ErrorCodes.ListenAddressInvalid, e.First.Code);
        Assert.Equal("/" + new string('a', ListenAddress.MaxSocketPathBytes - 1), ListenAddress.Parse("unix:/" + new string('a', ListenAddress.MaxSocketPathBytes - 1)).SocketPath);
    }

    [Fact]
    public void The_same_listener_twice_is_refused()
    {
        var e = Assert.Throws<KeywardException>(() => KeywardServer.Build(Options("unix:" + SocketPath, "unix:" + SocketPath)));
        Assert.Equal(ErrorCodes.ListenAddressInvalid, e.First.Code);
        Assert.False(File.Exists(SocketPath));
    }

    [Theory]
    [InlineData("unix:/run/keyward/gate.sock", true)]
    [InlineData("127.0.0.1:8420", true)]
    [InlineData("10.0.0.1:8420", false)]
    public void A_unix_socket_is_local_like_loopback_but_not_loopback(string listen, bool local)
    {
        var address = ListenAddress.Parse(listen);
        Assert.Equal(local, address.IsLocal);
        Assert.Equal(address.IsUnixSocket, !address.IsLoopback && local);
    }

    [Fact]
    public async Task The_dashboard_needs_no_login_over_a_unix_socket_but_does_once_a_listener_is_off_this_host()
    {
        await using (var local = KeywardServer.Build(Options("unix:" + SocketPath)))
        {
            await local.StartAsync(Ct);
            using var http = Client(SocketPath);
            using var response = await http.GetAsync(new Uri("/dashboard", UriKind.Relative), Ct);
            Assert.NotEqual("/dashboard/login", response.Headers.Location?.OriginalString);
            await local.StopAsync(Ct);
        }
        var open = Options("unix:" + SocketPath, "0.0.0.0:0") with { InsecureListen = true };
        await using (var app = KeywardServer.Build(open))
        {
            await app.StartAsync(Ct);
            using var http = Client(SocketPath);
            using var response = await http.GetAsync(new Uri("/dashboard", UriKind.Relative), Ct);
            Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
            Assert.Equal("/dashboard/login", response.Headers.Location?.OriginalString);
            await app.StopAsync(Ct);
        }
    }
}
