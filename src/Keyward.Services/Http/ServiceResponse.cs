using System.Net;
using System.Text.Json;
using Keyward.Core.Errors;

namespace Keyward.Services.Http;

/// <summary>A fully read answer from a service (buffered so the policy can retry and time out the
/// whole exchange). Error text is scrubbed of the credentials the request carried.</summary>
public sealed class ServiceResponse
{
    private readonly IReadOnlyList<string> _scrub;

    internal ServiceResponse(string service, HttpMethod method, Uri url, HttpStatusCode status,
        IReadOnlyDictionary<string, string> headers, string? contentType, string body, ErrorShape shape, IReadOnlyList<string> scrub)
    {
        Service = service;
        Method = method;
        Url = url;
        Status = status;
        Headers = headers;
        ContentType = contentType;
        Body = body;
        Shape = shape;
        _scrub = scrub;
    }

    public string Service { get; }
    public HttpMethod Method { get; }
    public Uri Url { get; }
    public HttpStatusCode Status { get; }
    public int StatusCode => (int)Status;
    public bool IsSuccess => StatusCode is >= 200 and < 300;
    /// <summary>Response headers (names case-insensitive; repeated headers joined with ", ").</summary>
    public IReadOnlyDictionary<string, string> Headers { get; }
    public string? ContentType { get; }
    public string Body { get; }
    public ErrorShape Shape { get; }

    public string? Header(string name) => Headers.TryGetValue(name, out var v) ? v : null;

    /// <summary>The service's own error text (scrubbed), or the status line.</summary>
    public string ErrorText
    {
        get
        {
            var parsed = ServiceErrorBody.Parse(Shape, Body)?.ToString();
            var text = string.IsNullOrWhiteSpace(parsed) ? $"{StatusCode} {Status}" : parsed;
            return Scrub(text);
        }
    }

    internal string Scrub(string text)
    {
        foreach (var s in _scrub)
            if (s.Length >= 4) text = text.Replace(s, TokenMask.Masked, StringComparison.Ordinal);
        return text;
    }

    /// <summary>What to call this exchange in messages: <c>attic GET http://host/_api/v1/cache-config/main</c>.</summary>
    public string Describe() => $"{Service} {Method} {TokenMask.Url(Url)}";

    /// <summary>The Keyward error for a non-success answer (the same mapping for every service).</summary>
    public KeywardException ToException(string? context = null)
    {
        var code = StatusCode switch
        {
            401 => ErrorCodes.ServiceUnauthorized,
            403 => ErrorCodes.ServiceForbidden,
            404 => ErrorCodes.ServiceNotFound,
            409 => ErrorCodes.ServiceConflict,
            400 when Shape == ErrorShape.Attic && Body.Contains("CacheAlreadyExists", StringComparison.Ordinal) => ErrorCodes.ServiceConflict,
            >= 500 or 408 or 429 => ErrorCodes.ServiceServerError,
            _ => ErrorCodes.ServiceRejected,
        };
        var prefix = context is null ? "" : context + ": ";
        return code.Exception($"{prefix}{Describe()} answered {StatusCode}: {ErrorText}", code == ErrorCodes.ServiceNotFound ? NotFoundHint() : null);
    }

    /// <summary>What a 404 means depends on the service: Gitea's installer answers 404 HTML to every path; Attic's missing
    /// cache is created by reconcile; elsewhere the URL or the object's name is wrong.</summary>
    private string NotFoundHint() => Shape switch
    {
        ErrorShape.Gitea when ContentType == "text/html" =>
            "Gitea's installer still runs (every API path answers 404 HTML): finish it or set GITEA__security__INSTALL_LOCK=true; `keyward bootstrap gitea NAME --wait` waits for /api/v1/version",
        ErrorShape.Attic => "check the cache name; create a missing cache with `keyward reconcile`",
        _ => "check the service's URL in the manifest and the object's name",
    };

    public ServiceResponse EnsureSuccess(string? context = null) => IsSuccess ? this : throw ToException(context);

    /// <summary>Parses the body as JSON; a body that is not the expected JSON is KW0908.</summary>
    public T ReadJson<T>(Func<JsonElement, T> read)
    {
        try
        {
            using var doc = JsonDocument.Parse(Body);
            return read(doc.RootElement);
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or KeyNotFoundException or FormatException)
        {
            throw ErrorCodes.ServiceMalformedResponse.Exception(
                $"{Describe()} answered {StatusCode} with a body that is not the expected JSON ({ex.GetType().Name})");
        }
    }
}
