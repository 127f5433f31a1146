using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using Keyward.Core.Errors;
using Keyward.Core.Manifest;
using Keyward.Crypto.Age;
using Keyward.Crypto.Ssh;
using Keyward.Engine.Agent;
using Keyward.Server.Agent;
using Keyward.Server.Auth;
using Keyward.Core.Store;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Keyward.Server.Endpoints;

/// <summary>
/// The host agents' routes (docs/agent.md): challenge, session, bundle (long poll), report, and the operator's
/// <c>GET /api/v1/hosts</c>. A host is whoever proves it holds a key declared under <c>hosts:</c>; each request
/// re-checks that the host is still declared with that key, so removing it from the manifest refuses it at once.
/// </summary>
internal static class AgentEndpoints
{
    private const int MaxBody = 64 * 1024;
    public static readonly TimeSpan MaxWait = TimeSpan.FromMinutes(5);

    /// <summary>The area of the last server built in this process (tests look at its status board and metrics).</summary>
    internal static AgentArea? Area { get; private set; }

    public static void Map(WebApplication app)
    {
        var state = app.Services.GetRequiredService<ServerState>();
        var area = app.Services.GetRequiredService<AgentArea>();
        app.Lifetime.ApplicationStopping.Register(area.Hub.Dispose);
        app.MapGet(AgentProtocol.ChallengePath, (HttpContext http, CancellationToken _) => area.ChallengeAsync(http)).RequireRateLimiting(RateLimiting.ClientRateLimits.Agent);
        app.MapPost(AgentProtocol.SessionPath, (HttpContext http, CancellationToken _) => area.SessionAsync(http));
        app.MapGet(AgentProtocol.BundlePath, (HttpContext http, CancellationToken _) => area.BundleAsync(http));
        app.MapPost(AgentProtocol.ReportPath, (HttpContext http, CancellationToken _) => area.ReportAsync(http));
        app.MapGet(AgentProtocol.HostsPath, () => area.Hosts()).RequireOperator();
        Area = area;
    }

    /// <summary>The agent area's state, one per server; <see cref="Metrics"/> is what the metrics endpoint writes.</summary>
    internal sealed class AgentArea
    {
        private readonly ServerState _state;
        private readonly AgentSessions _sessions;
        private readonly AgentStoreWriter _writer;
        private readonly string _channel;

        public AgentArea(ServerState state)
        {
            _state = state;
            _sessions = new AgentSessions(state.Time);
            _writer = new AgentStoreWriter(state);
            Board = new HostStatusBoard();
            Hub = new AgentHub(state, Board);
            Metrics = new AgentMetrics(state, Board);
            _channel = state.Options.TlsCertificatePath is { } cert
                ? AgentProtocol.ChannelOf(X509Certificate2.CreateFromPem(File.ReadAllText(cert)).RawData)
                : AgentProtocol.NoChannel;
        }

        public HostStatusBoard Board { get; }
        public AgentHub Hub { get; }
        public AgentMetrics Metrics { get; }

        private DateTimeOffset Now => _state.Time.GetUtcNow();

        public Task<IResult> ChallengeAsync(HttpContext http)
        {
            var key = http.Request.Query["key"].ToString();
            var host = FindByKey(key);
            if (host is null) return Task.FromResult(Unauthorized("no host is declared with this key"));
            var (nonce, expires) = _sessions.IssueChallenge(host.Name, host.KeyText);
            string? sealedNonce = null;
            if (host.SshKey is null)
                sealedNonce = Encoding.ASCII.GetString(AgeFile.EncryptBytes(Encoding.ASCII.GetBytes(nonce), [AgeKeys.ParseRecipient(host.KeyText)], armor: true));
            return Task.FromResult<IResult>(TypedResults.Json(new ChallengeResponse(host.Name, nonce, expires, sealedNonce), AgentJson.Default.ChallengeResponse));
        }

