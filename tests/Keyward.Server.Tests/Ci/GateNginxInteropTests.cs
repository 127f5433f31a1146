using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using Keyward.Core.Attic;
using Keyward.Core.Manifest;
using Keyward.Core.Secrets;
using Keyward.Crypto.Attic;
using Keyward.Engine;
using Keyward.Engine.Ledger;
using Keyward.Engine.Minting;
using Keyward.Store;
using Keyward.Core.Store;

namespace Keyward.Server.Tests.Ci;

/// <summary>A real Nix binary cache (tests/fixtures/nix-cache.sh) served by a real nginx whose only authentication is
/// deploy/nginx/attic-gate.conf in front of a started <c>keyward serve</c>; curl and the real nix pull through it.</summary>
public class GateFixture : IAsyncLifetime
{
    private Process? _nginx;

    public string Dir { get; } = Directory.CreateTempSubdirectory("kw-gate-").FullName;
    public int Port { get; } = Repo.FreePort();
    public string StoreDir { get; private set; } = "";
    public string StorePath { get; private set; } = "";
    public string PublicKey { get; private set; } = "";
    internal ServedState Served { get; private set; } = null!;
    public Uri Url => new($"http://127.0.0.1:{Port}/");

    /// <summary>nginx reaches serve over this Unix socket (<c>server unix:…</c>) instead of TCP loopback.</summary>
    protected virtual bool OverUnixSocket => false;

    public string SocketPath => Path.Combine(Dir, "gate.sock");

    public async ValueTask InitializeAsync()
    {
        Served = await ServedState.StartAsync("""
            apiVersion: keyward/v1
            credentials:
              attic-jwt-secret: { kind: secret, bytes: 64, owner: o, purpose: signs Attic tokens }
              reader: { kind: attic-token, signedBy: attic-jwt-secret, subject: reader, validity: 1d, caches: { main: [pull] }, owner: o, purpose: p }
            """, adjust: OverUnixSocket ? o => o with { Listen = [.. o.Listen, ListenAddress.Parse("unix:" + SocketPath)] } : null);
        var psi = new ProcessStartInfo("bash", [Path.Combine(Repo.Root, "tests", "fixtures", "nix-cache.sh"), Path.Combine(Dir, "cache"), Port.ToString(System.Globalization.CultureInfo.InvariantCulture)])
        { RedirectStandardOutput = true, RedirectStandardError = true };
        using (var p = Process.Start(psi)!)
        {
            var stdout = await p.StandardOutput.ReadToEndAsync();
            var stderr = await p.StandardError.ReadToEndAsync();
            await p.WaitForExitAsync();
            if (p.ExitCode != 0) throw new InvalidOperationException($"nix-cache.sh failed ({p.ExitCode}): {stderr}");
            var values = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split('=', 2)).ToDictionary(a => a[0], a => a[1]);
            StoreDir = values["STORE_DIR"];
            StorePath = values["STORE_PATH"];
            PublicKey = values["PUBLIC_KEY"];
        }
        var cache = Path.Combine(Dir, "cache");
        var conf = Path.Combine(Dir, "nginx.conf");
        await File.WriteAllTextAsync(conf, $$"""
            master_process off;
            worker_processes 1;
            pid {{Dir}}/nginx.pid;
            error_log {{Dir}}/error.log warn;
            events { worker_connections 256; }
            http {
              access_log off;
              client_body_temp_path {{Dir}}/body;
              proxy_temp_path {{Dir}}/proxy;
              fastcgi_temp_path {{Dir}}/fastcgi;
              uwsgi_temp_path {{Dir}}/uwsgi;
              scgi_temp_path {{Dir}}/scgi;
              types { text/x-nix-cache-info nix-cache-info; text/x-nix-narinfo narinfo; application/x-nix-nar nar; }
              default_type application/octet-stream;
              upstream keyward_gate { server {{(OverUnixSocket ? "unix:" + SocketPath : "127.0.0.1:" + Served.Url.Port)}}; keepalive 16; }
              server {
                listen 127.0.0.1:{{Port}};
                root {{cache}}/www;
                include {{Repo.Root}}/deploy/nginx/attic-gate.conf;
                location / { }
              }
            }
            """);
        _nginx = Process.Start(new ProcessStartInfo(File.Exists("/usr/sbin/nginx") ? "/usr/sbin/nginx" : "nginx", ["-c", conf, "-g", "daemon off;"])
        { RedirectStandardError = true, RedirectStandardOutput = true })!;
        for (var i = 0; i < 200; i++)
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

