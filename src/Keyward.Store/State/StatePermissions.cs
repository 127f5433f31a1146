using Keyward.Core.Errors;

namespace Keyward.Store;

/// <summary>
/// Issue 9: an <c>identity.txt</c> at 0644 or a state directory at 0777 was used silently. Policy (docs/store.md,
/// "Permissions"): Keyward tightens them — the identity to 0600, the directory to at most 0750 without group write
/// (0777 → 0750, 0755 → 0750) — and warns (KW0320) each time it had to; if the chmod fails (another user's files)
/// the warning says so and the command continues, since refusing would lock the owner out of a store they can read.
/// </summary>
internal static class StatePermissions
{
    private const UnixFileMode GroupOrOther = UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute
        | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    private const UnixFileMode GroupWriteOrOther = UnixFileMode.GroupWrite
        | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    public static IReadOnlyList<KeywardError> Tighten(string directory, string identityPath)
    {
        var warnings = new List<KeywardError>();
        Check(directory, GroupWriteOrOther, "state directory", warnings);
        Check(identityPath, GroupOrOther, "identity file", warnings);
        return warnings;
    }

    private static void Check(string path, UnixFileMode forbidden, string what, List<KeywardError> warnings)
    {
        UnixFileMode mode;
        try
        {
            mode = File.GetUnixFileMode(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return; // reported by the read that follows
        }
        if ((mode & forbidden) == 0) return;
        var tightened = mode & ~forbidden;
        var was = Octal(mode);
        try
        {
            File.SetUnixFileMode(path, tightened);
            warnings.Add(ErrorCodes.StatePermissionsTightened.With($"{what} {path} was mode {was}; changed to {Octal(tightened)}"));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            warnings.Add(ErrorCodes.StatePermissionsTightened.With($"{what} {path} is mode {was} and could not be changed ({IoErrorText.Describe(e)})",
                $"run `chmod {Octal(tightened)} {path}` as its owner; until then other users may read or replace it"));
        }
    }

    private static string Octal(UnixFileMode mode) => "0" + Convert.ToString((int)mode & 0xFFF, 8).PadLeft(3, '0');
}
