using System.Buffers;
using System.IO.Hashing;
using System.Text;
using Keyward.Core.Errors;
using Keyward.Core.Manifest;
using Keyward.Core.Secrets;
using Keyward.Crypto.Attic;

namespace Keyward.Crypto.Tokens;

/// <summary>What a token's format says it is.</summary>
public enum TokenType
{
    Unknown,
    GitHubClassicPat,
    GitHubOAuth,
    GitHubUserToServer,
    GitHubServerToServer,
    GitHubRefresh,
    GitHubFineGrainedPat,
    GitLabPat,
    GitLabRoutablePat,
    GitLabOther,
    GiteaAccessToken,
    CoderApiToken,
    OnePasswordServiceAccount,
    AtticJwt,
    Jwt,
}

/// <summary>The result of <see cref="TokenRecognizer.Recognize"/>. <see cref="ChecksumValid"/> is null when the format
/// has no checksum (or none Keyward can check). <see cref="Description"/> never contains the token.</summary>
public sealed record RecognizedToken(TokenType Type, ExternalProvider? Provider, bool? ChecksumValid, string Description);

/// <summary>
/// Recognises imported tokens by their published formats (see docs/tokens.md for sources): GitHub's prefixed tokens and
/// their CRC32/base62 checksum, GitLab's <c>glpat-</c> (including routable tokens with their CRC32/base36 checksum),
/// Gitea's 40 hex digits, Coder's <c>id-secret</c>, 1Password service-account tokens (never decoded) and Attic JWTs.
/// </summary>
public static class TokenRecognizer
{
    private static readonly SearchValues<char> Alnum = SearchValues.Create("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");
    private static readonly SearchValues<char> Word = SearchValues.Create("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_");
    private static readonly SearchValues<char> UrlSafe = SearchValues.Create("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_-");
    private static readonly SearchValues<char> Base36 = SearchValues.Create("0123456789abcdefghijklmnopqrstuvwxyz");
    private static readonly SearchValues<char> LowerHex = SearchValues.Create("0123456789abcdef");
    private const string Base62Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

    private static readonly string[] GitLabOtherPrefixes =
        ["gloas-", "gldt-", "glrt-", "glrtr-", "glcbt-", "glptt-", "glft-", "glimt-", "glagent-", "glwt-", "glsoat-", "glffct-"];

    public static RecognizedToken Recognize(Secret token)
    {
        ArgumentNullException.ThrowIfNull(token);
        // The token becomes a string only inside this method; no part of it leaves in the result.
        string t;
        try { t = new UTF8Encoding(false, true).GetString(token.Reveal()).Trim(); }
        catch (DecoderFallbackException) { return new(TokenType.Unknown, null, null, "not UTF-8 text, so no known token format"); }
        return Recognize(t);
    }

