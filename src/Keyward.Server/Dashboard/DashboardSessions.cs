using System.Collections.Concurrent;
using System.Security.Cryptography;

namespace Keyward.Server.Dashboard;

/// <summary>Checks an operator bearer token; the name of its operator when valid and not revoked, else null.
/// <c>keyward serve</c> registers the ledger-backed implementation.</summary>
public interface IOperatorAuthenticator
{
    Task<string?> AuthenticateAsync(string token, CancellationToken cancellationToken);
}

/// <summary>Dashboard sessions after a login with an operator token: random ids held in memory only (a restart logs
/// everyone out), each with its own CSRF token, expiring after <see cref="Lifetime"/>. The token itself is never kept.</summary>
internal sealed class DashboardSessions(TimeProvider time)
{
    public static readonly TimeSpan Lifetime = TimeSpan.FromHours(8);
    private const int MaxSessions = 1024;

    internal sealed record Session(string Operator, string Csrf, DateTimeOffset ExpiresAt);

    private readonly ConcurrentDictionary<string, Session> _sessions = new(StringComparer.Ordinal);

    public static string NewId() => Base64Url(RandomNumberGenerator.GetBytes(32));

    public (string Id, Session Session) Create(string operatorName)
    {
        Sweep();
        var id = NewId();
        var session = new Session(operatorName, NewId(), time.GetUtcNow() + Lifetime);
        _sessions[id] = session;
        return (id, session);
    }

    public Session? Find(string? id)
    {
        if (string.IsNullOrEmpty(id) || !_sessions.TryGetValue(id, out var s)) return null;
        if (s.ExpiresAt > time.GetUtcNow()) return s;
        _sessions.TryRemove(id, out _);
        return null;
    }

    public void Remove(string? id)
    {
        if (!string.IsNullOrEmpty(id)) _sessions.TryRemove(id, out _);
    }

    private void Sweep()
    {
        var now = time.GetUtcNow();
        foreach (var (id, s) in _sessions)
            if (s.ExpiresAt <= now) _sessions.TryRemove(id, out _);
        if (_sessions.Count >= MaxSessions) // the oldest go first
            foreach (var (id, _) in _sessions.OrderBy(p => p.Value.ExpiresAt).Take(_sessions.Count - MaxSessions + 1).ToList())
                _sessions.TryRemove(id, out _);
    }

    /// <summary>Constant-time comparison of two CSRF tokens.</summary>
    public static bool SameToken(string? a, string? b) =>
        a is not null && b is not null && CryptographicOperations.FixedTimeEquals(System.Text.Encoding.UTF8.GetBytes(a), System.Text.Encoding.UTF8.GetBytes(b));

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
