using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Keyward.Cli;
using Keyward.Core.Secrets;
using Keyward.Crypto.Nix;

namespace Keyward.Cli.Tests;

/// <summary>Runs <c>keyward nix …</c> in-process, capturing stdout and stderr.</summary>
internal sealed record CliRun(int Exit, string Out, string Err)
{
    public static async Task<CliRun> RunAsync(string[] args, string? stdin = null, IReadOnlyDictionary<string, string>? env = null, bool terminal = false, string? cwd = null)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        var console = new CliConsole
        {
            Out = o,
            Err = e,
            StdIn = new MemoryStream(Encoding.UTF8.GetBytes(stdin ?? "")),
            StdOut = new MemoryStream(),
            OutIsTerminal = terminal,
            GetEnv = n => env is not null && env.TryGetValue(n, out var v) ? v : null,
            CurrentDirectory = cwd ?? Path.GetTempPath(),
        };
        var exit = await KeywardCli.RunAsync(args, console, TestContext.Current.CancellationToken);
        return new CliRun(exit, o.ToString(), e.ToString());
    }

    public void AssertNoLeak(string secret)
    {
        Assert.DoesNotContain(secret, Out, StringComparison.Ordinal);
        Assert.DoesNotContain(secret, Err, StringComparison.Ordinal);
    }
}