    private static RecognizedToken Recognize(string t)
    {
        if (t.Length == 0) return new(TokenType.Unknown, null, null, "empty");

        if (t.Length > 4 && t[3] == '_' && t.StartsWith("gh", StringComparison.Ordinal))
        {
            var type = t[2] switch
            {
                'p' => TokenType.GitHubClassicPat,
                'o' => TokenType.GitHubOAuth,
                'u' => TokenType.GitHubUserToServer,
                's' => TokenType.GitHubServerToServer,
                'r' => TokenType.GitHubRefresh,
                _ => TokenType.Unknown,
            };
            if (type != TokenType.Unknown && t.Length <= 255 && !t.AsSpan(4).ContainsAnyExcept(Word))
            {
                var what = GitHubName(type);
                if (t.Length == 40 && !t.AsSpan(4).ContainsAnyExcept(Alnum))
                {
                    var ok = GitHubChecksumValid(t.AsSpan(4, 30), t.AsSpan(34, 6));
                    return new(type, ExternalProvider.GitHub, ok, ok
                        ? $"GitHub {what}, checksum valid"
                        : $"GitHub {what} with a WRONG checksum: truncated or mistyped");
                }
                return new(type, ExternalProvider.GitHub, null, $"GitHub {what}, {t.Length} characters (checksum only checkable at 40)");
            }
        }

        if (t.StartsWith("github_pat_", StringComparison.Ordinal) && !t.AsSpan(11).ContainsAnyExcept(Word))
            return new(TokenType.GitHubFineGrainedPat, ExternalProvider.GitHub, null,
                t.Length == 93 ? "GitHub fine-grained personal access token" : $"GitHub fine-grained personal access token (unusual length {t.Length}, expected 93)");

        if (t.StartsWith("glpat-", StringComparison.Ordinal)) return RecognizeGitLabPat(t);
        foreach (var p in GitLabOtherPrefixes)
            if (t.StartsWith(p, StringComparison.Ordinal))
                return new(TokenType.GitLabOther, ExternalProvider.GitLab, null, $"GitLab token of kind '{p}' (not a personal access token)");

        if (t.StartsWith("ops_eyJ", StringComparison.Ordinal))
            return new(TokenType.OnePasswordServiceAccount, ExternalProvider.OnePassword, null,
                "1Password service account token (it embeds account keys; Keyward never decodes it)");

        if (t.Length == 40 && !t.AsSpan().ContainsAnyExcept(LowerHex))
            return new(TokenType.GiteaAccessToken, ExternalProvider.Gitea, null, "Gitea (or Forgejo) access token: 40 hexadecimal digits");

        var dash = t.IndexOf('-', StringComparison.Ordinal);
        if (dash == 10 && t.Length == 33 && !t.AsSpan(0, 10).ContainsAnyExcept(Alnum) && !t.AsSpan(11).ContainsAnyExcept(Alnum))
            return new(TokenType.CoderApiToken, ExternalProvider.Coder, null, "Coder API token (10-character id, '-', 22-character secret)");

        if (t.StartsWith("eyJ", StringComparison.Ordinal) && t.Count(c => c == '.') == 2)
        {
            try
            {
                var decoded = AtticTokens.Decode(t);
                return new(TokenType.AtticJwt, null, null, $"Attic JWT ({decoded.Header.Algorithm}, {decoded.Grants.Count} cache pattern(s))");
            }
            catch (KeywardException e) when (e.First.Code == ErrorCodes.AtticTokenClaims)
            {
                return new(TokenType.Jwt, null, null, "a JWT, but not an Attic token (no valid https://jwt.attic.rs/v1 claim)");
            }
            catch (KeywardException)
            {
                return new(TokenType.Unknown, null, null, "looks like a JWT but does not decode");
            }
        }

        return new(TokenType.Unknown, null, null, $"no known token format ({t.Length} characters)");
    }

    private static string GitHubName(TokenType type) => type switch
    {
        TokenType.GitHubClassicPat => "personal access token (classic, ghp_)",
        TokenType.GitHubOAuth => "OAuth access token (gho_)",
        TokenType.GitHubUserToServer => "App user-to-server token (ghu_)",
        TokenType.GitHubServerToServer => "App installation token (ghs_)",
        TokenType.GitHubRefresh => "App refresh token (ghr_)",
        _ => "token",
    };

    /// <summary>CRC32 (IEEE) of the 30 entropy characters, base62 (0-9A-Za-z), left-padded with '0' to 6 characters.</summary>
    internal static bool GitHubChecksumValid(ReadOnlySpan<char> entropy, ReadOnlySpan<char> checksum)
    {
        Span<char> expected = stackalloc char[6];
        GitHubChecksum(entropy, expected);
        return expected.SequenceEqual(checksum);
    }

    internal static void GitHubChecksum(ReadOnlySpan<char> entropy, Span<char> sixChars)
    {
        Span<byte> ascii = stackalloc byte[entropy.Length];
        Encoding.ASCII.GetBytes(entropy, ascii);
        ulong crc = Crc32.HashToUInt32(ascii);
        for (var i = 5; i >= 0; i--)
        {
            sixChars[i] = Base62Alphabet[(int)(crc % 62)];
            crc /= 62;
        }
    }

