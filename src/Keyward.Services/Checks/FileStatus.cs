using System.Runtime.InteropServices;

namespace Keyward.Services.Checks;

/// <summary>Owner, group and mode of a path, read with Linux <c>statx(2)</c> (its struct layout is the same on
/// every architecture, unlike <c>struct stat</c>); .NET exposes the mode but not the owner.</summary>
internal sealed record FileStatus(uint Uid, uint Gid, int Mode, bool IsSymlink, bool IsDirectory)
{
    private const int AtFdCwd = -100;
    private const int AtSymlinkNoFollow = 0x100;
    private const uint StatxBasicStats = 0x7ff;

    [DllImport("libc", SetLastError = true, EntryPoint = "statx")]
    private static extern unsafe int Statx(int dirfd, byte* path, int flags, uint mask, byte* buffer);

    /// <summary>Null when the path does not exist (lstat semantics: a symlink is reported as itself).</summary>
    public static unsafe FileStatus? Lstat(string path)
    {
        var bytes = System.Text.Encoding.UTF8.GetBytes(path + "\0");
        var buffer = stackalloc byte[256];
        fixed (byte* p = bytes)
        {
            if (Statx(AtFdCwd, p, AtSymlinkNoFollow, StatxBasicStats, buffer) != 0) return null;
        }
        // struct statx: u32 mask; u32 blksize; u64 attributes; u32 nlink; u32 uid; u32 gid; u16 mode; ...
        var uid = *(uint*)(buffer + 20);
        var gid = *(uint*)(buffer + 24);
        var mode = *(ushort*)(buffer + 28);
        var type = mode & 0xF000;
        return new FileStatus(uid, gid, mode & 0xFFF, type == 0xA000, type == 0x4000);
    }
}

/// <summary>User and group names from /etc/passwd and /etc/group (names in the manifest may also be numbers).</summary>
internal sealed class AccountNames
{
    private readonly Dictionary<string, uint> _users;
    private readonly Dictionary<string, uint> _groups;

    private AccountNames(Dictionary<string, uint> users, Dictionary<string, uint> groups) => (_users, _groups) = (users, groups);

    public static AccountNames Load(string? root = null)
    {
        static Dictionary<string, uint> Read(string path)
        {
            var map = new Dictionary<string, uint>(StringComparer.Ordinal);
            if (!File.Exists(path)) return map;
            foreach (var line in File.ReadLines(path))
            {
                var f = line.Split(':');
                if (f.Length > 2 && uint.TryParse(f[2], System.Globalization.CultureInfo.InvariantCulture, out var id)) map.TryAdd(f[0], id);
            }
            return map;
        }
        // Accounts are the running system's even under --root, unless the root carries its own /etc.
        var etc = root is not null && File.Exists(Path.Join(root, "etc/passwd")) ? Path.Join(root, "etc") : "/etc";
        var users = Read(Path.Join(etc, "passwd"));
        users.TryAdd("root", 0);
        var groups = Read(Path.Join(etc, "group"));
        groups.TryAdd("root", 0);
        return new AccountNames(users, groups);
    }

    public uint? User(string name) => uint.TryParse(name, System.Globalization.CultureInfo.InvariantCulture, out var n) ? n : _users.TryGetValue(name, out var id) ? id : null;

    public uint? Group(string name) => uint.TryParse(name, System.Globalization.CultureInfo.InvariantCulture, out var n) ? n : _groups.TryGetValue(name, out var id) ? id : null;
}
