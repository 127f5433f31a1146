using System.Text;
using Keyward.Core.Errors;
using Keyward.Core.Manifest;

namespace Keyward.Sinks.Rendering.NixAccessTokens;

/// <summary><c>nix-access-tokens</c>: the Nix include file <c>access-tokens = host=token host2=token2</c> on one line,
/// in manifest order. Nix strips everything after <c>#</c> and splits on whitespace, so tokens and hosts with either
/// are refused; a host may not contain <c>=</c> (Nix splits each pair at the first one). GitLab tokens get the
/// <c>PAT:</c> prefix unless they already carry <c>PAT:</c> or <c>OAuth2:</c> (a bare token makes a malformed header).</summary>
internal static class NixAccessTokensRenderer
{
    public static byte[] Render(RenderContext context)
    {
        var pairs = context.Sink.Entries.Select(e => (Entry: e, Host: context.Host(e))).ToList();
        context.RequireUnique(pairs.Select(p => (p.Entry, p.Host)), StringComparer.Ordinal, "host");
        var sb = new StringBuilder("access-tokens =");
        foreach (var (entry, host) in pairs)
        {
            if (host.Any(c => char.IsWhiteSpace(c) || char.IsControl(c) || c is '#' or '='))
                throw context.Error(ErrorCodes.SinkInvalidKey, entry, $"host '{Printable(host)}' contains whitespace, '#' or '=' and cannot be written in nix.conf");
            var token = context.Text(entry);
            if (token.Length == 0)
                throw context.Unrepresentable(entry, "is empty");
            if (token.Any(c => char.IsWhiteSpace(c) || char.IsControl(c) || c == '#'))
                throw context.Unrepresentable(entry, "contains whitespace or '#' (nix.conf would cut it)");
            if (context.Credential(entry).Spec is ExternalCredential { Provider: ExternalProvider.GitLab }
                && !token.StartsWith("PAT:", StringComparison.Ordinal) && !token.StartsWith("OAuth2:", StringComparison.Ordinal))
                token = "PAT:" + token;
            sb.Append(' ').Append(host).Append('=').Append(token);
        }
        sb.Append('\n');
        return Encoding.UTF8.GetBytes(sb.ToString());
    }

    internal static string Printable(string s) => new(s.Select(c => char.IsControl(c) ? '?' : c).ToArray());
}
