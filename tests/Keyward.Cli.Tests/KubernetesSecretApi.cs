using System.Text.Json;

namespace Keyward.Cli.Tests;

/// <summary>
/// One Kubernetes Secret behind an in-test HTTP server that answers the way the Kubernetes API does (a real API server
/// cannot run here): server-side apply (PATCH of <c>/api/v1/namespaces/{ns}/secrets/{name}</c>, managed keys merged into
/// the object), GET (200 with base64 data, 404 Status NotFound), DELETE, and 403 Status Forbidden while
/// <see cref="Forbidden"/> (RBAC missing). Every request is recorded. Lock <see cref="Gate"/> around reads and edits.
/// </summary>
internal sealed class KubernetesSecretApi : IDisposable
{
    private readonly LoopbackHttpServer _server;
    private readonly string _name;
    private readonly string _namespace;

    public KubernetesSecretApi(string @namespace, string name)
    {
        _namespace = @namespace;
        _name = name;
        Path = $"/api/v1/namespaces/{@namespace}/secrets/{name}";
        _server = new LoopbackHttpServer((request, body) =>
        {
            lock (Gate)
            {
                Requests.Add((request.HttpMethod, request.Url!.AbsolutePath, request.Url.Query, request.ContentType ?? "", body));
                if (request.Url.AbsolutePath != Path) return (404, Status(404, "NotFound"));
                if (Forbidden) return (403, Status(403, "Forbidden"));
                switch (request.HttpMethod)
                {
                    case "PATCH":
                        Data ??= new Dictionary<string, string>(StringComparer.Ordinal);
                        foreach (var p in JsonDocument.Parse(body).RootElement.GetProperty("data").EnumerateObject()) Data[p.Name] = p.Value.GetString()!;
                        return (200, Object());
                    case "GET":
                        return Data is null ? (404, Status(404, "NotFound")) : (200, Object());
                    case "DELETE":
                        if (Data is null) return (404, Status(404, "NotFound"));
                        Data = null;
                        return (200, Status(200, ""));
                    default:
                        return (405, Status(405, "MethodNotAllowed"));
                }
            }
        });
    }

    public string Path { get; }

    public Lock Gate { get; } = new();

    /// <summary>The Secret's data: key → base64 value; null while the Secret does not exist.</summary>
    public Dictionary<string, string>? Data { get; set; }

    public bool Forbidden { get; set; }

    public List<(string Method, string Path, string Query, string ContentType, string Body)> Requests { get; } = [];

    public int Port => _server.Port;

    /// <summary>A kubeconfig pointing at this server, written to <paramref name="path"/>.</summary>
    public string WriteKubeconfig(string path)
    {
        File.WriteAllText(path, $$"""
            apiVersion: v1
            kind: Config
            clusters: [{ name: test, cluster: { server: "http://127.0.0.1:{{Port}}" } }]
            users: [{ name: test, user: { token: not-a-real-token } }]
            contexts: [{ name: test, context: { cluster: test, user: test } }]
            current-context: test
            """);
        return path;
    }

    private static string Status(int code, string reason) =>
        $$"""{"kind":"Status","apiVersion":"v1","metadata":{},"status":"{{(code < 300 ? "Success" : "Failure")}}","reason":"{{reason}}","code":{{code}}}""";

    private string Object() => JsonSerializer.Serialize(new Dictionary<string, object?>
    {
        ["apiVersion"] = "v1", ["kind"] = "Secret", ["type"] = "Opaque",
        ["metadata"] = new Dictionary<string, string> { ["name"] = _name, ["namespace"] = _namespace, ["resourceVersion"] = "4711" },
        ["data"] = Data,
    });

    public void Dispose() => _server.Dispose();
}