    /// <summary>Mints a ledgered token for the manifest's <c>reader</c> credential, as apply does (CredentialMinter, then
    /// the ledger), and returns the JWT text and its ledger id.</summary>
    public async Task<(string Jwt, string TokenId)> MintLedgeredAsync()
    {
        await using var state = await StateDirectory.OpenForWriteAsync(Served.StateDir, StateLockOptions.Default, TimeProvider.System, CancellationToken.None);
        var m = ManifestLoader.Load(Path.Combine(Served.Dir, "keyward.yaml")).OrThrow();
        // A subject of its own: two tokens minted in the same second with the same claims are the same bytes (and the
        // gate rightly treats a revocation of either as a revocation of both).
        var spec = (AtticTokenCredential)m.FindCredential("reader")! with { Subject = "reader-" + Guid.NewGuid().ToString("N") };
        using var signer = await state.Store.RevealAsync("attic-jwt-secret", 1, CancellationToken.None);
        var minted = new CredentialMinter(TimeProvider.System).MintToken(spec, new SignerValue(m.FindCredential("attic-jwt-secret")!, signer, 1), 1, state.Store.Fingerprint);
        await state.Store.RecordTokenAsync(minted.Ledger!, CancellationToken.None);
        return (minted.Value.RevealString(), minted.Ledger!.TokenId);
    }

    /// <summary>What <c>keyward revoke ID</c> runs: the engine's TokenLedger over a store opened by another connection.</summary>
    public async Task RevokeAsync(string tokenId)
    {
        await using var state = await StateDirectory.OpenForWriteAsync(Served.StateDir, StateLockOptions.Default, TimeProvider.System, CancellationToken.None);
        await new TokenLedger(state.Store, new EngineOptions { Time = TimeProvider.System }).RevokeAsync(tokenId, CancellationToken.None);
    }

    /// <summary>A token signed with the real secret but never recorded (as atticadm would make one).</summary>
    public string MintForeign(byte[] secret, DateTimeOffset notBefore, DateTimeOffset expires)
    {
        using var key = AtticSigningKey.ForSigner(CredentialKind.Secret, Secret.FromBytes(secret), "x");
        return AtticTokens.Mint(new AtticTokenRequest("someone", expires, notBefore, [new AtticGrant(CacheNamePattern.Parse("main"), [AtticPermission.Pull])]), key).Jwt.RevealString();
    }

