using Keyward.Core.Manifest;
using Keyward.Engine.Delivery;
using Keyward.Engine.Rotation;
using Keyward.Core.Store;

namespace Keyward.Engine.Agent;

/// <summary>The server's half of delivery to a host: renders the host's sinks exactly as apply renders the authority's
/// (<see cref="SinkDelivery.Render"/>, trust lists applied) from the store's active values. While a rotation is open, a
/// cache key in rollover is trusted as the rotation trusts it on the authority's sinks (old and new until the sink's
/// retire-public-key step), so hosts trust the new key before the cache switches to it.</summary>
public static class HostBundleBuilder
{
    public static async Task<HostBundle> BuildAsync(ICredentialStore store, KeywardManifest manifest, string host, DateTimeOffset now, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(manifest);
        var sinks = manifest.SinksOfHost(host).ToArray();
        var names = sinks.SelectMany(s => s.CredentialNames).Distinct(StringComparer.Ordinal).Where(n => manifest.FindCredential(n) is not null).ToArray();
        var rotation = await RotationTrust.OpenRotationAsync(store, ct).ConfigureAwait(false);
        var values = await store.RevealActiveAsync(names, ct).ConfigureAwait(false);
        try
        {
            var resolved = SinkDelivery.ResolveAll(manifest, values);
            var rendered = new List<BundleSink>(sinks.Length);
            var pending = new List<string>();
            foreach (var sink in sinks)
            {
                if (!SinkDelivery.Renderable(sink, resolved, out _))
                {
                    pending.Add(sink.Name);
                    continue;
                }
                // Every key the sink trusts, also one only hosts trust (TrustLists.ForManifestAsync looks at the authority's sinks).
                var trust = await RotationTrust.ForSinkAsync(store, manifest, sink, rotation?.Intent,
                    key => rotation is { } r && RotationTrust.RetiredTrust(r.Intent, r.Done, sink.Name, key), now, ct).ConfigureAwait(false);
                var content = SinkDelivery.Render(sink, resolved, trust);
                rendered.Add(new BundleSink(sink.Name, sink.Path, sink.PersistRoot, sink.Mode, sink.DirectoryMode, sink.Owner, sink.Group,
                    store.Fingerprint(content), content, sink.OnChange));
            }
            return new HostBundle(host, HostBundle.VersionOf(host, rendered, store.Fingerprint), now, rendered, pending);
        }
        finally
        {
            foreach (var v in values.Values) v.Dispose();
        }
    }
}
