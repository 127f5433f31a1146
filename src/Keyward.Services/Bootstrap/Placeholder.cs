namespace Keyward.Services.Bootstrap;

/// <summary>The placeholder bootstrap leaves where a token belongs, with the exact steps a human must take.</summary>
public static class Placeholder
{
    public const string Marker = "# keyward-bootstrap-placeholder";

    public static bool IsPlaceholder(string text) => text.StartsWith(Marker, StringComparison.Ordinal);

    public static string Render(string credential, string state, string instructions) =>
        $"{Marker}\n# credential: {credential}\n# state: {state}\n# This file holds no token yet. Replace its whole content with the token, then run\n#   keyward bootstrap ... {credential}\n#\n" +
        string.Join('\n', instructions.Split('\n').Select(l => "# " + l)) + "\n";
}
