using Keyward.Services;

namespace Keyward.Engine.Checks;

public sealed record CheckOptions
{
    /// <summary>ExpiresSoon turns True this long before expiry (default 7 days).</summary>
    public TimeSpan WarnBefore { get; init; } = TimeSpan.FromDays(7);

    /// <summary>How many checks run at once.</summary>
    public int MaxConcurrency { get; init; } = 32;

    /// <summary>Each check (all its HTTP calls) must finish within this, or it reports Unknown/Timeout.</summary>
    public TimeSpan CheckTimeout { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>Prefix for every file path (sinks, persistence roots, token files): a test root or a mounted image.</summary>
    public string? Root { get; init; }

    /// <summary>How many narinfos to verify per cache (taken from a listing when the server offers one).</summary>
    public int NarInfoSamples { get; init; } = 3;

    /// <summary>Narinfo hash parts to verify in addition to (or instead of) the listing.</summary>
    public IReadOnlyList<string> NarInfoHashes { get; init; } = [];

    /// <summary>Only these credentials (and the caches and sinks they touch); empty = everything.</summary>
    public IReadOnlyList<string> Only { get; init; } = [];

    /// <summary>Relative source paths resolve against the manifest's directory (they are inputs beside it); absolute paths
    /// are the target system's, under <see cref="Root"/> — the rule apply and bootstrap follow.</summary>
    public string? ManifestDirectory { get; init; }

    internal string Resolve(string path) =>
        !path.StartsWith('/') ? Path.GetFullPath(path, ManifestDirectory ?? Directory.GetCurrentDirectory())
        : string.IsNullOrEmpty(Root) ? path : Path.Join(Root, path[1..]);
}
