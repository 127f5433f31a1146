using System.Text;
using Keyward.Core.Errors;

namespace Keyward.Sinks.Rendering.GitCredentials;

/// <summary><c>git-credentials</c>: the file of git's <c>store</c> helper, one <c>https://user:token@host[/path]</c>
/// per line in manifest order (git takes the first match). Encoded exactly as git's <c>store_credential_file</c>:
/// user, password and host keep only RFC 3986 unreserved characters; the path also keeps reserved ones; escapes are
/// lowercase <c>%xx</c> of each UTF-8 byte. The entry key is <c>host[:port][/path]</c>.
/// Username: see <see cref="RenderContext.Login"/>.</summary>
internal static class GitCredentialsRenderer
{
    public static byte[] Render(RenderContext context)
    {
        var sb = new StringBuilder();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var entry in context.Sink.Entries)
        {
            var key = context.Host(entry);
            var slash = key.IndexOf('/', StringComparison.Ordinal);
            var host = slash < 0 ? key : key[..slash];
            var path = slash < 0 ? null : key[(slash + 1)..];
            if (host.Length == 0)
                throw context.Error(ErrorCodes.SinkMissingHost, entry, $"key '{key}' has no host");
            var user = context.Login(entry);
            var token = context.Text(entry);
            if (token.Length == 0)
                throw context.Unrepresentable(entry, "is empty (git ignores lines without a password)");
            if (!seen.Add(host + "\n" + user + "\n" + path))
                throw context.Error(ErrorCodes.SinkInvalidKey, entry, $"host '{key}' with user '{user}' appears twice (git would only ever use the first)");
            sb.Append("https://");
            Encode(sb, user, keepReserved: false);
            sb.Append(':');
            Encode(sb, token, keepReserved: false);
            sb.Append('@');
            Encode(sb, host, keepReserved: false);
            if (path is not null)
            {
                sb.Append('/');
                Encode(sb, path, keepReserved: true);
            }
            sb.Append('\n');
        }
        return Encoding.UTF8.GetBytes(sb.ToString());
    }

    /// <summary>git's <c>strbuf_addstr_urlencode</c> with <c>is_rfc3986_unreserved</c> or <c>is_rfc3986_reserved_or_unreserved</c>.</summary>
    internal static void Encode(StringBuilder sb, string text, bool keepReserved)
    {
        foreach (var b in Encoding.UTF8.GetBytes(text))
        {
            var c = (char)b;
            if (b < 0x80 && (IsUnreserved(c) || (keepReserved && IsReserved(c))))
                sb.Append(c);
            else
                sb.Append('%').Append(b.ToString("x2", System.Globalization.CultureInfo.InvariantCulture));
        }
    }

    private static bool IsUnreserved(char c) => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or '~';

    private static bool IsReserved(char c) => c is '!' or '*' or '\'' or '(' or ')' or ';' or ':' or '@' or '&' or '=' or '+' or '$' or ',' or '/' or '?' or '#' or '[' or ']';
}
