namespace Keyward.Services.Bootstrap;

/// <summary>The placeholder bootstrap leaves where a token belongs, with the exact steps a human must take. Everything that
/// reads a token source (apply, rotate, import, check, bootstrap) recognises it by its first line and never treats it as a value.</summary>
public static class Placeholder
{
    public const string Marker = "# keyward-bootstrap-placeholder";

    public static bool IsPlaceholder(string text) => text.TrimStart().StartsWith(Marker, StringComparison.Ordinal);

    /// <param name="rerun">The exact command that picks the token up (e.g. <c>keyward bootstrap coder coder -f /etc/keyward.yaml</c>).</param>
    public static string Render(string credential, string state, string instructions, string rerun) =>
        $"{Marker}\n# credential: {credential}\n# state: {state}\n# This file holds no token yet. Replace its whole content with the token, then run\n#   {rerun}\n#\n" +
        string.Join('\n', instructions.Split('\n').Select(l => "# " + l)) + "\n";

    /// <summary>What the placeholder says once a valid token is stored: nothing to do (still recognised as a placeholder).</summary>
    public static string Resolved(string credential, int version, string rerun) =>
        $"{Marker}\n# credential: {credential}\n# state: valid\n# Keyward holds a valid token as version {version} of {credential}; nothing to do.\n" +
        $"# To replace it, put a new token here (the whole content) and run\n#   {rerun}\n";
}
