namespace Keyward.Sinks;

/// <summary>One file to write. <paramref name="Path"/> is where the bytes live (the storage path of a persisted sink);
/// <paramref name="SymlinkFrom"/>, when set, is the runtime path that must be a symlink to it.
/// <paramref name="Owner"/> and <paramref name="Group"/> are names or numeric ids; null leaves them as created.</summary>
public sealed record FileWriteRequest(string Path, byte[] Content, int Mode, int DirectoryMode, string? Owner, string? Group, string? SymlinkFrom)
{
    /// <summary>The file's directory must have exactly <see cref="DirectoryMode"/> even when it already exists
    /// (persisted sinks: the directory under the persistence root is theirs alone).</summary>
    public bool EnforceDirectoryMode { get; init; }
}

public enum FileWriteOutcome
{
    /// <summary>The file did not exist and was written.</summary>
    Created,
    /// <summary>Content, mode, owner or the runtime symlink changed.</summary>
    Updated,
    /// <summary>Nothing was touched: same inode, same mtime.</summary>
    Unchanged,
}
