using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;

namespace Keyward.Server.Agent;

/// <summary>Challenges and sessions of host agents, in memory. A challenge is a random nonce bound to one host and key,
/// valid for <see cref="ChallengeLifetime"/> and redeemable once; a session token (random, stored only as its SHA-256)
/// names one host and key for <see cref="SessionLifetime"/>. A restart forgets both: agents simply authenticate again.</summary>
internal sealed class AgentSessions(TimeProvider time)
{
    public static readonly TimeSpan ChallengeLifetime = TimeSpan.FromSeconds(60);
    public static readonly TimeSpan SessionLifetime = TimeSpan.FromMinutes(10);
    private const int MaxOutstanding = 100_000;

    internal sealed record Grant(string Host, string Key, DateTimeOffset Expires);

    private readonly ConcurrentDictionary<string, Grant> _challenges = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Grant> _sessions = new(StringComparer.Ordinal);

    public (string Nonce, DateTimeOffset Expires) IssueChallenge(string host, string key)
    {
        Prune();
        var nonce = Base64Url(RandomNumberGenerator.GetBytes(32));
        var expires = time.GetUtcNow() + ChallengeLifetime;
        _challenges[nonce] = new Grant(host, key, expires);
        return (nonce, expires);
    }

    /// <summary>Takes the challenge out (single use): null when it was never issued, already used or expired.</summary>
    public Grant? Redeem(string nonce) =>
        _challenges.TryRemove(nonce, out var g) && g.Expires > time.GetUtcNow() ? g : null;

    public (string Token, DateTimeOffset Expires) OpenSession(string host, string key)
    {
        var token = Base64Url(RandomNumberGenerator.GetBytes(32));
        var expires = time.GetUtcNow() + SessionLifetime;
        _sessions[Hash(token)] = new Grant(host, key, expires);
        return (token, expires);
    }

    public Grant? Session(string token)
    {
        var h = Hash(token);
        if (!_sessions.TryGetValue(h, out var g)) return null;
        if (g.Expires > time.GetUtcNow()) return g;
        _sessions.TryRemove(h, out _);
        return null;
    }

    /// <summary>Ends every session and challenge of a host (removed from the manifest, or its key changed).</summary>
    public void Forget(string host)
    {
        foreach (var (k, g) in _sessions) if (g.Host == host) _sessions.TryRemove(k, out _);
        foreach (var (k, g) in _challenges) if (g.Host == host) _challenges.TryRemove(k, out _);
    }

    private void Prune()
    {
        if (_challenges.Count < MaxOutstanding / 2) return;
        var now = time.GetUtcNow();
        foreach (var (k, g) in _challenges) if (g.Expires <= now) _challenges.TryRemove(k, out _);
        if (_challenges.Count >= MaxOutstanding)
            throw Core.Errors.ErrorCodes.AgentServerError.Exception("too many outstanding challenges; try again shortly");
    }

    private static string Hash(string token) => Convert.ToHexStringLower(SHA256.HashData(Encoding.ASCII.GetBytes(token)));

    internal static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