        public async Task<IResult> SessionAsync(HttpContext http)
        {
            var request = await ReadAsync(http, AgentJson.Default.SessionRequest).ConfigureAwait(false);
            if (request is null) return Error(StatusCodes.Status400BadRequest, ErrorCodes.AgentServerError, "the body is not a session request");
            // Single use: a replayed response finds its nonce gone.
            var grant = _sessions.Redeem(request.Nonce);
            if (grant is null) return Unauthorized("the challenge is unknown, already used or expired");
            var host = Declared(grant.Host, grant.Key);
            if (host is null) return Unauthorized($"host '{grant.Host}' is no longer declared with this key");
            if (!Uri.TryCreate(request.Server, UriKind.Absolute, out var server) ||
                !string.Equals(server.Authority, http.Request.Host.Value, StringComparison.OrdinalIgnoreCase))
                return Unauthorized("the challenge was answered for another server");
            if (!string.Equals(request.Channel, _channel, StringComparison.Ordinal))
                return Unauthorized("the challenge was answered over another TLS channel (a TLS-intercepting proxy?)");
            if (host.SshKey is { } sshKey)
            {
                try
                {
                    SshSig.Verify(sshKey, AgentProtocol.Namespace, AgentProtocol.ChallengeText(host.Name, request.Nonce, request.Server, request.Channel),
                        request.Signature ?? "");
                }
                catch (KeywardException e)
                {
                    return Unauthorized($"host '{host.Name}': {e.First.Message}");
                }
            }
            else if (request.Unsealed is null ||
                     !CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(request.Unsealed), Encoding.ASCII.GetBytes(request.Nonce)))
                return Unauthorized($"host '{host.Name}': the challenge was not decrypted");
            var (token, expires) = _sessions.OpenSession(host.Name, host.KeyText);
            Board.Seen(host.Name, Now);
            return TypedResults.Json(new SessionResponse(host.Name, token, expires), AgentJson.Default.SessionResponse);
        }

        public async Task<IResult> BundleAsync(HttpContext http)
        {
            if (Authenticate(http) is not { } host) return Unauthorized("no valid session (authenticate again)");
            Board.Seen(host.Name, Now);
            var since = http.Request.Query["since"].ToString();
            var wait = int.TryParse(http.Request.Query["wait"], out var seconds) && seconds > 0
                ? TimeSpan.FromSeconds(Math.Min(seconds, MaxWait.TotalSeconds)) : TimeSpan.Zero;
            AgentHub.Sealed bundle;
            try
            {
                bundle = await Hub.WaitAsync(host, since.Length == 0 ? null : since, wait, http.RequestAborted).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested)
            {
                return TypedResults.Empty;
            }
            // Removed while the agent waited: refused at once, nothing delivered.
            if (Declared(host.Name, host.KeyText) is null) return Unauthorized($"host '{host.Name}' is no longer declared");
            http.Response.Headers["Keyward-Bundle-Version"] = bundle.Version;
            if (bundle.Version == since) return TypedResults.StatusCode(StatusCodes.Status304NotModified);
            try
            {
                await AuditAsync(host.Name, bundle, http.RequestAborted).ConfigureAwait(false);
            }
            catch (KeywardException e)
            {
                // Not audited, not delivered: the agent asks again.
                return Error(StatusCodes.Status503ServiceUnavailable, ErrorCodes.AgentServerError, $"the delivery could not be audited: {e.First.Message}");
            }
            Board.Delivered(host.Name, bundle.Version, Now);
            return TypedResults.Bytes(bundle.Bytes, "application/vnd.keyward.bundle+age");
        }

