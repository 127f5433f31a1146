using System.Globalization;
using System.Text;
using Keyward.Core.Errors;

namespace Keyward.Sinks.Rendering.AtticConfig;

/// <summary><c>attic-config</c>: the Attic client's <c>config.toml</c>. Each entry is one server: the key is the server
/// name, <c>endpoint</c> is required, and the entry gives either <c>token-file</c> (its <c>tokenFile</c>; the value is
/// then not written) or <c>token</c> (the credential's value). <c>default-server</c> is always written: the declared
/// one, else the first server (Attic would otherwise pick an arbitrary one). TOML is written by hand: basic strings
/// with every escape TOML requires, server names bare when <c>[A-Za-z0-9_-]+</c> and quoted otherwise.</summary>
internal static class AtticConfigRenderer
{
    public static byte[] Render(RenderContext context)
    {
        var entries = context.Sink.Entries;
        if (entries.Count == 0)
            throw context.Error(ErrorCodes.SinkShape, null, "an attic-config sink needs at least one server entry");
        context.RequireUnique(entries.Select(e => (e, e.Key)), StringComparer.Ordinal, "server");
        var defaultServer = context.Sink.AtticConfig?.DefaultServer ?? entries[0].Key;
        if (!entries.Any(e => e.Key == defaultServer))
            throw context.Error(ErrorCodes.SinkShape, null, $"default-server '{defaultServer}' is not one of the sink's servers");

        var sb = new StringBuilder();
        sb.Append("default-server = ").Append(Quote(defaultServer)).Append('\n');
        foreach (var entry in entries)
        {
            if (entry.Key.Length == 0)
                throw context.Error(ErrorCodes.SinkInvalidKey, entry, "an attic-config entry needs a key (the server name)");
            if (string.IsNullOrEmpty(entry.Endpoint))
                throw context.Error(ErrorCodes.SinkShape, entry, "an attic-config entry needs an endpoint");
            sb.Append("\n[servers.").Append(Key(entry.Key)).Append("]\n");
            sb.Append("endpoint = ").Append(Quote(entry.Endpoint)).Append('\n');
            if (entry.TokenFile is not null)
                sb.Append("token-file = ").Append(Quote(entry.TokenFile)).Append('\n');
            else
                sb.Append("token = ").Append(Quote(context.Text(entry))).Append('\n');
        }
        return Encoding.UTF8.GetBytes(sb.ToString());
    }

    private static string Key(string key) =>
        key.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-') ? key : Quote(key);

    /// <summary>A TOML basic string: <c>"</c> and <c>\</c> escaped, control characters (and DEL) as short or <c>\uXXXX</c> escapes.</summary>
    internal static string Quote(string s)
    {
        var sb = new StringBuilder(s.Length + 2).Append('"');
        foreach (var c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\b': sb.Append("\\b"); break;
                case '\t': sb.Append("\\t"); break;
                case '\n': sb.Append("\\n"); break;
                case '\f': sb.Append("\\f"); break;
                case '\r': sb.Append("\\r"); break;
                default:
                    if (c < 0x20 || c == 0x7f)
                        sb.Append("\\u").Append(((int)c).ToString("X4", CultureInfo.InvariantCulture));
                    else
                        sb.Append(c);
                    break;
            }
        }
        return sb.Append('"').ToString();
    }
}