    /// <summary>
    /// Legacy: <c>glpat-</c> + 20 of <c>[0-9A-Za-z_-]</c>. Routable (gitlabhq <c>routable_token.rb</c>):
    /// <c>glpat-BASE64URL.VV.LLCCCCCCC</c> where VV is the version in base36, LL the base64 length in base36 and the
    /// last 7 characters the base36 CRC32 of everything before them, prefix included.
    /// </summary>
    private static RecognizedToken RecognizeGitLabPat(string t)
    {
        var body = t.AsSpan(6);
        if (body.Length == 20 && !body.ContainsAnyExcept(UrlSafe))
            return new(TokenType.GitLabPat, ExternalProvider.GitLab, null, "GitLab personal access token (legacy 20-character form)");
        var lastDot = body.LastIndexOf('.');
        if (lastDot > 0 && body.Length - lastDot - 1 == 9 && !body[(lastDot + 1)..].ContainsAnyExcept(Base36))
        {
            var tail = body[(lastDot + 1)..];
            var front = body[..lastDot];
            var versionDot = front.LastIndexOf('.');
            var b64 = versionDot >= 0 && front.Length - versionDot - 1 == 2 && !front[(versionDot + 1)..].ContainsAnyExcept(Base36) ? front[..versionDot] : front;
            if (b64.Length > 0 && !b64.ContainsAnyExcept(UrlSafe))
            {
                var ok = GitLabChecksumValid(t.AsSpan(0, t.Length - 7), tail[2..]);
                var lenField = ParseBase36(tail[..2]);
                var lengthMatches = lenField == b64.Length;
                var version = versionDot >= 0 && b64.Length != front.Length ? $", version {ParseBase36(front[(versionDot + 1)..])}" : "";
                var valid = ok && lengthMatches;
                return new(TokenType.GitLabRoutablePat, ExternalProvider.GitLab, valid, valid
                    ? $"GitLab routable personal access token{version} (checksum valid)"
                    : $"GitLab routable personal access token{version} with a WRONG checksum or length field: truncated or mistyped");
            }
        }
        return new(TokenType.GitLabPat, ExternalProvider.GitLab, null, $"GitLab personal access token (unrecognised layout, {t.Length} characters)");
    }

    internal static bool GitLabChecksumValid(ReadOnlySpan<char> covered, ReadOnlySpan<char> crcBase36)
    {
        Span<char> expected = stackalloc char[7];
        GitLabChecksum(covered, expected);
        return expected.SequenceEqual(crcBase36);
    }

    internal static void GitLabChecksum(ReadOnlySpan<char> covered, Span<char> sevenChars)
    {
        var ascii = new byte[Encoding.UTF8.GetByteCount(covered)];
        Encoding.UTF8.GetBytes(covered, ascii);
        ulong crc = Crc32.HashToUInt32(ascii);
        const string digits = "0123456789abcdefghijklmnopqrstuvwxyz";
        for (var i = 6; i >= 0; i--)
        {
            sevenChars[i] = digits[(int)(crc % 36)];
            crc /= 36;
        }
    }

    private static long ParseBase36(ReadOnlySpan<char> s)
    {
        long v = 0;
        foreach (var c in s) v = v * 36 + (c <= '9' ? c - '0' : c - 'a' + 10);
        return v;
    }

    /// <summary>Warnings when the recognised type disagrees with the declared provider, and when a checksum is wrong.
    /// S3 and generic credentials have no recognisable format and are never warned about.</summary>
    public static IReadOnlyList<KeywardError> CheckDeclared(RecognizedToken r, ExternalProvider declared)
    {
        ArgumentNullException.ThrowIfNull(r);
        var list = new List<KeywardError>();
        if (declared is not (ExternalProvider.S3 or ExternalProvider.Generic))
        {
            if (r.Provider is { } detected && detected != declared)
                list.Add(ErrorCodes.TokenProviderMismatch.With($"the token is declared as {declared.Name()} but looks like {r.Description}"));
            else if (r.Provider is null)
                list.Add(ErrorCodes.TokenProviderMismatch.With($"the token is declared as {declared.Name()} but does not have a {declared.Name()} token format ({r.Description})"));
        }
        if (r.ChecksumValid == false)
            list.Add(ErrorCodes.TokenChecksumInvalid.With($"{r.Description}"));
        return list;
    }
}
