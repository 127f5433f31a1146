using System.Text;
using System.Text.Json.Serialization;

namespace Keyward.Engine.Agent;

/// <summary>
/// The wire contract between <c>keyward serve</c> and <c>keyward agent</c> (docs/agent.md). The agent proves it holds
/// its host key by signing <see cref="ChallengeText"/> (SSHSIG, namespace <see cref="Namespace"/>), or, for an
/// <c>ageRecipient</c> host, by decrypting the nonce the server encrypted to it; either way it gets a short-lived
/// session token, with which it fetches its bundle (age-encrypted to the host key) and reports what it wrote.
/// </summary>
public static class AgentProtocol
{
    public const string Namespace = "keyward-agent@v1";
    public const string ChallengePath = "/api/v1/agent/challenge";
    public const string SessionPath = "/api/v1/agent/session";
    public const string BundlePath = "/api/v1/agent/bundle";
    public const string ReportPath = "/api/v1/agent/report";
    public const string HostsPath = "/api/v1/hosts";

    /// <summary>"none" on plain HTTP; on TLS the certificate the agent saw (RFC 5929 tls-server-end-point style).</summary>
    public const string NoChannel = "none";

    /// <summary>The exact bytes the agent signs: one <c>key=value</c> per line, each ending in LF, in this order.
    /// <c>server</c> is the origin the agent connected to and <c>channel</c> the SHA-256 of the server's TLS certificate
    /// as the agent saw it (or <c>none</c>), so a signature made for one server, or through a TLS-intercepting proxy,
    /// is refused by the real one.</summary>
    public static byte[] ChallengeText(string host, string nonce, string server, string channel) =>
        Encoding.UTF8.GetBytes($"keyward-agent@v1 challenge\nhost={host}\nnonce={nonce}\nserver={server}\nchannel={channel}\n");

    /// <summary>The channel value for a certificate: <c>sha256:</c> and the lowercase hex SHA-256 of its DER bytes.</summary>
    public static string ChannelOf(byte[] certificateDer) =>
        "sha256:" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(certificateDer));

    /// <summary>The origin as both sides write it: scheme://host[:port], lowercase, no trailing slash.</summary>
    public static string Origin(Uri uri)
    {
        ArgumentNullException.ThrowIfNull(uri);
        return uri.GetLeftPart(UriPartial.Authority).TrimEnd('/').ToLowerInvariant();
    }
}

/// <summary>GET challenge?key=… answer. <see cref="Sealed"/> (age hosts only): the nonce age-encrypted to the host's
/// recipient, armored; the agent answers with the decrypted nonce instead of a signature.</summary>
public sealed record ChallengeResponse(string Host, string Nonce, DateTimeOffset Expires, string? Sealed);

/// <summary>POST session body: the nonce, and either the SSHSIG signature of the challenge text or the unsealed nonce.</summary>
public sealed record SessionRequest(string Nonce, string Server, string Channel, string? Signature, string? Unsealed);

public sealed record SessionResponse(string Host, string Token, DateTimeOffset Expires);

/// <summary>What the agent did with one sink: the server's keyed fingerprint from the bundle (never a value), and its state.</summary>
public sealed record SinkReport(string Name, string Fingerprint, string State, string? Message);

/// <summary>POST report body: the bundle version the agent applied and each sink's outcome.</summary>
public sealed record AgentReport(string Version, IReadOnlyList<SinkReport> Sinks);

/// <summary>One host as GET /api/v1/hosts shows it.</summary>
public sealed record HostStatusView(string Host, string Key, DateTimeOffset? LastSeen, string? DeliveredVersion, DateTimeOffset? DeliveredAt,
    string? CurrentVersion, IReadOnlyList<HostSinkStatusView> Sinks);

public sealed record HostSinkStatusView(string Sink, string? Reported, string? State, bool Stale, string? Message, DateTimeOffset? ReportedAt);

public sealed record HostsResponse(IReadOnlyList<HostStatusView> Hosts);

public sealed record AgentErrorResponse(string Code, string Message);

/// <summary>Every agent protocol type, source-generated (the binary is NativeAOT).</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ChallengeResponse))]
[JsonSerializable(typeof(SessionRequest))]
[JsonSerializable(typeof(SessionResponse))]
[JsonSerializable(typeof(AgentReport))]
[JsonSerializable(typeof(HostsResponse))]
[JsonSerializable(typeof(AgentErrorResponse))]
[JsonSerializable(typeof(AgentState))]
public sealed partial class AgentJson : JsonSerializerContext;