[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class NixCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("kw-nixcli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    // Written by nix 2.8 (`nix copy --to file://DIR`), unsigned.
    private const string Unsigned =
        "StorePath: /nix/store/36fy5ahg48sbws5psh40d6dp82kzsy7l-kwtest\n" +
        "URL: nar/09kxyd68d2nylk7ims23pj3i09s4nnv9p3dv6iij1q9canv42w6d.nar.xz\n" +
        "Compression: xz\n" +
        "FileHash: sha256:09kxyd68d2nylk7ims23pj3i09s4nnv9p3dv6iij1q9canv42w6d\n" +
        "FileSize: 124\n" +
        "NarHash: sha256:1xmr8jicvzszfzpz46g37mlpvbzjl2wpwvl2b05psipssyp1sm8h\n" +
        "NarSize: 120\n" +
        "References: \n" +
        "Deriver: lvi0qkcj10y40p5sp8dj402mglnbgg20-kwtest.drv\n";

    [Fact]
    public async Task Keygen_ThenPubkey_AgreeWithTheLibrary()
    {
        var gen = await CliRun.RunAsync(["nix", "keygen", "cache.test-1"]);
        Assert.Equal(0, gen.Exit);
        Assert.EndsWith("\n", gen.Out, StringComparison.Ordinal);
        using var key = NixSecretKey.Parse(Secret.FromUtf8(gen.Out));
        var pub = await CliRun.RunAsync(["nix", "pubkey"], gen.Out);
        Assert.Equal(0, pub.Exit);
        Assert.Equal(key.PublicKey.ToString() + "\n", pub.Out.ReplaceLineEndings("\n"));
        pub.AssertNoLeak(gen.Out.Trim().Split(':')[1]);
    }

    [Fact]
    public async Task Keygen_ToATerminal_IsRefused()
    {
        var r = await CliRun.RunAsync(["nix", "keygen", "cache.test-1"], terminal: true);
        Assert.Equal(2, r.Exit);
        Assert.Contains("KW0005", r.Err, StringComparison.Ordinal);
        Assert.Equal("", r.Out);
    }

    [Fact]
    public async Task Keygen_Out_WritesAPrivateFileAndPrintsThePublicKey_NeverOverwrites()
    {
        var file = Path.Combine(_dir, "sk");
        var r = await CliRun.RunAsync(["nix", "keygen", "cache.test-1", "--out", file], terminal: true);
        Assert.Equal(0, r.Exit);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
        var text = File.ReadAllText(file);
        Assert.False(text.EndsWith('\n')); // like nix: no newline in the key file
        using var key = NixSecretKey.Parse(Secret.FromUtf8(text));
        Assert.Equal(key.PublicKey.ToString(), r.Out.Trim());
        r.AssertNoLeak(text.Split(':')[1]);
        var again = await CliRun.RunAsync(["nix", "keygen", "cache.test-2", "--out", file]);
        Assert.Equal(1, again.Exit);
        Assert.Equal(text, File.ReadAllText(file));
    }

    [Fact]
    public async Task Pubkey_Garbage_IsBadInputWithoutEchoingIt()
    {
        var r = await CliRun.RunAsync(["nix", "pubkey"], "name:c2VjcmV0LXZhbHVlLXRoYXQtbXVzdC1ub3QtbGVhaw==");
        Assert.Equal(2, r.Exit);
        Assert.Contains("KW0501", r.Err, StringComparison.Ordinal);
        r.AssertNoLeak("c2VjcmV0LXZhbHVlLXRoYXQtbXVzdC1ub3QtbGVhaw");
    }

    [Fact]
    public async Task SignThenVerifyCache_Directory()
    {
        var cache = Path.Combine(_dir, "cache");
        Directory.CreateDirectory(cache);
        var narinfo = Path.Combine(cache, "36fy5ahg48sbws5psh40d6dp82kzsy7l.narinfo");
        File.WriteAllText(narinfo, Unsigned);
        File.SetUnixFileMode(narinfo, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        using var key = NixSecretKey.Generate("cache.test-1");
        using var keyText = key.ToSecret();
        var keyFile = Path.Combine(_dir, "sk");
        File.WriteAllText(keyFile, keyText.RevealString() + "\n");
        var pub = key.PublicKey.ToString();

        var before = await CliRun.RunAsync(["nix", "verify-cache", cache, "--trusted-public-keys", pub]);
        Assert.Equal(1, before.Exit);
        Assert.Contains("unsigned", before.Out, StringComparison.Ordinal);
        Assert.Contains("KW0504", before.Err, StringComparison.Ordinal);

        var sign = await CliRun.RunAsync(["nix", "sign", "--key-file", keyFile, narinfo]);
        Assert.Equal(0, sign.Exit);
        sign.AssertNoLeak(keyText.RevealString().Split(':')[1]);
        var signedText = File.ReadAllText(narinfo);
        Assert.StartsWith(Unsigned, signedText, StringComparison.Ordinal);
        Assert.Matches("\nSig: cache.test-1:[A-Za-z0-9+/]{86}==\n$", signedText);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead, File.GetUnixFileMode(narinfo));
        Assert.Single(Directory.GetFiles(cache)); // no temporary file left behind

        var after = await CliRun.RunAsync(["nix", "verify-cache", "file://" + cache, "--trusted-public-keys", "other-1:" + Convert.ToBase64String(new byte[32]) + " " + pub, "--json"]);
        Assert.Equal(0, after.Exit);
        using var doc = JsonDocument.Parse(after.Out);
        Assert.Equal(0, doc.RootElement.GetProperty("failed").GetInt32());
        Assert.Equal("ok", doc.RootElement.GetProperty("paths")[0].GetProperty("status").GetString());

        File.WriteAllText(narinfo, signedText.Replace("NarSize: 120", "NarSize: 121", StringComparison.Ordinal));
        var tampered = await CliRun.RunAsync(["nix", "verify-cache", cache, "--trusted-public-keys", pub]);
        Assert.Equal(1, tampered.Exit);
        Assert.Contains("bad-sig", tampered.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task VerifyCache_HttpCache_FetchesCacheInfoAndTheNamedPaths()
    {
        using var key = NixSecretKey.Generate("cache.test-1");
        var signed = NarInfo.Parse(Unsigned).Sign(key).ToText();
        using var server = new TinyHttpServer(path => path switch
        {
            "/nix-cache-info" => (200, "StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 41\n"),
            "/36fy5ahg48sbws5psh40d6dp82kzsy7l.narinfo" => (200, signed),
            _ => (404, "not found"),
        });
        var ok = await CliRun.RunAsync(["nix", "verify-cache", server.Url, "--trusted-public-keys", key.PublicKey.ToString(), "--path", "/nix/store/36fy5ahg48sbws5psh40d6dp82kzsy7l-kwtest"]);
        Assert.True(ok.Exit == 0, ok.Err);
        Assert.Contains("/nix-cache-info", server.Requests);

        var list = Path.Combine(_dir, "paths");
        File.WriteAllText(list, "36fy5ahg48sbws5psh40d6dp82kzsy7l\n0000000000000000000000000000000a\n");
        var missing = await CliRun.RunAsync(["nix", "verify-cache", server.Url, "--trusted-public-keys", key.PublicKey.ToString(), "--paths-from", list]);
        Assert.Equal(1, missing.Exit);
        Assert.Contains("not found", missing.Out, StringComparison.Ordinal);

        // A correctly signed narinfo served under another path's name does not pass.
        using var swapped = new TinyHttpServer(path => path switch
        {
            "/nix-cache-info" => (200, "StoreDir: /nix/store\n"),
            "/1111111111111111111111111111111a.narinfo" => (200, signed),
            _ => (404, "not found"),
        });
        var substituted = await CliRun.RunAsync(["nix", "verify-cache", swapped.Url, "--trusted-public-keys", key.PublicKey.ToString(), "--path", "1111111111111111111111111111111a"]);
        Assert.Equal(1, substituted.Exit);
        Assert.Contains("describes another store path", substituted.Out, StringComparison.Ordinal);

        var noPaths = await CliRun.RunAsync(["nix", "verify-cache", server.Url, "--trusted-public-keys", key.PublicKey.ToString()]);
        Assert.Equal(2, noPaths.Exit);
        Assert.Contains("KW0506", noPaths.Err, StringComparison.Ordinal);
    }
}

/// <summary>A loopback HTTP server answering from a function, for contract tests of HTTP binary caches.</summary>
internal sealed class TinyHttpServer : IDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly Func<string, (int Status, string Body)> _handler;
    private readonly CancellationTokenSource _stop = new();

    public TinyHttpServer(Func<string, (int Status, string Body)> handler)
    {
        _handler = handler;
        _listener.Start();
        _ = Task.Run(LoopAsync);
    }

    public string Url => $"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}";

    public List<string> Requests { get; } = [];

    private async Task LoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try { client = await _listener.AcceptTcpClientAsync(_stop.Token); }
            catch (Exception) { return; }
            _ = Task.Run(async () =>
            {
                using (client)
                {
                    var stream = client.GetStream();
                    var reader = new StreamReader(stream, Encoding.ASCII);
                    var requestLine = await reader.ReadLineAsync() ?? "";
                    while (!string.IsNullOrEmpty(await reader.ReadLineAsync())) { }
                    var path = requestLine.Split(' ') is { Length: >= 2 } parts ? parts[1] : "/";
                    lock (Requests) Requests.Add(path);
                    var (status, body) = _handler(path);
                    var bytes = Encoding.UTF8.GetBytes(body);
                    var head = $"HTTP/1.1 {status} {(status == 200 ? "OK" : "Not Found")}\r\nContent-Length: {bytes.Length}\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n";
                    await stream.WriteAsync(Encoding.ASCII.GetBytes(head));
                    await stream.WriteAsync(bytes);
                }
            });
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
        _stop.Dispose();
    }
}