        public async Task<IResult> ReportAsync(HttpContext http)
        {
            if (Authenticate(http) is not { } host) return Unauthorized("no valid session (authenticate again)");
            var report = await ReadAsync(http, AgentJson.Default.AgentReport).ConfigureAwait(false);
            if (report is null) return Error(StatusCodes.Status400BadRequest, ErrorCodes.AgentServerError, "the body is not a report");
            var mine = _state.Manifest?.SinksOfHost(host.Name).Select(s => s.Name).ToHashSet(StringComparer.Ordinal) ?? [];
            var relevant = report with { Sinks = [.. report.Sinks.Where(s => mine.Contains(s.Name))] };
            Board.Reported(host.Name, relevant, Now);
            var drift = relevant.Sinks.Where(s => s.State is "repaired" or "failed").ToList();
            // What the host now confirms, kept in the store for a rotation's deliver step (any process sharing the store);
            // written only when it differs from what this server last wrote.
            var confirmed = _state.Manifest is { } manifest
                ? HostConfirmations.FromReport(manifest, host.Name, relevant, Now).Where(r => !Board.Persisted(r)).ToList()
                : [];
            if (drift.Count > 0 || confirmed.Count > 0)
            {
                try
                {
                    var audit = drift.Select(s => new AuditEvent(Now, $"agent:{host.Name}", s.State == "failed" ? "host-write-failed" : "host-drift-repaired",
                        s.Name, null, s.Fingerprint, $"host {host.Name}: {s.Message}")).ToList();
                    await _writer.WriteAsync(audit, confirmed, http.RequestAborted).ConfigureAwait(false);
                    foreach (var r in confirmed) Board.MarkPersisted(r);
                }
                catch (KeywardException e)
                {
                    // The lock was held too long (KW0317): the agent's report is still taken (the status board has it);
                    // the confirmation reaches the store with the host's next report.
                    _state.Options.Warn(e.First with { Message = $"the report of host '{host.Name}' was not recorded in the store: {e.First.Message}" });
                }
            }
            return TypedResults.NoContent();
        }

        public IResult Hosts() => TypedResults.Json(new HostsResponse(Board.View(_state.Manifest)), AgentJson.Default.HostsResponse);

        /// <summary>One audit event per sink delivered: the host's name, the sink, its keyed fingerprint and the bundle version.</summary>
        /// <summary>Written with the other requests' writes of the moment (<see cref="AgentStoreWriter"/>), before the bundle is handed out.</summary>
        private Task AuditAsync(string host, AgentHub.Sealed bundle, CancellationToken ct) =>
            _writer.WriteAsync([.. bundle.Sinks.Select(s => new AuditEvent(Now, $"agent:{host}", "deliver", s.Sink, null, s.Fingerprint,
                $"to host {host}, bundle {bundle.Version}"))], [], ct);

        private HostSpec? Authenticate(HttpContext http)
        {
            var header = http.Request.Headers.Authorization.ToString();
            if (!header.StartsWith("Bearer ", StringComparison.Ordinal)) return null;
            if (_sessions.Session(header["Bearer ".Length..].Trim()) is not { } grant) return null;
            var host = Declared(grant.Host, grant.Key);
            if (host is null) _sessions.Forget(grant.Host);
            return host;
        }

        /// <summary>The host, if the manifest in use still declares it with this key.</summary>
        private HostSpec? Declared(string name, string key)
        {
            _state.ReloadManifestIfChanged();
            return _state.Manifest?.FindHost(name) is { } h && h.KeyText == key ? h : null;
        }

        private HostSpec? FindByKey(string key)
        {
            if (key.Length == 0 || key.Length > 1024) return null;
            _state.ReloadManifestIfChanged();
            var manifest = _state.Manifest;
            if (manifest is null) return null;
            if (HostKey.TryParse(key, out var ssh, out _)) return manifest.Hosts.FirstOrDefault(h => ssh!.Equals(h.SshKey));
            return manifest.Hosts.FirstOrDefault(h => h.AgeRecipient == key.Trim());
        }

        private static async Task<T?> ReadAsync<T>(HttpContext http, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type) where T : class
        {
            if (http.Request.ContentLength is > MaxBody) return null;
            using var buffer = new MemoryStream();
            var chunk = new byte[8192];
            int n;
            while ((n = await http.Request.Body.ReadAsync(chunk, http.RequestAborted).ConfigureAwait(false)) > 0)
            {
                if (buffer.Length + n > MaxBody) return null;
                buffer.Write(chunk, 0, n);
            }
            try
            {
                return JsonSerializer.Deserialize(buffer.GetBuffer().AsSpan(0, (int)buffer.Length), type);
            }
            catch (JsonException)
            {
                return null;
            }
        }

        private static IResult Unauthorized(string message) => Error(StatusCodes.Status401Unauthorized, ErrorCodes.AgentUnauthenticated, message);

        private static IResult Error(int status, ErrorCode code, string message) =>
            TypedResults.Json(new AgentErrorResponse(code.Code, message), AgentJson.Default.AgentErrorResponse, statusCode: status);
    }
}
