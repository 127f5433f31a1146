using System.Security.Cryptography;
using Keyward.Core.Errors;
using Keyward.Core.Manifest;
using Keyward.Core.Secrets;
using Keyward.Services.Kubernetes;
using Keyward.Sinks;

namespace Keyward.Engine.Delivery;

public enum LiveState
{
    /// <summary>Every key Keyward manages holds the stored value.</summary>
    InSync,
    Missing,
    Differs,
    /// <summary>The cluster could not be asked (unreachable, forbidden, no kubeconfig): nothing is known.</summary>
    Unreadable,
    /// <summary>Under <c>--root</c> the files belong to another system; its cluster is not ours to read or write.</summary>
    NotHere,
}

/// <summary>What the cluster holds for a live <c>kubernetes-secret</c> sink, compared key by key (managed keys only;
/// keys others added are left alone).</summary>
public sealed record LiveInspection(LiveState State, string Message);

/// <summary>
/// The live half of a <c>kubernetes-secret</c> sink with <c>live: true</c>: apply writes the Secret whenever the cluster's
/// copy is missing or differs (not only when the file changed, so a deleted Secret, a foreign edit or a write that failed
/// last time is repaired by the next apply); plan and check compare it the same way.
/// </summary>
public sealed class LiveSecrets(EngineOptions options)
{
    private ILiveSecretClient? _client;

    private ILiveSecretClient Client => _client ??= options.LiveSecrets
        ?? new KubernetesSecretWriter(new KubernetesConnection(options.Kubeconfig).Resolve(options.GetEnv));

    private static string Name(KubernetesSecretOptions k) => $"live Secret {k.Namespace}/{k.Name}";

    public async Task<LiveInspection> InspectAsync(Sink sink, IReadOnlyDictionary<string, ResolvedCredential> resolved, CancellationToken cancellationToken)
    {
        var k8s = sink.Kubernetes ?? throw new ArgumentException($"sink '{sink.Name}' is not a kubernetes-secret sink", nameof(sink));
        if (options.Root is not null) return new(LiveState.NotHere, $"{Name(k8s)} is not compared under --root");
        var want = SinkRenderer.EntryValues(sink, resolved);
        IReadOnlyDictionary<string, Secret>? live = null;
        try
        {
            live = await Client.GetAsync(k8s, cancellationToken).ConfigureAwait(false);
            if (live is null) return new(LiveState.Missing, $"{Name(k8s)} does not exist in the cluster");
            var differing = sink.Entries
                .Where(e => !live.TryGetValue(e.Key, out var v) || !CryptographicOperations.FixedTimeEquals(v.Reveal(), want[e.Key].Reveal()))
                .Select(e => $"{e.Key} ({e.Credential})").ToArray();
            return differing.Length == 0
                ? new(LiveState.InSync, $"{Name(k8s)} holds the stored values")
                : new(LiveState.Differs, $"{Name(k8s)}: {string.Join(", ", differing)} {(differing.Length == 1 ? "differs" : "differ")} from the store");
        }
        catch (KeywardException ex)
        {
            return new(LiveState.Unreadable, $"{Name(k8s)} cannot be read: [{ex.First.Code.Code}] {ex.First.Message}");
        }
        finally
        {
            foreach (var v in want.Values) v.Dispose();
            foreach (var v in live?.Values ?? []) v.Dispose();
        }
    }

    /// <summary>Writes the Secret when the cluster's copy is missing, differs or cannot be read. True when it wrote.</summary>
    public async Task<bool> EnsureAsync(Sink sink, IReadOnlyDictionary<string, ResolvedCredential> resolved, CancellationToken cancellationToken)
    {
        var k8s = sink.Kubernetes!;
        if (options.Root is not null)
        {
            options.Warn(ErrorCodes.KubernetesApiFailed.At(sink.Location, $"sink '{sink.Name}': not applied to the cluster under --root (the manifest file was written)"));
            return false;
        }
        var now = await InspectAsync(sink, resolved, cancellationToken).ConfigureAwait(false);
        if (now.State == LiveState.InSync) return false;
        var data = SinkRenderer.EntryValues(sink, resolved);
        try
        {
            var version = await Client.ApplyAsync(k8s, data, cancellationToken).ConfigureAwait(false);
            options.Progress?.Invoke($"applied Secret {k8s.Namespace}/{k8s.Name} (resourceVersion {version})");
            return true;
        }
        finally
        {
            foreach (var v in data.Values) v.Dispose();
        }
    }
}
