using Keyward.Core.Manifest;
using Keyward.Core.Store;

namespace Keyward.Engine.Delivery;

/// <summary>
/// The public keys a trusted Nix signing key stands for wherever a sink carries it (a nix-conf sink's
/// <c>trusted-public-keys</c>, a <c>public: true</c> entry such as <c>ATTIC_PUBLIC_KEY</c>): one key normally, two while a
/// rollover or its overlap runs. Apply and rotation both ask here, and the order is always the same — oldest first — so a
/// file written by one is byte-identical to what the other would write.
/// </summary>
public static class TrustLists
{
    /// <summary>Outside a rotation: the active key, preceded by the previous key while the overlap (counted from when the
    /// active key was made) has not ended.</summary>
    public static IReadOnlyList<string> Settled(IReadOnlyList<CredentialVersion> versions, TimeSpan? overlap, DateTimeOffset now)
    {
        var active = versions.FirstOrDefault(v => v.State == VersionState.Active);
        if (PublicKey(active) is not { } key) return [];
        var previous = versions.Where(v => v.State == VersionState.Previous).MaxBy(v => v.Version);
        return overlap is { } o && PublicKey(previous) is { } old && old != key && now < active!.CreatedAt + o ? [old, key] : [key];
    }

    /// <summary>During a cache-key rollover: the old and the new key until the sink's retire step (the old one stays while an
    /// overlap is declared); the old key alone once the rotation's new version is gone (aborted).</summary>
    public static IReadOnlyList<string> InRollover(IReadOnlyList<CredentialVersion> versions, int oldVersion, bool retired, bool keepOld)
    {
        var newest = versions.Where(v => v.Version > oldVersion && v.State != VersionState.Retired).MaxBy(v => v.Version);
        if (newest is null)
            return PublicKey(versions.FirstOrDefault(v => v.State == VersionState.Active)) is { } active ? [active] : [];
        var list = new List<string>(2);
        if ((!retired || keepOld) && PublicKey(versions.FirstOrDefault(v => v.Version == oldVersion)) is { } old) list.Add(old);
        if (PublicKey(newest) is { } pk && !list.Contains(pk)) list.Add(pk);
        return list;
    }

    /// <summary>True when <paramref name="sink"/> carries the public half of <paramref name="name"/>.</summary>
    public static bool Carries(Sink sink, string name) =>
        sink.NixConf?.TrustedPublicKeys.Contains(name, StringComparer.Ordinal) == true ||
        sink.Entries.Any(e => e.Take == EntryValue.PublicKey && e.Credential == name);

    /// <summary>Every Nix signing key some sink carries the public half of (trusted-public-keys or a <c>public: true</c> entry),
    /// each once, in the order the sinks name them.</summary>
    public static IEnumerable<string> TrustedKeyNames(KeywardManifest manifest)
    {
        // A loop over the sinks, not a query per sink: apply asks this of manifests with 10,000 sinks.
        var names = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        void Consider(string name)
        {
            if (manifest.FindCredential(name) is NixSigningKeyCredential && seen.Add(name)) names.Add(name);
        }
        foreach (var s in manifest.Sinks)
        {
            if (s.NixConf is { } nixConf)
                foreach (var name in nixConf.TrustedPublicKeys) Consider(name);
            foreach (var e in s.Entries)
                if (e.Take == EntryValue.PublicKey) Consider(e.Credential);
        }
        return names;
    }

    /// <summary><see cref="Settled"/> for every trusted key of the manifest.</summary>
    /// <param name="known">The store's version list when the caller has just read it; null reads each key's versions.</param>
    public static async Task<IReadOnlyDictionary<string, IReadOnlyList<string>>> ForManifestAsync(ICredentialStore store, KeywardManifest manifest,
        IReadOnlyList<CredentialVersion>? known, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var result = new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);
        // Same per-name order as GetVersionsAsync (by version): the list is ordered by name, then version.
        var names = TrustedKeyNames(manifest).ToList();
        // Only the trusted keys' versions are gathered (not a list per credential of the store).
        Dictionary<string, List<CredentialVersion>>? byName = null;
        if (known is not null)
        {
            byName = new Dictionary<string, List<CredentialVersion>>(names.Count, StringComparer.Ordinal);
            foreach (var name in names) byName[name] = [];
            foreach (var v in known)
                if (byName.TryGetValue(v.Name, out var list)) list.Add(v);
        }
        foreach (var name in names)
        {
            var versions = byName is not null
                ? byName[name]
                : await store.GetVersionsAsync(name, cancellationToken).ConfigureAwait(false);
            var keys = Settled(versions, manifest.EffectivePolicy(manifest.FindCredential(name)!).Overlap?.Value, now);
            if (keys.Count > 0) result[name] = keys;
        }
        return result;
    }

    private static string? PublicKey(CredentialVersion? v) => v is null ? null : VersionMetadata.Of(v).PublicKey;
}
