using System.Text;
using Keyward.Core.Errors;
using Keyward.Core.Manifest;

namespace Keyward.Sinks.Rendering.NixConf;

/// <summary><c>nix-conf</c>: a nix.conf fragment — <c>substituters</c>, <c>trusted-public-keys</c> (credential names
/// become their public key, <c>name:base64</c> literals are kept), <c>netrc-file</c>, and one <c>!include</c> per
/// include, each line only when it has a value, written <c>name = value</c> (Nix needs <c>=</c> as its own token).
/// It never reads a credential's value, only public keys: the file may be world-readable.
/// Nix cuts a line at <c>#</c> and splits on whitespace, so items with either are refused; paths must be absolute.</summary>
internal static class NixConfRenderer
{
    public static byte[] Render(RenderContext context)
    {
        var options = context.Sink.NixConf
            ?? throw context.Error(ErrorCodes.SinkShape, null, "a nix-conf sink needs its nixConf options (substituters, trustedPublicKeys, netrcFile, includes)");
        if (context.Sink.Entries.Count > 0)
            throw context.Error(ErrorCodes.SinkShape, context.Sink.Entries[0], "a nix-conf sink takes no entries; list keys under trustedPublicKeys");

        var sb = new StringBuilder();
        if (options.Substituters.Count > 0)
            Line(sb, context, "substituters", options.Substituters);
        if (options.TrustedPublicKeys.Count > 0)
            Line(sb, context, "trusted-public-keys", options.TrustedPublicKeys.Select(k => PublicKey(context, k)));
        if (options.NetrcFile is not null)
            Line(sb, context, "netrc-file", [AbsolutePath(context, options.NetrcFile, "netrc-file")]);
        foreach (var include in options.Includes)
            sb.Append("!include ").Append(Item(context, AbsolutePath(context, include, "!include"), "!include")).Append('\n');
        return Encoding.UTF8.GetBytes(sb.ToString());
    }

    private static void Line(StringBuilder sb, RenderContext context, string name, IEnumerable<string> items) =>
        sb.Append(name).Append(" = ").AppendJoin(' ', items.Select(i => Item(context, i, name))).Append('\n');

    private static string PublicKey(RenderContext context, string reference)
    {
        if (reference.Contains(':', StringComparison.Ordinal))
            return reference; // a literal "name:base64" key
        var entry = new SinkEntry("", reference, ValueEncoding.Raw, EntryValue.PublicKey, null, null, null, context.Sink.Location);
        var key = Encoding.UTF8.GetString(context.Bytes(entry));
        if (!key.Contains(':', StringComparison.Ordinal))
            throw context.Error(ErrorCodes.SinkPublicKeyMissing, null, $"credential '{reference}' has no Nix public key (name:base64); trusted-public-keys needs a nix-signing-key");
        return key;
    }

    private static string AbsolutePath(RenderContext context, string path, string what) =>
        path.StartsWith('/') ? path : throw context.Error(ErrorCodes.SinkShape, null, $"{what} path '{path}' must be absolute");

    private static string Item(RenderContext context, string item, string what)
    {
        if (item.Length == 0 || item.Any(c => char.IsWhiteSpace(c) || char.IsControl(c) || c == '#'))
            throw context.Error(ErrorCodes.SinkShape, null, $"{what} item '{NixAccessTokens.NixAccessTokensRenderer.Printable(item)}' is empty or contains whitespace or '#', which nix.conf cannot carry");
        return item;
    }
}
