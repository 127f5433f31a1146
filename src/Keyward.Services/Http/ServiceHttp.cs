using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Keyward.Core.Errors;
using Keyward.Core.Secrets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Polly;
using Polly.Retry;
using Polly.Timeout;

namespace Keyward.Services.Http;

/// <summary>One header of a request; secret values are revealed only into the request itself.</summary>
public readonly record struct RequestHeader(string Name, string Value, bool IsSecret)
{
    public static RequestHeader Plain(string name, string value) => new(name, value, false);

    public static RequestHeader Secret(string name, string prefix, Secret value) => new(name, prefix + value.RevealString(), true);

    /// <summary>The part of the value that must never be logged (the value without its scheme).</summary>
    internal string SecretPart => Value.IndexOf(' ', StringComparison.Ordinal) is var i and > 0 && i < 16 ? Value[(i + 1)..] : Value;
}

/// <summary>
/// The HTTP edge of every service adapter: one resilience policy (total timeout ⊃ retries with exponential
/// back-off and jitter for idempotent requests only ⊃ per-attempt timeout), buffered answers, token masking in
/// logs, and translation of transport failures to KW0901/KW0902. Status codes are left to the adapter
/// (401 vs 403 vs 404 mean different things per service); <see cref="ServiceResponse.ToException"/> maps them.
/// </summary>
public sealed partial class ServiceHttp
{
    private readonly HttpClient _client;
    private readonly ServiceHttpOptions _options;
    private readonly ILogger _logger;
    private readonly ResiliencePipeline<ServiceResponse> _idempotent;
    private readonly ResiliencePipeline<ServiceResponse> _once;

    public ServiceHttp(string service, Uri baseUrl, ErrorShape shape, HttpClient client,
        ServiceHttpOptions? options = null, TimeProvider? time = null, ILogger? logger = null)
    {
        if (!baseUrl.IsAbsoluteUri || (baseUrl.Scheme != Uri.UriSchemeHttp && baseUrl.Scheme != Uri.UriSchemeHttps))
            throw ErrorCodes.ServiceUrlInvalid.Exception($"service '{service}': '{TokenMask.Url(baseUrl)}' is not an absolute http(s) URL");
        Service = service;
        BaseUrl = baseUrl.AbsoluteUri.EndsWith('/') ? baseUrl : new Uri(baseUrl.AbsoluteUri + "/");
        Shape = shape;
        _client = client;
        _options = options ?? ServiceHttpOptions.Default;
        _options.Validate();
        Time = time ?? TimeProvider.System;
        _logger = logger ?? NullLogger.Instance;
        _idempotent = Build(retry: true);
        _once = Build(retry: false);
    }

    public string Service { get; }
    public Uri BaseUrl { get; }
    public ErrorShape Shape { get; }
    public TimeProvider Time { get; }

    /// <summary>A client for loopback and LAN services: no proxy from the environment, no automatic redirects
    /// to other hosts carrying tokens, no client-side timeout (the policy owns time).</summary>
    public static HttpClient CreateClient() => new(new SocketsHttpHandler
    {
        AllowAutoRedirect = false,
        PooledConnectionLifetime = TimeSpan.FromMinutes(5),
        ConnectTimeout = TimeSpan.FromSeconds(10),
        MaxConnectionsPerServer = 64,
    })
    { Timeout = Timeout.InfiniteTimeSpan };

    internal static bool IsIdempotent(HttpMethod m) =>
        m == HttpMethod.Get || m == HttpMethod.Head || m == HttpMethod.Put || m == HttpMethod.Delete || m == HttpMethod.Options;

    internal static bool IsTransient(HttpStatusCode s) => (int)s is 408 or 429 or >= 500;

    private ResiliencePipeline<ServiceResponse> Build(bool retry)
    {
        var builder = new ResiliencePipelineBuilder<ServiceResponse> { TimeProvider = Time };
        builder.AddTimeout(new TimeoutStrategyOptions { Timeout = _options.TotalTimeout, Name = "total" });
        if (retry && _options.MaxRetries > 0)
        {
            builder.AddRetry(new RetryStrategyOptions<ServiceResponse>
            {
                MaxRetryAttempts = _options.MaxRetries,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = _options.BaseDelay,
                MaxDelay = TimeSpan.FromSeconds(10),
                ShouldHandle = new PredicateBuilder<ServiceResponse>()
                    .Handle<HttpRequestException>()
                    .Handle<TimeoutRejectedException>()
                    .HandleResult(r => IsTransient(r.Status)),
                OnRetry = args =>
                {
                    var why = args.Outcome.Exception is { } ex ? ex.GetType().Name : ((int)args.Outcome.Result!.Status).ToString(System.Globalization.CultureInfo.InvariantCulture);
                    if (_logger.IsEnabled(LogLevel.Information)) LogRetry(_logger, Service, args.AttemptNumber + 1, why, args.RetryDelay.TotalMilliseconds);
                    return default;
                },
            });
        }
        builder.AddTimeout(new TimeoutStrategyOptions { Timeout = _options.AttemptTimeout, Name = "attempt" });
        return builder.Build();
    }

