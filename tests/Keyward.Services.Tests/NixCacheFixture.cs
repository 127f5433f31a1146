using System.Diagnostics;
using System.Net.Sockets;
using Keyward.Services.Tests.ContractServers;

namespace Keyward.Services.Tests;

/// <summary>Runs tests/fixtures/nix-cache.sh (real nix builds and signs a binary cache) and serves it with a real
/// nginx on loopback for the lifetime of the test class. Fails loudly when nix or nginx is missing.</summary>
public sealed class NixCacheFixture : IAsyncLifetime
{
    private Process? _nginx;

    public string Dir { get; } = Directory.CreateTempSubdirectory("kw-nixcache-").FullName;
    public int Port { get; } = ContractServer.FreePort();
    public Uri Url => new($"http://127.0.0.1:{Port}/");
    public string StoreDir { get; private set; } = "";
    public string PublicKey { get; private set; } = "";
    public string SecretKeyFile => Path.Combine(Dir, "keys", "main-1.sk");
    public string OtherSecretKeyFile => Path.Combine(Dir, "keys", "other.sk");
    public string PrivateFlag => Path.Combine(Dir, "private");

    private static string Script()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            var p = Path.Combine(d.FullName, "tests", "fixtures", "nix-cache.sh");
            if (File.Exists(p)) return p;
        }
        var fromCwd = Path.GetFullPath("tests/fixtures/nix-cache.sh");
        if (File.Exists(fromCwd)) return fromCwd;
        // artifacts may live outside the checkout: find the checkout from the source file location
        var here = Path.GetDirectoryName(Path.GetDirectoryName(Path.GetDirectoryName(CallerFile())))!;
        return Path.Combine(here, "tests", "fixtures", "nix-cache.sh");
    }

    private static string CallerFile([System.Runtime.CompilerServices.CallerFilePath] string path = "") => path;

    public async ValueTask InitializeAsync()
    {
        foreach (var tool in new[] { "nix-build", "nginx" })
            if (!File.Exists("/usr/bin/" + tool) && !File.Exists("/usr/sbin/" + tool))
                throw new InvalidOperationException($"interop test needs the real '{tool}' (apt-get install nix-bin nginx)");
        var psi = new ProcessStartInfo("bash", [Script(), Dir, Port.ToString(System.Globalization.CultureInfo.InvariantCulture)])
        { RedirectStandardOutput = true, RedirectStandardError = true };
        using (var p = Process.Start(psi)!)
        {
            var stdout = await p.StandardOutput.ReadToEndAsync();
            var stderr = await p.StandardError.ReadToEndAsync();
            await p.WaitForExitAsync();
            if (p.ExitCode != 0) throw new InvalidOperationException($"nix-cache.sh failed ({p.ExitCode}): {stderr}");
            var values = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split('=', 2)).ToDictionary(a => a[0], a => a[1]);
            StoreDir = values["STORE_DIR"];
            PublicKey = values["PUBLIC_KEY"];
        }
        var nginx = File.Exists("/usr/sbin/nginx") ? "/usr/sbin/nginx" : "nginx";
        _nginx = Process.Start(new ProcessStartInfo(nginx, ["-c", Path.Combine(Dir, "nginx.conf"), "-g", "daemon off;"])
        { RedirectStandardError = true, RedirectStandardOutput = true })!;
        for (var i = 0; i < 100; i++)
        {
            try
            {
                using var c = new TcpClient();
                await c.ConnectAsync("127.0.0.1", Port);
                return;
            }
            catch (SocketException) { await Task.Delay(50); }
            if (_nginx.HasExited) throw new InvalidOperationException("nginx exited: " + await _nginx.StandardError.ReadToEndAsync());
        }
        throw new InvalidOperationException("nginx did not start listening");
    }

    public async ValueTask DisposeAsync()
    {
        if (_nginx is { HasExited: false })
        {
            _nginx.Kill();
            await _nginx.WaitForExitAsync();
        }
        _nginx?.Dispose();
        try { Directory.Delete(Dir, true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
