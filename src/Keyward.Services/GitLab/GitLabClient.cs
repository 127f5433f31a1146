using System.Globalization;
using System.Text.Json;
using Keyward.Core.Secrets;
using Keyward.Services.Http;

namespace Keyward.Services.GitLab;

/// <summary>GitLab REST v4: <c>GET /api/v4/personal_access_tokens/self</c> with <c>PRIVATE-TOKEN</c> → scopes,
/// <c>expires_at</c> (a date, the token stops working at the start of that day UTC) and <c>active</c>/<c>revoked</c>.</summary>
public sealed class GitLabClient(ServiceHttp http)
{
    public ServiceHttp Http { get; } = http;

    public async Task<TokenValidation> ValidateAsync(Secret token, CancellationToken cancellationToken)
    {
        var r = await Http.GetAsync("api/v4/personal_access_tokens/self", [RequestHeader.Secret("PRIVATE-TOKEN", "", token)], cancellationToken).ConfigureAwait(false);
        switch (r.StatusCode)
        {
            case 200:
                return r.ReadJson(e =>
                {
                    var expires = e.TryGetProperty("expires_at", out var x) && x.ValueKind == JsonValueKind.String
                        ? DateTimeOffset.ParseExact(x.GetString()!, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal)
                        : (DateTimeOffset?)null;
                    var scopes = e.TryGetProperty("scopes", out var s) && s.ValueKind == JsonValueKind.Array
                        ? s.EnumerateArray().Select(v => v.GetString() ?? "").ToArray() : [];
                    var active = !e.TryGetProperty("active", out var a) || a.ValueKind != JsonValueKind.False;
                    var revoked = e.TryGetProperty("revoked", out var rv) && rv.ValueKind == JsonValueKind.True;
                    var name = e.TryGetProperty("name", out var n) ? n.GetString() : null;
                    return revoked || !active
                        ? new TokenValidation(TokenStatus.Invalid, revoked ? "GitLab reports the token revoked" : "GitLab reports the token inactive", name, expires, scopes)
                        : new TokenValidation(TokenStatus.Valid, "GitLab accepted the token", name, expires, scopes);
                });
            case 401:
                return new TokenValidation(TokenStatus.Invalid, "GitLab refused the token (missing, expired or revoked): " + r.ErrorText);
            case 403:
                return new TokenValidation(TokenStatus.UnderScoped, "GitLab accepted the token but denied the request: " + r.ErrorText);
            default:
                throw r.ToException("validating a GitLab token");
        }
    }
}
