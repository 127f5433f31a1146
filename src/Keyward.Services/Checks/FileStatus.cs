using Keyward.Sinks.Files;

namespace Keyward.Services.Checks;

/// <summary>Owner, group and permission bits of a path, as the sink check reads them: a view of the one
/// <c>statx</c> wrapper in <c>Keyward.Sinks.Files</c> (lstat semantics: a symlink is reported as itself).</summary>
internal sealed record FileStatus(uint Uid, uint Gid, int Mode, bool IsSymlink, bool IsDirectory)
{
    /// <summary>Null when the path does not exist or cannot be examined.</summary>
    public static FileStatus? Lstat(string path)
    {
        try
        {
            return Sinks.Files.FileStatus.Lstat(path) is { } s ? new FileStatus(s.Uid, s.Gid, s.Permissions, s.IsSymlink, s.IsDirectory) : null;
        }
        catch (IOException)
        {
            return null;
        }
    }
}

/// <summary>User and group names as the file writer resolves them (<see cref="Accounts"/>: NSS on the running system,
/// the root's own /etc/passwd and /etc/group under --root when it has them), so check and apply agree on owners.</summary>
internal sealed class AccountNames(Accounts accounts)
{
    public static AccountNames Load(string? root = null) => new(Accounts.For(root));

    public uint? User(string name) => accounts.UserId(name);

    public uint? Group(string name) => accounts.GroupId(name);
}
