using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Security;
using System.Text;
using System.Text.Json;
using Keyward.Core.Errors;
using Keyward.Core.Time;
using Keyward.Crypto.Age;
using Keyward.Crypto.Ssh;

namespace Keyward.Engine.Agent;

public sealed record AgentOptions
{
    public required Uri Server { get; init; }
    public required HostIdentity Identity { get; init; }

    /// <summary>Where the agent keeps <see cref="AgentState"/> (non-secret).</summary>
    public required string StateDirectory { get; init; }

    /// <summary>Root, hooks, warnings and progress, as for apply.</summary>
    public required EngineOptions Engine { get; init; }

    /// <summary>The host name this agent must be; null takes the server's word once and then pins it in the state file.</summary>
    public string? ExpectedHost { get; init; }

    /// <summary>How long the server may hold a --watch request before answering "unchanged".</summary>
    public TimeSpan Wait { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Tests replace the transport (a server that answers with another host's bundle).</summary>
    public HttpMessageHandler? Handler { get; init; }

    public Action<string> Log { get; init; } = _ => { };
}

/// <summary>
/// <c>keyward agent</c>: authenticates as the host (SSHSIG over the server's challenge, or the decrypted challenge for an
/// age host), fetches the host's bundle, refuses what it cannot decrypt or what names another host, writes the files
/// through the shared delivery path, runs hooks and reports fingerprints. Offline, the files stay and it says how stale.
/// </summary>
public sealed class AgentRunner : IDisposable
{
    private readonly AgentOptions _o;
    private readonly HttpClient _http;
    private readonly AgentDelivery _delivery;
    private byte[]? _serverCertificate;
    private (string Host, string Token)? _session;

    public AgentRunner(AgentOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _o = options;
        var handler = options.Handler ?? new SocketsHttpHandler
        {
            SslOptions = new SslClientAuthenticationOptions
            {
                // Validates as usual; remembers the certificate so the signed challenge names the channel it was made on.
                RemoteCertificateValidationCallback = (_, cert, _, errors) =>
                {
                    _serverCertificate = cert?.GetRawCertData();
                    return errors == SslPolicyErrors.None;
                },
            },
        };
        _http = new HttpClient(handler, disposeHandler: options.Handler is null) { BaseAddress = options.Server, Timeout = options.Wait + TimeSpan.FromSeconds(30) };
        _delivery = new AgentDelivery(options.Engine);
    }

    private TimeProvider Time => _o.Engine.Time;

    /// <summary>One delivery (<c>--once</c>): 0 when every file is as the server rendered it.</summary>
    public async Task<int> RunOnceAsync(CancellationToken ct)
    {
        var state = AgentState.Load(_o.StateDirectory);
        try
        {
            await AuthenticateAsync(state, ct).ConfigureAwait(false);
            var (bytes, _) = await FetchAsync(null, TimeSpan.Zero, ct).ConfigureAwait(false);
            return await ApplyAsync(bytes!, state, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested)
        {
            throw ErrorCodes.AgentServerUnreachable.Exception($"{_o.Server}: {e.Message}. {Staleness(state)}");
        }
    }

    /// <summary><c>--watch</c>: long-polls until <paramref name="ct"/> fires; a rotation reaches the host as soon as the
    /// server sees it. Connection failures back off (1 s doubling to 30 s) and say how stale the files are.</summary>
    public async Task WatchAsync(CancellationToken ct)
    {
        var backoff = TimeSpan.FromSeconds(1);
        var state = AgentState.Load(_o.StateDirectory);
        string? version = null; // the first request always fetches: it repairs drift since the last run
        while (!ct.IsCancellationRequested)
        {
            try
            {
                if (_session is null) await AuthenticateAsync(state, ct).ConfigureAwait(false);
                var (bytes, current) = await FetchAsync(version, version is null ? TimeSpan.Zero : _o.Wait, ct).ConfigureAwait(false);
                backoff = TimeSpan.FromSeconds(1);
                if (bytes is null) continue; // unchanged
                await ApplyAsync(bytes, state, ct).ConfigureAwait(false);
                state = AgentState.Load(_o.StateDirectory);
                version = current;
            }
            catch (KeywardException e) when (e.First.Code == ErrorCodes.AgentUnauthenticated && _session is not null)
            {
                _session = null; // the session expired or the server restarted: authenticate again
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested)
            {
                _o.Log($"cannot reach {_o.Server}: {e.Message}; {Staleness(state)} Retrying in {HumanDuration.Format(backoff)}.");
                _session = null;
                await Task.Delay(backoff, Time, ct).ConfigureAwait(false);
                backoff = TimeSpan.FromSeconds(Math.Min(30, backoff.TotalSeconds * 2));
            }
            catch (KeywardException e) when (IsServerFailure(e) && !ct.IsCancellationRequested)
            {
                // A 5xx (the store briefly unwritable, a proxy without its upstream) is the server's trouble, not the
                // host's: a watching agent keeps its files and tries again, as when the server cannot be reached.
                _o.Log($"{_o.Server} answered {e.First.Message}; {Staleness(state)} Retrying in {HumanDuration.Format(backoff)}.");
                _session = null;
                await Task.Delay(backoff, Time, ct).ConfigureAwait(false);
                backoff = TimeSpan.FromSeconds(Math.Min(30, backoff.TotalSeconds * 2));
            }
        }
    }

    /// <summary>A 5xx, or a 429 (the server's per-client rate limit, which many hosts behind one NAT can reach after
    /// a server restart): both pass, so a watching agent waits and tries again.</summary>
    private static bool IsServerFailure(KeywardException e) =>
        e.InnerException is HttpRequestException { StatusCode: >= HttpStatusCode.InternalServerError or HttpStatusCode.TooManyRequests };

    private string Staleness(AgentState? state) => state is null
        ? "No delivery has been received yet."
        : $"The files from the last delivery (bundle {Short(state.Version)}, {HumanDuration.InWords(state.DeliveredAt - Time.GetUtcNow())}) stay in place.";

    private static string Short(string version) => version.Length > 12 ? version[..12] : version;

    private async Task AuthenticateAsync(AgentState? state, CancellationToken ct)
    {
        var key = Uri.EscapeDataString(_o.Identity.PublicText);
        using var response = await _http.GetAsync($"{AgentProtocol.ChallengePath}?key={key}", ct).ConfigureAwait(false);
        await EnsureAsync(response, ct).ConfigureAwait(false);
        var challenge = await response.Content.ReadFromJsonAsync(AgentJson.Default.ChallengeResponse, ct).ConfigureAwait(false)
            ?? throw ErrorCodes.AgentServerError.Exception("empty challenge");
        var pinned = _o.ExpectedHost ?? (state is not null && SameServer(state) ? state.Host : null);
        if (pinned is not null && pinned != challenge.Host)
            throw ErrorCodes.AgentBundleRefused.Exception($"the server calls this key host '{challenge.Host}', but this agent is host '{pinned}'");
        var origin = AgentProtocol.Origin(_o.Server);
        var channel = _o.Server.Scheme == Uri.UriSchemeHttps
            ? AgentProtocol.ChannelOf(_serverCertificate ?? throw ErrorCodes.AgentServerError.Exception("no TLS certificate seen"))
            : AgentProtocol.NoChannel;
        SessionRequest request;
        if (challenge.Sealed is { } sealedNonce)
        {
            using var nonce = AgeFile.DecryptBytes(Encoding.ASCII.GetBytes(sealedNonce), _o.Identity.AgeIdentities);
            request = new SessionRequest(challenge.Nonce, origin, channel, null, Encoding.ASCII.GetString(nonce.Reveal()));
        }
        else
        {
            var signature = _o.Identity.Sign(AgentProtocol.Namespace, AgentProtocol.ChallengeText(challenge.Host, challenge.Nonce, origin, channel));
            request = new SessionRequest(challenge.Nonce, origin, channel, signature, null);
        }
        using var content = JsonContent.Create(request, AgentJson.Default.SessionRequest);
        using var sessionResponse = await _http.PostAsync(AgentProtocol.SessionPath, content, ct).ConfigureAwait(false);
        await EnsureAsync(sessionResponse, ct).ConfigureAwait(false);
        var session = await sessionResponse.Content.ReadFromJsonAsync(AgentJson.Default.SessionResponse, ct).ConfigureAwait(false)
            ?? throw ErrorCodes.AgentServerError.Exception("empty session");
        _session = (challenge.Host, session.Token);
    }

    private bool SameServer(AgentState state) => state.Server == AgentProtocol.Origin(_o.Server);

    /// <summary>The sealed bundle, or null bytes when the server answered "unchanged since <paramref name="since"/>".</summary>
    private async Task<(byte[]? Bytes, string? Version)> FetchAsync(string? since, TimeSpan wait, CancellationToken ct)
    {
        var url = $"{AgentProtocol.BundlePath}?wait={(int)wait.TotalSeconds}" + (since is null ? "" : $"&since={Uri.EscapeDataString(since)}");
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _session!.Value.Token);
        using var response = await _http.SendAsync(request, ct).ConfigureAwait(false);
        var version = response.Headers.TryGetValues("Keyward-Bundle-Version", out var v) ? v.FirstOrDefault() : null;
        if (response.StatusCode == HttpStatusCode.NotModified) return (null, version);
        await EnsureAsync(response, ct).ConfigureAwait(false);
        return (await response.Content.ReadAsByteArrayAsync(ct).ConfigureAwait(false), version);
    }

    private async Task<int> ApplyAsync(byte[] sealedBundle, AgentState? state, CancellationToken ct)
    {
        var host = _session!.Value.Host;
        using var bundle = HostBundle.Open(sealedBundle, _o.Identity.AgeIdentities, host);
        var previous = state is not null && SameServer(state) && state.Host == host ? state.Version : null;
        var (reports, hooks) = await _delivery.ApplyAsync(bundle, previous, ct).ConfigureAwait(false);
        foreach (var p in bundle.Pending) _o.Log($"{p}: not delivered yet (a credential it needs has no value on the server)");
        foreach (var r in reports.Where(r => r.State != "current"))
            _o.Log($"{r.Name}: {r.State}{(r.Message is null ? "" : ": " + r.Message)}");
        foreach (var h in hooks) _o.Log($"{h.Sink}: {h.Hook}: {(h.Success ? "ok" : "failed: " + h.Message)}");
        using (var content = JsonContent.Create(new AgentReport(bundle.Version, reports), AgentJson.Default.AgentReport))
        using (var request = new HttpRequestMessage(HttpMethod.Post, AgentProtocol.ReportPath) { Content = content })
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _session.Value.Token);
            using var response = await _http.SendAsync(request, ct).ConfigureAwait(false);
            await EnsureAsync(response, ct).ConfigureAwait(false);
        }
        var now = Time.GetUtcNow();
        new AgentState(AgentProtocol.Origin(_o.Server), host, bundle.Version, now, now, reports.ToDictionary(r => r.Name, r => r.Fingerprint, StringComparer.Ordinal))
            .Save(_o.StateDirectory);
        _o.Log($"host {host}: bundle {Short(bundle.Version)}: {bundle.Sinks.Count} sink(s), {reports.Count(r => r.State is "written" or "repaired")} written");
        return reports.Any(r => r.State == "failed") || hooks.Any(h => !h.Success) ? 1 : 0;
    }

    private static async Task EnsureAsync(HttpResponseMessage response, CancellationToken ct)
    {
        if (response.IsSuccessStatusCode) return;
        string message;
        try
        {
            var error = await response.Content.ReadFromJsonAsync(AgentJson.Default.AgentErrorResponse, ct).ConfigureAwait(false);
            message = error?.Message ?? response.ReasonPhrase ?? "";
        }
        catch (Exception e) when (e is JsonException or NotSupportedException)
        {
            message = response.ReasonPhrase ?? "";
        }
        var code = response.StatusCode == HttpStatusCode.Unauthorized ? ErrorCodes.AgentUnauthenticated : ErrorCodes.AgentServerError;
        var text = $"{(int)response.StatusCode}: {message}";
        // The status travels with the error, so --watch can tell the server's failures (5xx, retried) from refusals.
        throw new KeywardException(code.With(text), new HttpRequestException(text, null, response.StatusCode));
    }

    public void Dispose() => _http.Dispose();
}
