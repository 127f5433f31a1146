using System.Net;
using System.Text.Json.Nodes;
using Keyward.Core.Secrets;
using Keyward.Crypto.Attic;

namespace Keyward.Cli.Tests.Rotation;

/// <summary>Rotation's verify steps ask the live service. Contract test against an in-test server that answers as atticd
/// does: it verifies bearer JWTs (HS256) with the secret from the env file it was started with, treats an invalid token
/// as anonymous (401 on a private cache), and returns snake_case CacheConfig with 200 for a token that may pull.</summary>
public sealed class RotationVerifyAtticContractTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("keyward-rotverify-").FullName;
    private readonly LoopbackHttpServer _server;
    private readonly List<string> _paths = [];
    private Secret? _loaded;        // the secret atticd read at its last start
    private bool _restartsOnChange; // true: atticd is restarted by the hook and reads the new env file

    public RotationVerifyAtticContractTests() => _server = new LoopbackHttpServer(Respond);

    private string EnvFile => Path.Combine(_dir, "root/run/keyward/atticd.env");

    private (int, string) Respond(HttpListenerRequest request, string body)
    {
        lock (_paths) _paths.Add(request.Url!.AbsolutePath);
        if (request.Url.AbsolutePath != "/_api/v1/cache-config/main") return (404, """{"code":404,"error":"NotFound","message":"The URL you requested was not found."}""");
        if (_restartsOnChange || _loaded is null) _loaded = SecretFromEnv();
        var auth = request.Headers["Authorization"];
        var valid = false;
        if (auth?.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) == true)
        {
            try
            {
                using var key = AtticSigningKey.Hs256(_loaded);
                AtticTokens.Verify(auth[7..], key, TimeProvider.System);
                valid = true;
            }
            catch (Core.Errors.KeywardException) { /* atticd: an invalid token is anonymous */ }
        }
        if (!valid) return (401, """{"code":401,"error":"Unauthorized","message":"Unauthorized."}""");
        return (200, new JsonObject
        {
            ["substituter_endpoint"] = $"http://127.0.0.1:{_server.Port}/main", ["api_endpoint"] = $"http://127.0.0.1:{_server.Port}/",
            ["public_key"] = "main-1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", ["is_public"] = false, ["store_dir"] = "/nix/store", ["priority"] = 41,
            ["upstream_cache_key_names"] = new JsonArray(), ["retention_period"] = "Global",
        }.ToJsonString());
    }

    private Secret SecretFromEnv()
    {
        var line = File.ReadAllLines(EnvFile).Single(l => l.StartsWith("ATTIC_SERVER_TOKEN_HS256_SECRET_BASE64=", StringComparison.Ordinal));
        return Secret.Adopt(Convert.FromBase64String(line.Split('=', 2)[1]));
    }

    public void Dispose()
    {
        _server.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    private async Task<(string Manifest, CliHarness Cli, string[] Common)> ApplyAsync()
    {
        var manifest = Path.Combine(_dir, "keyward.yaml");
        File.WriteAllText(manifest, $$"""
            apiVersion: keyward/v1
            credentials:
              jwt: { kind: secret, bytes: 32, owner: t, purpose: signs tokens }
              admin:
                kind: attic-token
                signedBy: jwt
                subject: admin
                validity: 30d
                owner: t
                purpose: cache administration
                caches: { "*": [pull, configure-cache] }
            sinks:
              atticd-env:
                path: /run/keyward/atticd.env
                format: env
                mode: "0400"
                entries: { ATTIC_SERVER_TOKEN_HS256_SECRET_BASE64: { credential: jwt, encoding: base64 } }
                onChange: { restart: atticd.service }
            services:
              attic:
                kind: attic
                url: "http://127.0.0.1:{{_server.Port}}/"
                token: admin
                caches: { main: { public: false, storeDir: /nix/store, priority: 41, upstreamCacheKeyNames: [] } }
            """);
        var common = new[] { "-f", manifest, "--root", Path.Combine(_dir, "root"), "--state", Path.Combine(_dir, "state") };
        var cli = new CliHarness();
        var r = await cli.RunAsync(["apply", .. common]);
        Assert.True(r.ExitCode == 0, r.ToString());
        return (manifest, cli, common);
    }

    [Fact]
    public async Task RotateJwtSecret_AtticAcceptsTheReMintedToken_VerifyStepsReportVerified()
    {
        var (_, cli, common) = await ApplyAsync();
        _restartsOnChange = true;
        var r = await cli.RunAsync(["rotate", "jwt", .. common]);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("attic: verified", r.Out, StringComparison.Ordinal);
        Assert.Contains("live admin: verified", r.Out, StringComparison.Ordinal);
        Assert.DoesNotContain("not checked here", r.Out, StringComparison.Ordinal);
        lock (_paths) Assert.Contains("/_api/v1/cache-config/main", _paths);
    }

    [Fact]
    public async Task RotateJwtSecret_AtticStillHasTheOldSecret_RotationStopsAtVerify_AndAbortRestores()
    {
        var (_, cli, common) = await ApplyAsync();
        _restartsOnChange = false;
        _loaded = SecretFromEnv(); // atticd started with version 1 and is never restarted
        var r = await cli.RunAsync(["rotate", "jwt", .. common]);
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("KW0808", r.Err, StringComparison.Ordinal);
        Assert.Contains("Rejected", r.Err, StringComparison.Ordinal);
        var abort = await cli.RunAsync(["rotate", "--abort", .. common]);
        Assert.True(abort.ExitCode == 0, abort.ToString());
        var check = await cli.RunAsync(["check", .. common]);
        Assert.True(check.ExitCode == 0, check.ToString()); // the old secret and token are active again and accepted
    }
}
