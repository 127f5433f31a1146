using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Keyward.Core.Secrets;
using Keyward.Crypto.Nix;

namespace Keyward.Cli.Tests;

/// <summary>A cache-key rollover switches the live cache: phase two PATCHes only <c>keypair</c> on the Attic cache-config
/// endpoint, and the verification reads the cache's <c>public_key</c> back. Contract test against an in-test server that
/// answers as atticd does (200 with an empty body on PATCH, snake_case CacheConfig on GET, 401 without a token).</summary>
public sealed class CacheKeyRolloverAtticContractTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("keyward-rollover-").FullName;
    private readonly HttpListener _listener = new();
    private readonly List<(string Method, string Body)> _patches = [];
    private readonly int _port;
    private string? _keypair;

    public CacheKeyRolloverAtticContractTests()
    {
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        _port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        _listener.Prefixes.Add($"http://127.0.0.1:{_port}/");
        _listener.Start();
        _ = Task.Run(ServeAsync);
    }

    private async Task ServeAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext ctx;
            try { ctx = await _listener.GetContextAsync(); }
            catch (Exception) { return; }
            using var reader = new StreamReader(ctx.Request.InputStream);
            var body = await reader.ReadToEndAsync();
            var authorised = ctx.Request.Headers["Authorization"]?.StartsWith("bearer ", StringComparison.OrdinalIgnoreCase) == true;
            string answer = "";
            if (ctx.Request.Url!.AbsolutePath != "/_api/v1/cache-config/main") { ctx.Response.StatusCode = 404; answer = """{"code":404,"error":"NotFound","message":"The URL you requested was not found."}"""; }
            else if (!authorised) { ctx.Response.StatusCode = 401; answer = """{"code":401,"error":"Unauthorized","message":"Unauthorized."}"""; }
            else if (ctx.Request.HttpMethod == "PATCH")
            {
                lock (_patches) _patches.Add(("PATCH", body));
                _keypair = JsonNode.Parse(body)?["keypair"]?["Keypair"]?.GetValue<string>();
                ctx.Response.StatusCode = 200;
            }
            else
            {
                string? pub = null;
                if (_keypair is not null) { using var k = NixSecretKey.Parse(Secret.FromUtf8(_keypair)); pub = k.PublicKey.ToString(); }
                ctx.Response.StatusCode = 200;
                answer = new JsonObject
                {
                    ["substituter_endpoint"] = $"http://127.0.0.1:{_port}/main", ["api_endpoint"] = $"http://127.0.0.1:{_port}/",
                    ["public_key"] = pub, ["is_public"] = true, ["store_dir"] = "/nix/store", ["priority"] = 41,
                    ["upstream_cache_key_names"] = new JsonArray(), ["retention_period"] = "Global",
                }.ToJsonString();
            }
            ctx.Response.ContentType = "application/json";
            var bytes = Encoding.UTF8.GetBytes(answer);
            await ctx.Response.OutputStream.WriteAsync(bytes);
            ctx.Response.Close();
        }
    }

    public void Dispose()
    {
        _listener.Stop();
        _listener.Close();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task Rotate_CacheKey_PatchesOnlyTheKeypairOfTheLiveCache_AndVerifiesItsPublicKey()
    {
        var manifest = Path.Combine(_dir, "keyward.yaml");
        File.WriteAllText(manifest, $$"""
            apiVersion: keyward/v1
            credentials:
              jwt: { kind: secret, bytes: 32, owner: t, purpose: signs admin tokens }
              admin:
                kind: attic-token
                signedBy: jwt
                subject: admin
                validity: 30d
                owner: t
                purpose: cache administration
                caches: { "*": [pull, configure-cache] }
              cache-key:
                kind: nix-signing-key
                keyName: main-1
                owner: t
                purpose: signs the main cache
                rotation: { autoContinue: true }
            sinks:
              nixconf:
                path: /etc/nix/keyward.conf
                format: nix-conf
                mode: "0644"
                substituters: ["http://127.0.0.1:{{_port}}/main"]
                trustedPublicKeys: [cache-key]
            services:
              attic:
                kind: attic
                url: "http://127.0.0.1:{{_port}}/"
                token: admin
                caches: { main: { public: true, storeDir: /nix/store, priority: 41, upstreamCacheKeyNames: [], signingKey: cache-key } }
            """);
        var root = Path.Combine(_dir, "root");
        var state = Path.Combine(_dir, "state");
        var cli = new CliHarness();
        var applied = await cli.RunAsync("apply", "-f", manifest, "--root", root, "--state", state);
        Assert.True(applied.ExitCode == 0, applied.ToString());

        var r = await cli.RunAsync("rotate", "cache-key", "-f", manifest, "--root", root, "--state", state);
        Assert.True(r.ExitCode == 0, r.ToString());
        (string Method, string Body) patch;
        lock (_patches) patch = Assert.Single(_patches);
        using var doc = JsonDocument.Parse(patch.Body);
        Assert.Equal(["keypair"], doc.RootElement.EnumerateObject().Select(p => p.Name)); // no retention_period: no cq permission needed
        var newKey = (await new CliHarness().RunAsync("get", "cache-key", "--state", state)).StdOutBytes;
        Assert.Equal(Encoding.UTF8.GetString(newKey).Trim(), doc.RootElement.GetProperty("keypair").GetProperty("Keypair").GetString());
        Assert.StartsWith("main-2:", doc.RootElement.GetProperty("keypair").GetProperty("Keypair").GetString(), StringComparison.Ordinal);
        Assert.Contains("serves main-2:", r.Out, StringComparison.Ordinal);
        Assert.DoesNotContain(Encoding.UTF8.GetString(newKey).Trim(), cli.AllOutput.ToString(), StringComparison.Ordinal);
    }
}
