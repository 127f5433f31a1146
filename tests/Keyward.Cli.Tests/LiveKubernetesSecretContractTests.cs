using System.Text;
using System.Text.Json;

namespace Keyward.Cli.Tests;

/// <summary>apply with a live kubernetes-secret sink, against an in-test HTTP server that answers server-side apply the way
/// the Kubernetes API does (PATCH /api/v1/namespaces/{ns}/secrets/{name}, application/apply-patch+yaml, fieldManager, force).
/// Contract test: a real API server cannot run here.</summary>
public sealed class LiveKubernetesSecretContractTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("keyward-k8s-").FullName;
    private readonly List<(string Method, string Path, string Query, string ContentType, string Body)> _requests = [];
    private readonly LoopbackHttpServer _server;
    private int _port => _server.Port;

    public LiveKubernetesSecretContractTests() => _server = new LoopbackHttpServer((request, body) =>
    {
        lock (_requests) _requests.Add((request.HttpMethod, request.Url!.AbsolutePath, request.Url.Query, request.ContentType ?? "", body));
        return request.HttpMethod == "PATCH" && request.Url.AbsolutePath == "/api/v1/namespaces/coder/secrets/coder-admin-api-token"
            ? (200, """{"apiVersion":"v1","kind":"Secret","metadata":{"name":"coder-admin-api-token","namespace":"coder","resourceVersion":"4711"},"type":"Opaque"}""")
            : (404, """{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}""");
    });

    public void Dispose()
    {
        _server.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task Apply_LiveSecretSink_ServerSideAppliesBase64DataWithFieldManager_AndNotAgainWhenUnchanged()
    {
        var kubeconfig = Path.Combine(_dir, "kubeconfig");
        File.WriteAllText(kubeconfig, $$"""
            apiVersion: v1
            kind: Config
            clusters: [{ name: test, cluster: { server: "http://127.0.0.1:{{_port}}" } }]
            users: [{ name: test, user: { token: not-a-real-token } }]
            contexts: [{ name: test, context: { cluster: test, user: test } }]
            current-context: test
            """);
        File.WriteAllText(Path.Combine(_dir, "coder-token"), "AbCdEfGhIj-0123456789abcdefghijkl");
        var manifest = Path.Combine(_dir, "keyward.yaml");
        File.WriteAllText(manifest, """
            apiVersion: keyward/v1
            credentials:
              coder-admin-token:
                kind: external
                provider: coder
                owner: platform
                purpose: admin API token
                source: { file: coder-token }
            sinks:
              coder-secret:
                path: /var/lib/keyward/manifests/coder-admin-api-token.yaml
                format: kubernetes-secret
                mode: "0600"
                name: coder-admin-api-token
                namespace: coder
                live: true
                entries: { token: coder-admin-token }
            """);
        // Live writes go to the real cluster, never under --root: use a real (temporary) path prefix instead.
        var text = File.ReadAllText(manifest).Replace("/var/lib/keyward/manifests", Path.Combine(_dir, "out"), StringComparison.Ordinal);
        File.WriteAllText(manifest, text);
        var cli = new CliHarness();
        var state = Path.Combine(_dir, "state");

        var r = await cli.RunAsync("apply", "-f", manifest, "--state", state, "--kubeconfig", kubeconfig);
        Assert.True(r.ExitCode == 0, r.ToString());
        (string Method, string Path, string Query, string ContentType, string Body) patch;
        lock (_requests) patch = Assert.Single(_requests);
        Assert.Equal("PATCH", patch.Method);
        Assert.StartsWith("application/apply-patch+yaml", patch.ContentType, StringComparison.Ordinal);
        Assert.Contains("fieldManager=keyward", patch.Query, StringComparison.Ordinal);
        Assert.Contains("force=true", patch.Query, StringComparison.Ordinal);
        using var doc = JsonDocument.Parse(patch.Body);
        Assert.Equal("Secret", doc.RootElement.GetProperty("kind").GetString());
        var data = doc.RootElement.GetProperty("data").GetProperty("token").GetString()!;
        Assert.Equal("AbCdEfGhIj-0123456789abcdefghijkl", Encoding.UTF8.GetString(Convert.FromBase64String(data)));
        Assert.DoesNotContain("AbCdEfGhIj-0123456789abcdefghijkl", cli.AllOutput.ToString(), StringComparison.Ordinal);

        var again = await cli.RunAsync("apply", "-f", manifest, "--state", state, "--kubeconfig", kubeconfig);
        Assert.Equal(0, again.ExitCode);
        lock (_requests) Assert.Single(_requests);
    }
}
