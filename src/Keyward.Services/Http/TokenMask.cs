using System.Text.RegularExpressions;

namespace Keyward.Services.Http;

/// <summary>Masks credentials in anything that may be logged: URLs (user info, token-like query
/// parameters), header values of authentication headers, and any registered secret text.</summary>
internal static partial class TokenMask
{
    public const string Masked = "***";

    private static readonly HashSet<string> SecretHeaders = new(StringComparer.OrdinalIgnoreCase)
    {
        "Authorization", "Proxy-Authorization", "Coder-Session-Token", "PRIVATE-TOKEN", "Private-Token",
        "X-Gitea-OTP", "X-Forgejo-OTP", "Cookie", "Set-Cookie", "X-Vault-Token",
    };

    [GeneratedRegex("(?i)([?&](?:token|access_token|private_token|coder_session_token|password|secret|key|sig|signature)=)[^&#]*")]
    private static partial Regex SecretQuery();

    public static bool IsSecretHeader(string name) => SecretHeaders.Contains(name);

    /// <summary>The URL with user info and token-like query values replaced.</summary>
    public static string Url(Uri? uri)
    {
        if (uri is null) return "(none)";
        var text = uri.IsAbsoluteUri && !string.IsNullOrEmpty(uri.UserInfo)
            ? uri.GetComponents(UriComponents.AbsoluteUri & ~UriComponents.UserInfo, UriFormat.UriEscaped)
                .Replace("://", "://" + Masked + "@", StringComparison.Ordinal)
            : uri.ToString();
        return SecretQuery().Replace(text, "$1" + Masked);
    }

    /// <summary>A header value fit for a log line: authentication headers keep only their scheme.</summary>
    public static string Header(string name, string value)
    {
        if (!IsSecretHeader(name)) return value;
        var space = value.IndexOf(' ', StringComparison.Ordinal);
        return space > 0 && space < 16 ? value[..space] + " " + Masked : Masked;
    }
}
