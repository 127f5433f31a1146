namespace Keyward.Sinks;

/// <summary>Each way a sink's file on disk can differ from what Keyward would write. One inspection answers
/// "is this sink correct?" for <c>plan</c>, <c>apply</c> and <c>check</c> alike.</summary>
[Flags]
public enum FileDifferences
{
    None = 0,
    /// <summary>Nothing at the storage path (not even a dangling link).</summary>
    Missing = 1,
    /// <summary>A symlink, directory or device where a regular file belongs.</summary>
    NotRegularFile = 1 << 1,
    Content = 1 << 2,
    Mode = 1 << 3,
    Owner = 1 << 4,
    Group = 1 << 5,
    /// <summary>A persisted sink's storage directory has another mode than the declared <c>directoryMode</c>.</summary>
    DirectoryMode = 1 << 6,
    /// <summary>The runtime path of a persisted sink does not exist.</summary>
    LinkMissing = 1 << 7,
    /// <summary>The runtime path exists but is not a symlink to the storage path.</summary>
    LinkWrong = 1 << 8,
}

/// <summary>What <see cref="AtomicFileWriter.Inspect"/> found, with the observed values a report names.</summary>
/// <param name="Mode">The file's permission bits, when it is a regular file.</param>
/// <param name="DirectoryMode">The storage directory's permission bits (persisted sinks), null when it is missing.</param>
/// <param name="LinkTarget">What the runtime path points at, when it is a link.</param>
/// <param name="OwnerVerified">False when owners could not be compared (not running as root).</param>
public sealed record FileInspection(FileDifferences Differences, int? Mode, uint? Uid, uint? Gid, int? DirectoryMode, string? LinkTarget, bool OwnerVerified)
{
    public bool IsCurrent => Differences == FileDifferences.None;

    /// <summary>The target's <c>statx</c> as this inspection took it, before reading the content (null when nothing was there).</summary>
    public Files.FileStatus? Target { get; init; }

    /// <summary>The wall-clock time (UTC) just before <see cref="Target"/> was taken.</summary>
    public DateTime LookedAt { get; init; }

    public bool Has(FileDifferences d) => (Differences & d) != 0;
}
