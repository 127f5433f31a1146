using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Keyward.Core.Errors;
using Keyward.Core.Manifest;
using Keyward.Core.Secrets;

namespace Keyward.Services.Kubernetes;

/// <summary>How to reach the API server: an explicit kubeconfig, else $KUBECONFIG (its first file), else the pod's
/// service account, else ~/.kube/config.</summary>
public sealed record KubernetesConnection(string? KubeconfigPath = null, string? Context = null)
{
    public KubernetesEndpoint Resolve(Func<string, string?>? getEnv = null, string serviceAccountDirectory = KubernetesEndpoint.ServiceAccountDirectory)
    {
        getEnv ??= Environment.GetEnvironmentVariable;
        var path = KubeconfigPath ?? getEnv("KUBECONFIG")?.Split(':', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault();
        if (path is not null)
        {
            if (!File.Exists(path)) throw ErrorCodes.KubeConfigInvalid.Exception($"kubeconfig {path} does not exist");
            return KubernetesEndpoint.FromKubeconfig(path, Context);
        }
        if (KubernetesEndpoint.IsInCluster(getEnv, serviceAccountDirectory)) return KubernetesEndpoint.InCluster(getEnv, serviceAccountDirectory);
        var home = getEnv("HOME");
        var fallback = home is null ? null : Path.Combine(home, ".kube", "config");
        if (fallback is not null && File.Exists(fallback)) return KubernetesEndpoint.FromKubeconfig(fallback, Context);
        throw ErrorCodes.KubeConfigInvalid.Exception("no kubeconfig given, KUBECONFIG unset, not running in a pod, and ~/.kube/config missing");
    }
}

/// <summary>
/// Writes a Secret live with server-side apply (<c>application/apply-patch+yaml</c>, field manager <c>keyward</c>,
/// force): one call creates or updates it, and only the keys Keyward manages are owned by Keyward. Values go in
/// base64 <c>data</c> (<c>stringData</c> does not work well with server-side apply). Reads are a plain GET.
/// </summary>
public sealed class KubernetesSecretWriter(KubernetesEndpoint endpoint) : ILiveSecretClient
{
    public const string FieldManager = "keyward";

    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    internal static string ApplyBody(KubernetesSecretOptions options, IReadOnlyDictionary<string, Secret> data)
    {
        var labels = new JsonObject();
        foreach (var (k, v) in options.Labels) labels[k] = v;
        labels["app.kubernetes.io/managed-by"] = "keyward";
        var d = new JsonObject();
        foreach (var (k, v) in data.OrderBy(p => p.Key, StringComparer.Ordinal)) d[k] = Convert.ToBase64String(v.Reveal());
        return new JsonObject
        {
            ["apiVersion"] = "v1",
            ["kind"] = "Secret",
            ["metadata"] = new JsonObject { ["name"] = options.Name, ["namespace"] = options.Namespace, ["labels"] = labels },
            ["type"] = options.Type,
            ["data"] = d,
        }.ToJsonString();
    }

    private static string SecretPath(KubernetesSecretOptions options) =>
        $"api/v1/namespaces/{Uri.EscapeDataString(options.Namespace)}/secrets/{Uri.EscapeDataString(options.Name)}";

    /// <summary>The Secret's data as the cluster holds it now; null when the Secret does not exist (404).</summary>
    public async Task<IReadOnlyDictionary<string, Secret>?> GetAsync(KubernetesSecretOptions options, CancellationToken cancellationToken)
    {
        var (status, body) = await SendAsync(HttpMethod.Get, SecretPath(options), null, cancellationToken).ConfigureAwait(false);
        if (status == HttpStatusCode.NotFound) return null;
        if ((int)status is < 200 or > 299) throw Failed("reading", options, status, body, "the service account needs get on secrets in that namespace");
        var data = new Dictionary<string, Secret>(StringComparer.Ordinal);
        try
        {
            using var doc = JsonDocument.Parse(body);
            if (doc.RootElement.TryGetProperty("data", out var d) && d.ValueKind == JsonValueKind.Object)
                foreach (var p in d.EnumerateObject()) data[p.Name] = Secret.Adopt(p.Value.GetBytesFromBase64());
        }
        catch (Exception ex) when (ex is JsonException or FormatException or InvalidOperationException)
        {
            throw ErrorCodes.KubernetesApiFailed.Exception($"reading Secret {options.Namespace}/{options.Name}: the API server's answer is not a Secret object");
        }
        return data;
    }

    /// <summary>Applies the Secret; returns its resourceVersion after the write.</summary>
    public async Task<string?> ApplyAsync(KubernetesSecretOptions options, IReadOnlyDictionary<string, Secret> data, CancellationToken cancellationToken)
    {
        var content = new StringContent(ApplyBody(options, data), Encoding.UTF8);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/apply-patch+yaml") { CharSet = "utf-8" };
        var (status, body) = await SendAsync(HttpMethod.Patch, $"{SecretPath(options)}?fieldManager={FieldManager}&force=true", content, cancellationToken)
            .ConfigureAwait(false);
        if ((int)status is < 200 or > 299) throw Failed("applying", options, status, body, "the service account needs create and patch on secrets in that namespace");
        try
        {
            using var doc = JsonDocument.Parse(body);
            return doc.RootElement.TryGetProperty("metadata", out var m) && m.TryGetProperty("resourceVersion", out var rv) ? rv.GetString() : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private async Task<(HttpStatusCode Status, string Body)> SendAsync(HttpMethod method, string path, HttpContent? content, CancellationToken cancellationToken)
    {
        using var client = endpoint.CreateClient(Timeout);
        using var request = new HttpRequestMessage(method, path) { Content = content };
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        await endpoint.AuthorizeAsync(request, cancellationToken).ConfigureAwait(false);
        try
        {
            using var response = await client.SendAsync(request, cancellationToken).ConfigureAwait(false);
            return (response.StatusCode, await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false));
        }
        catch (HttpRequestException ex)
        {
            throw ErrorCodes.ServiceUnreachable.Exception($"Kubernetes API {endpoint.Host}: {ex.HttpRequestError}");
        }
        catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw ErrorCodes.ServiceUnreachable.Exception($"Kubernetes API {endpoint.Host}: no answer within {Timeout.TotalSeconds:0} s");
        }
    }

    private static KeywardException Failed(string what, KubernetesSecretOptions options, HttpStatusCode status, string body, string forbiddenHint)
    {
        // The body may echo the object: report the status and the reason only.
        var reason = body.Length > 0 ? Http.ServiceErrorBody.Parse(Http.ErrorShape.Kubernetes, body)?.Kind : null;
        return ErrorCodes.KubernetesApiFailed.Exception(
            $"{what} Secret {options.Namespace}/{options.Name} failed: {(int)status} {reason ?? status.ToString()}",
            status is HttpStatusCode.Forbidden or HttpStatusCode.Unauthorized ? forbiddenHint : null);
    }
}

/// <summary>The live Secrets of <c>kubernetes-secret</c> sinks with <c>live: true</c>: read and server-side apply.
/// The engine depends on this, not on the Kubernetes client, so tests and other front ends can supply their own.</summary>
public interface ILiveSecretClient
{
    /// <summary>The Secret's data now; null when it does not exist.</summary>
    Task<IReadOnlyDictionary<string, Secret>?> GetAsync(KubernetesSecretOptions options, CancellationToken cancellationToken);

    /// <summary>Creates or updates the Secret's managed keys; returns its resourceVersion.</summary>
    Task<string?> ApplyAsync(KubernetesSecretOptions options, IReadOnlyDictionary<string, Secret> data, CancellationToken cancellationToken);
}
