using System.Text.Json.Nodes;
using Keyward.Core.Errors;
using Keyward.Core.Manifest;
using Keyward.Core.Secrets;
using Keyward.Services.Kubernetes;
using Keyward.Services.Tests.ContractServers;

namespace Keyward.Services.Tests;

/// <summary>The live Secret sink against an in-test server imitating the API server's server-side apply
/// (PATCH application/apply-patch+yaml with fieldManager and force; creates or merges; Status bodies on failure).</summary>
public sealed class KubernetesContractTests : IDisposable
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Kubeconfig(Uri url)
    {
        var path = _dir.Sub("kubeconfig");
        File.WriteAllText(path, $"""
            apiVersion: v1
            kind: Config
            clusters:
            - name: test
              cluster:
                server: {url.AbsoluteUri.TrimEnd('/')}
            users:
            - name: keyward
              user:
                token: kube-api-token-123
            contexts:
            - name: test
              context:
                cluster: test
                user: keyward
                namespace: default
            current-context: test
            """);
        return path;
    }

    private static KubernetesSecretOptions Options => new("coder-admin-token", "coder", "Opaque", new Dictionary<string, string> { ["app"] = "coder" }, Live: true);

    [Fact]
    public async Task Apply_SendsServerSideApplyWithBase64Data_AndCreatesTheSecret()
    {
        var stored = new Dictionary<string, JsonObject>();
        await using var api = new ContractServer(r =>
        {
            if (r.Method != "PATCH" || r.Path != "/api/v1/namespaces/coder/secrets/coder-admin-token")
                return ContractResponse.Json(404, "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\",\"reason\":\"NotFound\",\"code\":404}");
            var body = JsonNode.Parse(r.Body)!.AsObject();
            body["metadata"]!["resourceVersion"] = stored.ContainsKey("s") ? "2" : "1";
            var created = !stored.ContainsKey("s");
            stored["s"] = body;
            return ContractResponse.Json(created ? 201 : 200, body.ToJsonString());
        });
        var writer = new KubernetesSecretWriter(new KubernetesConnection(Kubeconfig(api.Url)).Resolve(_ => null));
        var data = new Dictionary<string, Secret> { ["token"] = Secret.FromUtf8("AAAAAAAAAA-bbbbbbbbbbbbbbbbbbbbbb") };

        Assert.Equal("1", await writer.ApplyAsync(Options, data, Ct));
        Assert.Equal("2", await writer.ApplyAsync(Options, data, Ct));

        var request = api.Requests.First();
        Assert.StartsWith("application/apply-patch+yaml", request.Header("Content-Type"), StringComparison.Ordinal);
        Assert.Contains("fieldManager=keyward", request.Query, StringComparison.Ordinal);
        Assert.Contains("force=true", request.Query, StringComparison.Ordinal);
        Assert.Equal("Bearer kube-api-token-123", request.Header("Authorization"));
        var sent = JsonNode.Parse(request.Body)!;
        Assert.Equal(("v1", "Secret", "Opaque"), ((string)sent["apiVersion"]!, (string)sent["kind"]!, (string)sent["type"]!));
        Assert.Equal(Convert.ToBase64String("AAAAAAAAAA-bbbbbbbbbbbbbbbbbbbbbb"u8), (string)sent["data"]!["token"]!);
        Assert.Null(sent["stringData"]);
        Assert.Equal("keyward", (string)sent["metadata"]!["labels"]!["app.kubernetes.io/managed-by"]!);
        Assert.DoesNotContain("AAAAAAAAAA-bbbb", request.Body, StringComparison.Ordinal); // only base64 on the wire
    }

    [Fact]
    public async Task Apply_Forbidden_IsKW1006WithoutEchoingTheObject()
    {
        await using var api = new ContractServer(r => ContractResponse.Json(403,
            "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\",\"message\":\"secrets \\\"coder-admin-token\\\" is forbidden: User \\\"system:serviceaccount:x:y\\\" cannot patch resource\",\"reason\":\"Forbidden\",\"code\":403}"));
        var writer = new KubernetesSecretWriter(new KubernetesConnection(Kubeconfig(api.Url)).Resolve(_ => null));
        var ex = await Assert.ThrowsAsync<KeywardException>(() => writer.ApplyAsync(Options, new Dictionary<string, Secret> { ["token"] = Secret.FromUtf8("s3cr3t-value") }, Ct));
        Assert.Equal(ErrorCodes.KubernetesApiFailed, ex.First.Code);
        Assert.Contains("403 Forbidden", ex.First.Message, StringComparison.Ordinal);
        Assert.Contains("create and patch", ex.First.Hint, StringComparison.Ordinal);
    }

    [Fact]
    public void Connection_KubeconfigFromEnvironment_AndMissingConfigIsKW1005()
    {
        var path = Kubeconfig(new Uri("http://127.0.0.1:1/"));
        Assert.Equal("http://127.0.0.1:1", new KubernetesConnection().Resolve(n => n == "KUBECONFIG" ? path : null).Host);
        var ex = Assert.Throws<KeywardException>(() => new KubernetesConnection(_dir.Sub("missing")).Resolve(_ => null));
        Assert.Equal(ErrorCodes.KubeConfigInvalid, ex.First.Code);
    }
}