    public async ValueTask DisposeAsync()
    {
        GC.SuppressFinalize(this);
        if (_nginx is { HasExited: false })
        {
            _nginx.Kill();
            await _nginx.WaitForExitAsync();
        }
        _nginx?.Dispose();
        await Served.DisposeAsync();
        try { Directory.Delete(Dir, true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

[Trait("Category", "Interop")]
public sealed class GateNginxInteropTests(GateFixture f) : IClassFixture<GateFixture>
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(120);

    private async Task<HttpStatusCode> CurlAsync(string? token, string path = "main/nix-cache-info")
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(f.Url, path));
        if (token is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var response = await http.SendAsync(request, TestContext.Current.CancellationToken);
        return response.StatusCode;
    }

    private async Task<(int ExitCode, string Stderr)> NixVerifyAsync(string token)
    {
        var dir = Directory.CreateTempSubdirectory("kw-gate-nix-").FullName;
        try
        {
            var netrc = Path.Combine(dir, "netrc");
            await File.WriteAllTextAsync(netrc, $"machine 127.0.0.1 login ci password {token}\n");
            var psi = new ProcessStartInfo("/usr/bin/nix",
            [
                "--extra-experimental-features", "nix-command", "store", "verify", "--no-contents",
                "--store", $"{f.Url}main?store={f.StoreDir}",
                "--option", "netrc-file", netrc,
                "--option", "narinfo-cache-positive-ttl", "0", "--option", "narinfo-cache-negative-ttl", "0",
                "--trusted-public-keys", f.PublicKey, f.StorePath,
            ])
            { RedirectStandardOutput = true, RedirectStandardError = true };
            psi.Environment["XDG_CACHE_HOME"] = Path.Combine(dir, "cache");
            psi.Environment["NIX_CONF_DIR"] = dir;
            using var p = Process.Start(psi)!;
            using var timeout = new CancellationTokenSource(Wait);
            var stderr = p.StandardError.ReadToEndAsync(timeout.Token);
            await p.StandardOutput.ReadToEndAsync(timeout.Token);
            await p.WaitForExitAsync(timeout.Token);
            return (p.ExitCode, await stderr);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public async Task Curl_pulls_through_the_gate_with_a_live_token_and_is_refused_on_the_very_next_request_after_revoke()
    {
        var (jwt, id) = await f.MintLedgeredAsync();
        Assert.Equal(HttpStatusCode.OK, await CurlAsync(jwt));
        Assert.Equal(HttpStatusCode.OK, await CurlAsync(jwt));
        await f.RevokeAsync(id);
        Assert.Equal(HttpStatusCode.Unauthorized, await CurlAsync(jwt));
    }

    [Fact]
    public async Task Nix_store_verify_succeeds_through_the_gate_with_a_live_token_and_fails_after_revoke()
    {
        var (jwt, id) = await f.MintLedgeredAsync();
        var ok = await NixVerifyAsync(jwt);
        Assert.True(ok.ExitCode == 0, "nix store verify through the gate failed: " + ok.Stderr);
        await f.RevokeAsync(id);
        var refused = await NixVerifyAsync(jwt);
        Assert.True(refused.ExitCode != 0, "nix store verify still passed after revoke");
        // Nix's words for the 401 on nix-cache-info.
        Assert.Contains("does not appear to be a binary cache", refused.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Tampered_expired_foreign_signed_and_unledgered_tokens_are_refused()
    {
        var (jwt, _) = await f.MintLedgeredAsync();
        var parts = jwt.Split('.');
        var payload = Encoding.UTF8.GetString(Convert.FromBase64String(Pad(parts[1]))).Replace("\"r\":1", "\"r\":1,\"w\":1", StringComparison.Ordinal);
        var tampered = $"{parts[0]}.{Convert.ToBase64String(Encoding.UTF8.GetBytes(payload)).TrimEnd('=').Replace('+', '-').Replace('/', '_')}.{parts[2]}";
        Assert.Equal(HttpStatusCode.Unauthorized, await CurlAsync(tampered));

        var now = TimeProvider.System.GetUtcNow();
        Assert.Equal(HttpStatusCode.Unauthorized, await CurlAsync(f.MintForeign(f.Served.JwtSecret, now.AddHours(-2), now.AddHours(-1)))); // expired
        Assert.Equal(HttpStatusCode.Unauthorized, await CurlAsync(f.MintForeign(System.Security.Cryptography.RandomNumberGenerator.GetBytes(64), now, now.AddHours(1)))); // foreign-signed
        Assert.Equal(HttpStatusCode.Unauthorized, await CurlAsync(f.MintForeign(f.Served.JwtSecret, now, now.AddHours(1)))); // right key, not minted by Keyward
        Assert.Equal(HttpStatusCode.Unauthorized, await CurlAsync("not-a-jwt"));
    }

    [Fact]
    public async Task A_live_token_is_refused_403_for_a_cache_it_does_not_grant_and_anonymous_requests_pass_to_the_cache()
    {
        var (jwt, _) = await f.MintLedgeredAsync();
        Assert.Equal(HttpStatusCode.Forbidden, await CurlAsync(jwt, "other/nix-cache-info"));
        Assert.Equal(HttpStatusCode.OK, await CurlAsync(null)); // anonymous: pass (atticd decides; here the stand-in cache is public)
    }

    private static string Pad(string b64url)
    {
        var s = b64url.Replace('-', '+').Replace('_', '/');
        return s + new string('=', (4 - s.Length % 4) % 4);
    }
}

/// <summary>The gate fixture with nginx's upstream on serve's Unix socket (<c>--listen unix:PATH</c>), not TCP.</summary>
public sealed class GateUnixSocketFixture : GateFixture
{
    protected override bool OverUnixSocket => true;
}

/// <summary>deploy/nginx/attic-gate.conf with <c>upstream keyward_gate { server unix:PATH; }</c> (the upstream names
/// nothing else, so every auth subrequest goes over the socket): the same decisions as over TCP.</summary>
[Trait("Category", "Interop")]
public sealed class GateNginxUnixSocketInteropTests(GateUnixSocketFixture f) : IClassFixture<GateUnixSocketFixture>
{
    private async Task<HttpStatusCode> CurlAsync(string? token, string path = "main/nix-cache-info")
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(f.Url, path));
        if (token is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var response = await http.SendAsync(request, TestContext.Current.CancellationToken);
        return response.StatusCode;
    }

    [Fact]
    public async Task A_live_token_passes_through_nginx_over_the_unix_socket_and_a_revoked_one_is_refused()
    {
        Assert.True(File.Exists(f.SocketPath), "serve made no socket");
        var (jwt, id) = await f.MintLedgeredAsync();
        Assert.Equal(HttpStatusCode.OK, await CurlAsync(jwt));
        Assert.Equal(HttpStatusCode.Forbidden, await CurlAsync(jwt, "other/nix-cache-info"));
        await f.RevokeAsync(id);
        Assert.Equal(HttpStatusCode.Unauthorized, await CurlAsync(jwt));
        Assert.Equal(HttpStatusCode.Unauthorized, await CurlAsync("not-a-jwt"));
    }
}