    public Task<ServiceResponse> GetAsync(string path, IReadOnlyList<RequestHeader> headers, CancellationToken cancellationToken) =>
        SendAsync(HttpMethod.Get, path, headers, null, cancellationToken);

    /// <summary>Sends one request under the policy. <paramref name="json"/> is sent as <c>application/json</c>.
    /// Returns every HTTP answer (including 4xx/5xx after retries); throws KW0901/KW0902 when no answer came.</summary>
    public async Task<ServiceResponse> SendAsync(HttpMethod method, string path, IReadOnlyList<RequestHeader> headers, string? json,
        CancellationToken cancellationToken, string contentType = "application/json")
    {
        var url = new Uri(BaseUrl, path);
        var scrub = headers.Where(h => h.IsSecret).Select(h => h.SecretPart).ToArray();
        var pipeline = IsIdempotent(method) ? _idempotent : _once;
        var attempt = 0;
        try
        {
            return await pipeline.ExecuteAsync(async ct =>
            {
                attempt++;
                using var request = new HttpRequestMessage(method, url);
                foreach (var h in headers)
                {
                    request.Headers.TryAddWithoutValidation(h.Name, h.Value);
                    if (_logger.IsEnabled(LogLevel.Trace)) LogHeader(_logger, Service, h.Name, TokenMask.Header(h.Name, h.Value));
                }
                if (json is not null)
                    request.Content = new StringContent(json, Encoding.UTF8, MediaTypeHeaderValue.Parse(contentType));
                var started = Time.GetTimestamp();
                try
                {
                    using var response = await _client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
                    var body = await ReadBodyAsync(response, ct).ConfigureAwait(false);
                    var result = new ServiceResponse(Service, method, url, response.StatusCode, CollectHeaders(response),
                        response.Content.Headers.ContentType?.MediaType, body, Shape, scrub);
                    if (_logger.IsEnabled(LogLevel.Debug)) LogExchange(_logger, Service, method.Method, TokenMask.Url(url), result.StatusCode, Time.GetElapsedTime(started).TotalMilliseconds, attempt);
                    return result;
                }
                catch (HttpRequestException ex)
                {
                    if (_logger.IsEnabled(LogLevel.Debug)) LogFailure(_logger, Service, method.Method, TokenMask.Url(url), ex.HttpRequestError.ToString(), attempt);
                    throw;
                }
            }, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutRejectedException)
        {
            throw ErrorCodes.ServiceTimeout.Exception(
                $"{Service} {method} {TokenMask.Url(url)}: no answer within {Describe(_options.AttemptTimeout)} per attempt / {Describe(_options.TotalTimeout)} in total ({attempt} attempt(s))");
        }
        catch (HttpRequestException ex)
        {
            var detail = ex.InnerException is System.Net.Sockets.SocketException se ? se.SocketErrorCode.ToString() : ex.HttpRequestError.ToString();
            throw ErrorCodes.ServiceUnreachable.Exception($"{Service} {method} {TokenMask.Url(url)}: {detail} after {attempt} attempt(s)");
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw ErrorCodes.ServiceTimeout.Exception($"{Service} {method} {TokenMask.Url(url)}: the exchange was cut off");
        }
    }

    private static string Describe(TimeSpan t) => t.TotalSeconds >= 1 ? $"{t.TotalSeconds:0.#} s" : $"{t.TotalMilliseconds:0} ms";

    private async Task<string> ReadBodyAsync(HttpResponseMessage response, CancellationToken ct)
    {
        var stream = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            var buffer = new MemoryStream();
            var chunk = new byte[16 * 1024];
            int n;
            while ((n = await stream.ReadAsync(chunk, ct).ConfigureAwait(false)) > 0)
            {
                if (buffer.Length + n > _options.MaxBodyBytes)
                    throw ErrorCodes.ServiceMalformedResponse.Exception($"{Service}: answer larger than {_options.MaxBodyBytes} bytes");
                buffer.Write(chunk, 0, n);
            }
            return Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
        }
    }

    private static Dictionary<string, string> CollectHeaders(HttpResponseMessage response)
    {
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var h in response.Headers.Concat(response.Content.Headers))
            headers[h.Key] = string.Join(", ", h.Value);
        return headers;
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "{Service} {Method} {Url} -> {Status} in {Milliseconds:0} ms (attempt {Attempt})")]
    private static partial void LogExchange(ILogger logger, string service, string method, string url, int status, double milliseconds, int attempt);

    [LoggerMessage(Level = LogLevel.Debug, Message = "{Service} {Method} {Url} failed: {Error} (attempt {Attempt})")]
    private static partial void LogFailure(ILogger logger, string service, string method, string url, string error, int attempt);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Service}: retry {Attempt} after {Reason}, waiting {DelayMs:0} ms")]
    private static partial void LogRetry(ILogger logger, string service, int attempt, string reason, double delayMs);

    [LoggerMessage(Level = LogLevel.Trace, Message = "{Service} header {Name}: {Value}")]
    private static partial void LogHeader(ILogger logger, string service, string name, string value);
}
