using System.Text;
using Keyward.Core.Errors;
using Keyward.Core.Manifest;

namespace Keyward.Sinks.Rendering.Netrc;

/// <summary><c>netrc</c>, Attic style (<c>machine HOST</c>, <c>password TOKEN</c>, one keyword per line, manifest order) but
/// always with a <c>login</c> line between them (<see cref="RenderContext.Login"/>): curl 7.88 (Debian 12) ignores a
/// login-less entry unless it is the last one in the file, and atticd reads only the password of Basic credentials.
/// netrc tokens are whitespace-separated; quoting exists only since curl 7.84 and a leading <c>#</c> ends the line,
/// so values with whitespace, control characters, or a leading <c>"</c> or <c>#</c> are refused rather than quoted.</summary>
internal static class NetrcRenderer
{
    public static byte[] Render(RenderContext context)
    {
        var pairs = context.Sink.Entries.Select(e => (Entry: e, Host: context.Host(e))).ToList();
        // curl matches machine names case-insensitively and uses the first: a second entry would be dead.
        context.RequireUnique(pairs.Select(p => (p.Entry, p.Host)), StringComparer.OrdinalIgnoreCase, "machine");
        var sb = new StringBuilder();
        foreach (var (entry, host) in pairs)
        {
            if (!IsWord(host))
                throw context.Error(ErrorCodes.SinkInvalidKey, entry, $"machine '{NixAccessTokens.NixAccessTokensRenderer.Printable(host)}' cannot be written in a netrc file");
            sb.Append("machine ").Append(host).Append('\n');
            var login = context.Login(entry);
            if (!IsWord(login))
                throw context.Error(ErrorCodes.SinkValueNotRepresentable, entry, "the login contains whitespace or starts with '#' or '\"' and cannot be written in a netrc file");
            sb.Append("login ").Append(login).Append('\n');
            var token = context.Text(entry);
            if (!IsWord(token))
                throw context.Unrepresentable(entry, "is empty, contains whitespace, or starts with '#' or '\"'");
            sb.Append("password ").Append(token).Append('\n');
        }
        return Encoding.UTF8.GetBytes(sb.ToString());
    }

    private static bool IsWord(string s) =>
        s.Length > 0 && s[0] is not ('#' or '"') && !s.Any(c => char.IsWhiteSpace(c) || char.IsControl(c));
}
