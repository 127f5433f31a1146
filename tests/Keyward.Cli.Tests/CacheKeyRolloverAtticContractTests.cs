using System.Net;
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
    private readonly List<(string Method, string Body)> _patches = [];
    private readonly LoopbackHttpServer _server;
    private string? _keypair;
    private int _port => _server.Port;

    public CacheKeyRolloverAtticContractTests() => _server = new LoopbackHttpServer(Respond);

    private (int, string) Respond(HttpListenerRequest request, string body)
    {
        var authorised = request.Headers["Authorization"]?.StartsWith("bearer ", StringComparison.OrdinalIgnoreCase) == true;
        if (request.Url!.AbsolutePath != "/_api/v1/cache-config/main") return (404, """{"code":404,"error":"NotFound","message":"The URL you requested was not found."}""");
        if (!authorised) return (401, """{"code":401,"error":"Unauthorized","message":"Unauthorized."}""");
        if (request.HttpMethod == "PATCH")
        {
            lock (_patches) _patches.Add(("PATCH", body));
            _keypair = JsonNode.Parse(body)?["keypair"]?["Keypair"]?.GetValue<string>();
            return (200, "");
        }
        string? pub = null;
        if (_keypair is not null) { using var k = NixSecretKey.Parse(Secret.FromUtf8(_keypair)); pub = k.PublicKey.ToString(); }
        return (200, new JsonObject
        {
            ["substituter_endpoint"] = $"http://127.0.0.1:{_port}/main", ["api_endpoint"] = $"http://127.0.0.1:{_port}/",
            ["public_key"] = pub, ["is_public"] = true, ["store_dir"] = "/nix/store", ["priority"] = 41,
            ["upstream_cache_key_names"] = new JsonArray(), ["retention_period"] = "Global",
        }.ToJsonString());
    }

    public void Dispose()
    {
        _server.Dispose();
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
