using System.Globalization;

namespace Keyward.Sinks.Files;

/// <summary>
/// The one owner lookup of Keyward (the file writer and <c>check</c> both ask it): user and group names to ids.
/// A numeric name is its own id. On the running system (no <c>--root</c>) names go through NSS
/// (<c>getpwnam_r</c>/<c>getgrnam_r</c>), so LDAP, sssd and systemd-userdb accounts resolve as every other tool sees
/// them. Under <c>--root R</c> the files belong to the system that will boot from R, whose ids are what count: when
/// <c>R/etc/passwd</c> exists, names resolve from <c>R/etc/passwd</c> and <c>R/etc/group</c> only (as
/// <c>useradd --root</c> and <c>systemd-tmpfiles --root</c> do; a name missing there is unknown, never a host id that
/// may mean someone else on the target); when R has no <c>/etc/passwd</c> (a tree being built whose accounts are made
/// at boot), the running system's NSS answers.
/// </summary>
public sealed class Accounts
{
    private readonly Dictionary<string, uint>? _users;
    private readonly Dictionary<string, uint>? _groups;

    private Accounts(Dictionary<string, uint>? users, Dictionary<string, uint>? groups) => (_users, _groups) = (users, groups);

    /// <summary>The running system's accounts (NSS).</summary>
    public static Accounts System { get; } = new(null, null);

    /// <summary>The accounts that apply to files under <paramref name="root"/> (null or "/" is the running system).</summary>
    public static Accounts For(string? root)
    {
        if (string.IsNullOrEmpty(root) || root == "/") return System;
        var etc = Path.Join(root, "etc");
        if (!File.Exists(Path.Join(etc, "passwd"))) return System;
        return new Accounts(Read(Path.Join(etc, "passwd")), Read(Path.Join(etc, "group")));
    }

    /// <summary>True when names come from a root's own <c>/etc/passwd</c> rather than this host's NSS.</summary>
    public bool FromRootFiles => _users is not null;

    public uint? UserId(string name) => Numeric(name) ?? (_users is null ? Posix.UserId(name) : _users.TryGetValue(name, out var id) ? id : null);

    public uint? GroupId(string name) => Numeric(name) ?? (_groups is null ? Posix.GroupId(name) : _groups.TryGetValue(name, out var id) ? id : null);

    private static uint? Numeric(string name) =>
        uint.TryParse(name, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : null;

    private static Dictionary<string, uint> Read(string path)
    {
        var map = new Dictionary<string, uint>(StringComparer.Ordinal) { ["root"] = 0 };
        if (!File.Exists(path)) return map;
        foreach (var line in File.ReadLines(path))
        {
            if (line.StartsWith('#')) continue;
            var f = line.Split(':');
            if (f.Length > 2 && f[0].Length > 0 && uint.TryParse(f[2], NumberStyles.None, CultureInfo.InvariantCulture, out var id))
                map.TryAdd(f[0], id);
        }
        return map;
    }
}
