using System.Diagnostics.CodeAnalysis;
using System.Text.RegularExpressions;

namespace Keyward.Core.Attic;

/// <summary>An Attic cache name: <c>^[A-Za-z0-9][A-Za-z0-9_+-]{0,49}$</c>.</summary>
public static partial class CacheName
{
    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9_+-]{0,49}$", RegexOptions.CultureInvariant)]
    private static partial Regex NameRegex();

    public static bool IsValid(string? name) => name is not null && NameRegex().IsMatch(name);
}

/// <summary>
/// A cache name pattern as Attic tokens carry it: <c>^[A-Za-z0-9*][A-Za-z0-9_+*-]{0,49}$</c>, where <c>*</c>
/// matches any run of characters (including none), case-sensitively, against the whole name.
/// </summary>
public sealed partial record CacheNamePattern
{
    private CacheNamePattern(string text) => Text = text;

    public string Text { get; }

    public bool HasWildcard => Text.Contains('*', StringComparison.Ordinal);

    [GeneratedRegex("^[A-Za-z0-9*][A-Za-z0-9_+*-]{0,49}$", RegexOptions.CultureInvariant)]
    private static partial Regex PatternRegex();

    public static bool TryParse(string? text, [NotNullWhen(true)] out CacheNamePattern? pattern)
    {
        pattern = text is not null && PatternRegex().IsMatch(text) ? new CacheNamePattern(text) : null;
        return pattern is not null;
    }

    public static CacheNamePattern Parse(string text) =>
        TryParse(text, out var p) ? p : throw new FormatException($"'{text}' is not a valid Attic cache name pattern (letters, digits, '-', '_', '+' and '*', at most 50 characters, not starting with '-', '_' or '+')");

    /// <summary>Whole-string glob match where <c>*</c> is the only wildcard.</summary>
    public bool Matches(string name) => Glob(Text.AsSpan(), name.AsSpan());

    /// <summary>True when every name this pattern's <paramref name="later"/> can match is also matched by this one,
    /// i.e. a token listing this pattern first would shadow <paramref name="later"/> entirely.</summary>
    public bool Shadows(CacheNamePattern later) =>
        // A pattern shadows another if it matches the other's text with each '*' treated as a literal run:
        // sufficient for Attic's single-wildcard-kind globs.
        Glob(Text.AsSpan(), later.Text.AsSpan());

    private static bool Glob(ReadOnlySpan<char> p, ReadOnlySpan<char> s)
    {
        int pi = 0, si = 0, star = -1, mark = 0;
        while (si < s.Length)
        {
            if (pi < p.Length && p[pi] != '*' && p[pi] == s[si]) { pi++; si++; }
            else if (pi < p.Length && p[pi] == '*') { star = pi++; mark = si; }
            else if (star >= 0) { pi = star + 1; si = ++mark; }
            else return false;
        }
        while (pi < p.Length && p[pi] == '*') pi++;
        return pi == p.Length;
    }

    public override string ToString() => Text;
}

/// <summary>The seven Attic per-cache permissions, with their JWT keys and atticadm flags.</summary>
public enum AtticPermission
{
    Pull,
    Push,
    Delete,
    CreateCache,
    ConfigureCache,
    ConfigureCacheRetention,
    DestroyCache,
}

public static class AtticPermissions
{
    /// <summary>In atticadm's insertion order.</summary>
    public static IReadOnlyList<AtticPermission> All { get; } = Enum.GetValues<AtticPermission>();

    public static string JwtKey(this AtticPermission p) => p switch
    {
        AtticPermission.Pull => "r",
        AtticPermission.Push => "w",
        AtticPermission.Delete => "d",
        AtticPermission.CreateCache => "cc",
        AtticPermission.ConfigureCache => "cr",
        AtticPermission.ConfigureCacheRetention => "cq",
        AtticPermission.DestroyCache => "cd",
        _ => throw new ArgumentOutOfRangeException(nameof(p)),
    };

    /// <summary>The manifest and CLI spelling: pull, push, delete, create-cache, …</summary>
    public static string Name(this AtticPermission p) => p switch
    {
        AtticPermission.Pull => "pull",
        AtticPermission.Push => "push",
        AtticPermission.Delete => "delete",
        AtticPermission.CreateCache => "create-cache",
        AtticPermission.ConfigureCache => "configure-cache",
        AtticPermission.ConfigureCacheRetention => "configure-cache-retention",
        AtticPermission.DestroyCache => "destroy-cache",
        _ => throw new ArgumentOutOfRangeException(nameof(p)),
    };

    public static bool TryParseName(string name, out AtticPermission permission)
    {
        foreach (var p in All)
            if (p.Name() == name) { permission = p; return true; }
        permission = default;
        return false;
    }

    public static bool TryParseJwtKey(string key, out AtticPermission permission)
    {
        foreach (var p in All)
            if (p.JwtKey() == key) { permission = p; return true; }
        permission = default;
        return false;
    }
}
