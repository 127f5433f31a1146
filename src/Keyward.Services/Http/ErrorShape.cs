using System.Text.Json;

namespace Keyward.Services.Http;

/// <summary>How a service spells its error bodies; used to pull a readable message out of a failure.</summary>
public enum ErrorShape
{
    /// <summary>Attic: <c>{"code":401,"error":"Unauthorized","message":"Unauthorized."}</c>.</summary>
    Attic,
    /// <summary>Coder: <c>{"message":"...","detail":"...","validations":[...]}</c>.</summary>
    Coder,
    /// <summary>Gitea/Forgejo: <c>{"message":"...","url":"..."}</c>.</summary>
    Gitea,
    /// <summary>GitHub: <c>{"message":"Bad credentials","documentation_url":"..."}</c>.</summary>
    GitHub,
    /// <summary>GitLab: <c>{"message":"401 Unauthorized"}</c> or <c>{"error":"invalid_token","error_description":"..."}</c>.</summary>
    GitLab,
    /// <summary>Kubernetes Status: <c>{"kind":"Status","message":"...","reason":"NotFound"}</c>.</summary>
    Kubernetes,
    /// <summary>Anything else (a plain web server): the first line of the body.</summary>
    Plain,
}

/// <summary>A service's own words about a failure: the fields of its error body, never the request.</summary>
internal sealed record ServiceErrorBody(string? Kind, string? Message, string? Detail)
{
    public override string ToString() =>
        string.Join(": ", new[] { Kind, Message, Detail }.Where(s => !string.IsNullOrWhiteSpace(s)).Distinct(StringComparer.Ordinal));

    public static ServiceErrorBody? Parse(ErrorShape shape, string body)
    {
        if (string.IsNullOrWhiteSpace(body)) return null;
        try
        {
            using var doc = JsonDocument.Parse(body);
            if (doc.RootElement.ValueKind != JsonValueKind.Object) return Plain(body);
            var root = doc.RootElement;
            string? S(string name) => root.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
            return shape switch
            {
                ErrorShape.Attic => new ServiceErrorBody(S("error"), S("message"), null),
                ErrorShape.Coder => new ServiceErrorBody(null, S("message"), S("detail")),
                ErrorShape.Gitea or ErrorShape.GitHub => new ServiceErrorBody(null, S("message"), null),
                ErrorShape.GitLab => new ServiceErrorBody(S("error"), S("message") ?? S("error_description"), null),
                ErrorShape.Kubernetes => new ServiceErrorBody(S("reason"), S("message"), null),
                _ => new ServiceErrorBody(null, S("message") ?? S("error"), null),
            };
        }
        catch (JsonException)
        {
            return Plain(body);
        }
    }

    private static ServiceErrorBody Plain(string body)
    {
        var line = body.Trim().Split('\n', 2)[0].Trim();
        return new ServiceErrorBody(null, line.Length > 200 ? line[..200] + "…" : line, null);
    }
}
