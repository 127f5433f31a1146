using System.Net;
using System.Text.Json.Nodes;
using k8s;
using k8s.Autorest;
using k8s.Exceptions;
using k8s.Models;
using Keyward.Core.Errors;
using Keyward.Core.Manifest;
using Keyward.Core.Secrets;

namespace Keyward.Services.Kubernetes;

/// <summary>How to reach the API server: an explicit kubeconfig, else $KUBECONFIG, else the pod's service account,
/// else ~/.kube/config.</summary>
public sealed record KubernetesConnection(string? KubeconfigPath = null, string? Context = null)
{
    public KubernetesClientConfiguration Resolve(Func<string, string?>? getEnv = null)
    {
        getEnv ??= Environment.GetEnvironmentVariable;
        try
        {
            var path = KubeconfigPath ?? getEnv("KUBECONFIG")?.Split(':', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault();
            if (path is not null)
            {
                if (!File.Exists(path)) throw ErrorCodes.KubeConfigInvalid.Exception($"kubeconfig {path} does not exist");
                return KubernetesClientConfiguration.BuildConfigFromConfigFile(path, currentContext: Context);
            }
            if (KubernetesClientConfiguration.IsInCluster()) return KubernetesClientConfiguration.InClusterConfig();
            var home = getEnv("HOME");
            var fallback = home is null ? null : Path.Combine(home, ".kube", "config");
            if (fallback is not null && File.Exists(fallback)) return KubernetesClientConfiguration.BuildConfigFromConfigFile(fallback, currentContext: Context);
            throw ErrorCodes.KubeConfigInvalid.Exception("no kubeconfig given, KUBECONFIG unset, not running in a pod, and ~/.kube/config missing");
        }
        catch (KubeConfigException ex)
        {
            throw ErrorCodes.KubeConfigInvalid.Exception($"the Kubernetes configuration cannot be used: {ex.Message}");
        }
    }
}

/// <summary>
/// Writes a Secret live with server-side apply (<c>application/apply-patch+yaml</c>, field manager <c>keyward</c>,
/// force): one call creates or updates it, and only the keys Keyward manages are owned by Keyward. Values go in
/// base64 <c>data</c> (<c>stringData</c> does not work well with server-side apply).
/// </summary>
public sealed class KubernetesSecretWriter(KubernetesClientConfiguration configuration) : ILiveSecretClient
{
    public const string FieldManager = "keyward";

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

    /// <summary>The Secret's data as the cluster holds it now; null when the Secret does not exist (404).</summary>
    public async Task<IReadOnlyDictionary<string, Secret>?> GetAsync(KubernetesSecretOptions options, CancellationToken cancellationToken)
    {
        using var client = new k8s.Kubernetes(configuration);
        try
        {
            var secret = await client.CoreV1.ReadNamespacedSecretAsync(options.Name, options.Namespace, cancellationToken: cancellationToken).ConfigureAwait(false);
            var data = new Dictionary<string, Secret>(StringComparer.Ordinal);
            foreach (var (k, v) in secret.Data ?? new Dictionary<string, byte[]>()) data[k] = Secret.Adopt(v);
            return data;
        }
        catch (HttpOperationException ex) when (ex.Response?.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
        catch (HttpOperationException ex)
        {
            throw Failed("reading", options, ex, "the service account needs get on secrets in that namespace");
        }
        catch (HttpRequestException ex)
        {
            throw ErrorCodes.ServiceUnreachable.Exception($"Kubernetes API {configuration.Host}: {ex.HttpRequestError}");
        }
    }

    private static KeywardException Failed(string what, KubernetesSecretOptions options, HttpOperationException ex, string forbiddenHint)
    {
        // The body may echo the object: report the status and the reason only.
        var status = ex.Response?.StatusCode ?? 0;
        var reason = ex.Response?.Content is { } body ? Http.ServiceErrorBody.Parse(Http.ErrorShape.Kubernetes, body)?.Kind : null;
        return ErrorCodes.KubernetesApiFailed.Exception(
            $"{what} Secret {options.Namespace}/{options.Name} failed: {(int)status} {reason ?? status.ToString()}",
            status is HttpStatusCode.Forbidden or HttpStatusCode.Unauthorized ? forbiddenHint : null);
    }

    /// <summary>Applies the Secret; returns its resourceVersion after the write.</summary>
    public async Task<string?> ApplyAsync(KubernetesSecretOptions options, IReadOnlyDictionary<string, Secret> data, CancellationToken cancellationToken)
    {
        using var client = new k8s.Kubernetes(configuration);
        try
        {
            var patch = new V1Patch(ApplyBody(options, data), V1Patch.PatchType.ApplyPatch);
            var result = await client.CoreV1.PatchNamespacedSecretAsync(patch, options.Name, options.Namespace,
                fieldManager: FieldManager, force: true, cancellationToken: cancellationToken).ConfigureAwait(false);
            return result.Metadata?.ResourceVersion;
        }
        catch (HttpOperationException ex)
        {
            throw Failed("applying", options, ex, "the service account needs create and patch on secrets in that namespace");
        }
        catch (HttpRequestException ex)
        {
            throw ErrorCodes.ServiceUnreachable.Exception($"Kubernetes API {configuration.Host}: {ex.HttpRequestError}");
        }
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
