using System.Globalization;
using Keyward.Core.Secrets;
using Keyward.Services.Http;

namespace Keyward.Services.GitHub;

/// <summary>GitHub REST: <c>GET /user</c> validates a token; classic tokens report <c>X-OAuth-Scopes</c> and
/// expiring ones <c>GitHub-Authentication-Token-Expiration</c>. The service URL is the API root
/// (https://api.github.com/ or https://HOST/api/v3/).</summary>
public sealed class GitHubClient(ServiceHttp http)
{
    public ServiceHttp Http { get; } = http;

    public async Task<TokenValidation> ValidateAsync(Secret token, CancellationToken cancellationToken)
    {
        IReadOnlyList<RequestHeader> headers =
        [
            RequestHeader.Secret("Authorization", "Bearer ", token),
            RequestHeader.Plain("Accept", "application/vnd.github+json"),
            RequestHeader.Plain("User-Agent", "keyward"),
            RequestHeader.Plain("X-GitHub-Api-Version", "2022-11-28"),
        ];
        var r = await Http.GetAsync("user", headers, cancellationToken).ConfigureAwait(false);
        switch (r.StatusCode)
        {
            case 200:
                var scopes = r.Header("X-OAuth-Scopes") is { } s
                    ? s.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries) : null;
                return new TokenValidation(TokenStatus.Valid, "GitHub accepted the token",
                    r.ReadJson(e => e.GetProperty("login").GetString()), ParseExpiration(r.Header("GitHub-Authentication-Token-Expiration")), scopes);
            case 401:
                return new TokenValidation(TokenStatus.Invalid, "GitHub refused the token: " + r.ErrorText);
            case 403:
                return new TokenValidation(TokenStatus.UnderScoped, "GitHub accepted the token but denied /user: " + r.ErrorText);
            default:
                throw r.ToException("validating a GitHub token");
        }
    }

    /// <summary><c>2021-10-07 19:07:53 UTC</c>, also seen with a numeric offset (<c>+0000</c>, <c>-07:00</c>).</summary>
    public static DateTimeOffset? ParseExpiration(string? value)
    {
        if (string.IsNullOrWhiteSpace(value)) return null;
        var v = value.Trim();
        if (v.EndsWith(" UTC", StringComparison.Ordinal)) v = v[..^4] + " +00:00";
        string[] formats = ["yyyy-MM-dd HH:mm:ss zzz", "yyyy-MM-dd HH:mm:ss zz", "yyyy-MM-dd HH:mm:ss K", "yyyy-MM-dd HH:mm:ss zzzz"];
        if (DateTimeOffset.TryParseExact(v, formats, CultureInfo.InvariantCulture, DateTimeStyles.AllowWhiteSpaces, out var d)) return d;
        // +0000 (no colon)
        if (v.Length > 5 && (v[^5] == '+' || v[^5] == '-') && DateTimeOffset.TryParseExact(v.Insert(v.Length - 2, ":"), formats,
                CultureInfo.InvariantCulture, DateTimeStyles.AllowWhiteSpaces, out d)) return d;
        return DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out d) ? d : null;
    }
}
