using System.Text;
using Keyward.Core.Errors;

namespace Keyward.Sinks.Rendering.Env;

/// <summary><c>env</c>: one <c>NAME=value</c> line per entry, in manifest order. A value made only of
/// characters that need no quoting in a POSIX shell nor in a systemd EnvironmentFile is written bare;
/// anything else is double-quoted with <c>\</c> before <c>" \ ` $</c> — the one quoting both read the same way.
/// Control characters (newline, CR, NUL...) have no such common form and are refused.</summary>
internal static class EnvRenderer
{
    public static byte[] Render(RenderContext context)
    {
        context.RequireUnique(context.Sink.Entries.Select(e => (e, e.Key)), StringComparer.Ordinal, "variable");
        var sb = new StringBuilder();
        foreach (var entry in context.Sink.Entries)
        {
            if (!IsName(entry.Key))
                throw context.Error(ErrorCodes.SinkInvalidKey, entry, $"'{entry.Key}' is not a valid environment variable name ([A-Za-z_][A-Za-z0-9_]*)");
            var value = context.Text(entry);
            sb.Append(entry.Key).Append('=');
            AppendValue(sb, value, context, entry);
            sb.Append('\n');
        }
        return Encoding.UTF8.GetBytes(sb.ToString());
    }

    internal static bool IsName(string name) =>
        name.Length > 0 && (char.IsAsciiLetter(name[0]) || name[0] == '_') && name.All(c => char.IsAsciiLetterOrDigit(c) || c == '_');

    private static void AppendValue(StringBuilder sb, string value, RenderContext context, Core.Manifest.SinkEntry entry)
    {
        if (value.All(IsBare))
        {
            sb.Append(value);
            return;
        }
        sb.Append('"');
        foreach (var c in value)
        {
            if (char.IsControl(c) && c != '\t')
                throw context.Unrepresentable(entry, "contains a control character (e.g. a newline)");
            if (c is '"' or '\\' or '`' or '$') sb.Append('\\');
            sb.Append(c);
        }
        sb.Append('"');
    }

    // Safe unquoted in sh and in systemd's env-file parser (base64, hex, URLs, paths, most tokens).
    private static bool IsBare(char c) => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.' or '/' or '+' or '=' or ':' or ',' or '@' or '%';
}
