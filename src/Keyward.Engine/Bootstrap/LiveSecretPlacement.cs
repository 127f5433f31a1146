using Keyward.Core.Errors;
using Keyward.Core.Manifest;
using Keyward.Core.Secrets;
using Keyward.Services.Bootstrap;
using Keyward.Services.Kubernetes;

namespace Keyward.Engine.Bootstrap;

/// <summary>
/// The cluster side of a bootstrap placeholder: when a token's consumer is a live <c>kubernetes-secret</c> sink, the
/// placeholder (with the instructions) is also written into that Secret's key, the instructions give the exact
/// <c>kubectl</c> command that patches the token in, and a token patched in is picked up from there. A Secret key that
/// holds anything but a placeholder is never overwritten; the sink's other keys in the Secret are kept as they are.
/// </summary>
public sealed class LiveSecretPlacement
{
    private readonly IReadOnlyList<(Sink Sink, KubernetesSecretOptions Secret, string Key)> _targets;
    private readonly Func<ILiveSecretClient> _connect;
    private readonly Action<KeywardError> _warn;
    private ILiveSecretClient? _client;

    private LiveSecretPlacement(IReadOnlyList<(Sink, KubernetesSecretOptions, string)> targets, Func<ILiveSecretClient> connect, Action<KeywardError> warn)
    {
        _targets = targets;
        _connect = connect;
        _warn = warn;
    }

    /// <summary>The live Secrets that carry <paramref name="credential"/>; null when none does.</summary>
    public static LiveSecretPlacement? For(KeywardManifest manifest, string credential, Func<ILiveSecretClient> connect, Action<KeywardError> warn)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        var targets = manifest.Sinks
            .Where(s => s.Format == SinkFormat.KubernetesSecret && s.Kubernetes is { Live: true })
            .SelectMany(s => s.Entries.Where(e => e.Credential == credential).Select(e => (s, s.Kubernetes!, e.Key)))
            .ToList();
        return targets.Count == 0 ? null : new LiveSecretPlacement(targets, connect, warn);
    }

    private ILiveSecretClient Client => _client ??= _connect();

    /// <summary>The instructions' extra lines: where in the cluster a token may go, and the command that puts it there
    /// (read without echo, so the token lands in no shell history and no process list).</summary>
    public string Instructions => string.Join('\n', _targets.Select(t =>
        $"Or patch it into the cluster's Secret {t.Secret.Namespace}/{t.Secret.Name} (key {t.Key}), where the placeholder is:\n" +
        $"  read -rs TOKEN && kubectl -n {t.Secret.Namespace} patch secret {t.Secret.Name} --type merge -p \"{{\\\"stringData\\\":{{\\\"{t.Key}\\\":\\\"$TOKEN\\\"}}}}\"; unset TOKEN"));

    /// <summary>Tokens a person patched into the Secrets (never a placeholder). A cluster that cannot be read is a warning.</summary>
    public async Task<IReadOnlyList<HeldToken>> HeldAsync(CancellationToken cancellationToken)
    {
        var held = new List<HeldToken>();
        foreach (var (_, secret, key) in _targets)
        {
            var data = await ReadAsync(secret, cancellationToken).ConfigureAwait(false);
            if (data is null) continue;
            foreach (var (k, v) in data)
            {
                if (k == key && v.Reveal().Length > 0 && !Placeholder.IsPlaceholder(v.RevealString().Trim()))
                    held.Add(new HeldToken(Secret.FromUtf8(v.RevealString().Trim()), false, $"the live Secret {secret.Namespace}/{secret.Name} (key {key})"));
                v.Dispose();
            }
        }
        return held;
    }

    /// <summary>Writes <paramref name="content"/> into each Secret's key unless it holds something other than a
    /// placeholder (with <paramref name="replaceOnly"/>: only where a placeholder is). True when any was written.</summary>
    public async Task<bool> WritePlaceholderAsync(string content, bool replaceOnly, CancellationToken cancellationToken)
    {
        var wrote = false;
        foreach (var (sink, secret, key) in _targets)
        {
            var data = await ReadAsync(secret, cancellationToken).ConfigureAwait(false);
            if (data is null) continue; // the cluster cannot be asked: warned
            var write = new Dictionary<string, Secret>(StringComparer.Ordinal);
            try
            {
                var current = data?.GetValueOrDefault(key);
                var isPlaceholder = current is not null && Placeholder.IsPlaceholder(current.RevealString());
                var empty = current is null || current.Reveal().Length == 0;
                if ((!empty && !isPlaceholder) || (replaceOnly && !isPlaceholder)) continue;
                // Server-side apply owns the keys it sends: the sink's other keys already in the Secret are sent as they are.
                foreach (var e in sink.Entries)
                    if (e.Key != key && data?.GetValueOrDefault(e.Key) is { } other) write[e.Key] = Secret.FromBytes(other.Reveal());
                write[key] = Secret.FromUtf8(content);
                await Client.ApplyAsync(secret, write, cancellationToken).ConfigureAwait(false);
                wrote = true;
            }
            catch (KeywardException ex)
            {
                _warn(ErrorCodes.KubernetesApiFailed.With($"the placeholder could not be written to Secret {secret.Namespace}/{secret.Name}: [{ex.First.Code.Code}] {ex.First.Message}"));
            }
            finally
            {
                foreach (var v in write.Values) v.Dispose();
                foreach (var v in data?.Values ?? []) v.Dispose();
            }
        }
        return wrote;
    }

    /// <summary>The Secret's data; empty when it does not exist; null (after a warning) when the cluster cannot be asked.</summary>
    private async Task<IReadOnlyDictionary<string, Secret>?> ReadAsync(KubernetesSecretOptions secret, CancellationToken cancellationToken)
    {
        try
        {
            return await Client.GetAsync(secret, cancellationToken).ConfigureAwait(false) ?? new Dictionary<string, Secret>();
        }
        catch (KeywardException ex)
        {
            _warn(ErrorCodes.KubernetesApiFailed.With($"Secret {secret.Namespace}/{secret.Name} cannot be read for the bootstrap: [{ex.First.Code.Code}] {ex.First.Message}"));
            return null;
        }
    }
}
