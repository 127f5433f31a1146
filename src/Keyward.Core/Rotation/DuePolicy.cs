using Keyward.Core.Store;
using Keyward.Core.Manifest;

namespace Keyward.Core.Rotation;

public enum DueStatus
{
    /// <summary>Due now: apply rotates it (or, for external credentials, reports it).</summary>
    Due,
    /// <summary>Due within the look-ahead window (30 days).</summary>
    Upcoming,
}

/// <summary>One credential whose rotation is due or upcoming. <see cref="Rotatable"/> is false for
/// externally minted tokens: they are reported, never rotated by Keyward.</summary>
public sealed record DueItem(string Credential, DueStatus Status, DateTimeOffset DueAt, DateTimeOffset? ExpiresAt, bool Rotatable, string Reason);

public sealed record DueReport(IReadOnlyList<DueItem> Due, IReadOnlyList<DueItem> Upcoming)
{
    /// <summary>What apply should rotate now.</summary>
    public IEnumerable<string> ToRotate => Due.Where(d => d.Rotatable).Select(d => d.Credential);
}

/// <summary>
/// Which credentials are due for rotation. Pure: (manifest, store facts, now) → report.
/// <list type="bullet">
/// <item>attic tokens: due at expiry − renewBefore (renewBefore defaults to a third of the validity, as cert-manager does);</item>
/// <item>anything with <c>rotation.maxAge</c>: due at created + maxAge − renewBefore (no default margin: maxAge is the limit);</item>
/// <item>external tokens with a known expiry (declared, or learned and stored as the version's expiry): reported at
/// expiry − renewBefore (default a third of their lifetime when it is known, else 30 days), never rotated.</item>
/// </list>
/// </summary>
public static class DuePolicy
{
    public static readonly TimeSpan Window = TimeSpan.FromDays(30);

    public static DueReport Evaluate(KeywardManifest manifest, StoreFacts facts, DateTimeOffset now)
    {
        var due = new List<DueItem>();
        var upcoming = new List<DueItem>();
        foreach (var c in manifest.Credentials)
        {
            var active = facts.Active(c.Name);
            if (Evaluate(manifest, c, active, now) is not { } item) continue;
            if (item.DueAt <= now) due.Add(item with { Status = DueStatus.Due });
            else if (item.DueAt <= now + Window) upcoming.Add(item with { Status = DueStatus.Upcoming });
        }
        return new DueReport(due, upcoming.OrderBy(u => u.DueAt).ToList());
    }

    private static DueItem? Evaluate(KeywardManifest manifest, Credential c, CredentialVersion? active, DateTimeOffset now)
    {
        var policy = manifest.EffectivePolicy(c);
        var explicitRenew = policy.RenewBefore?.Value;
        DueItem? best = null;
        void Consider(DateTimeOffset dueAt, DateTimeOffset? expires, bool rotatable, string reason)
        {
            if (best is null || dueAt < best.DueAt) best = new DueItem(c.Name, DueStatus.Upcoming, dueAt, expires, rotatable, reason);
        }

        if (c is ExternalCredential x)
        {
            // A Coder service's own token is re-issued through the API with the current one, a Gitea service's with the admin's
            // password (ServiceTokenRotation); others are not.
            var api = ApiRotation.ThroughApi(manifest, x);
            var expires = active?.ExpiresAt ?? x.Expires;
            if (expires is { } e)
            {
                var lifetime = active is null ? (TimeSpan?)null : e - active.CreatedAt;
                var renew = explicitRenew ?? (lifetime is { } l && l > TimeSpan.Zero ? l / 3 : Window);
                Consider(e - renew, e, api && active is not null, api
                    ? $"expires {Stamp(e)}; Keyward creates the next one through {x.Provider.Name()}'s API"
                    : $"expires {Stamp(e)}; externally minted: create a new one at {x.Provider.Name()} and re-import it");
            }
            // Gitea tokens never expire: a token Keyward re-issues through the API is renewed at its rotation.maxAge.
            if (api && active is not null && policy.MaxAge is { } apiMaxAge)
            {
                var limit = active.CreatedAt + apiMaxAge.Value;
                Consider(limit - (explicitRenew ?? TimeSpan.Zero), expires, true,
                    $"version {active.Version} reaches maxAge {apiMaxAge.Text} on {Stamp(limit)}; Keyward creates the next one through {x.Provider.Name()}'s API");
            }
            return best;
        }
        if (active is null) return null; // not minted yet: apply mints it, nothing to rotate

        if (c is AtticTokenCredential t)
        {
            var expires = active.ExpiresAt ?? active.CreatedAt + t.Validity.Value;
            Consider(expires - t.EffectiveRenewBefore, expires, true, $"expires {Stamp(expires)} (validity {t.Validity.Text}, renew {Human(t.EffectiveRenewBefore)} before)");
        }
        if (policy.MaxAge is { } maxAge)
        {
            var limit = active.CreatedAt + maxAge.Value;
            Consider(limit - (explicitRenew ?? TimeSpan.Zero), active.ExpiresAt, true, $"version {active.Version} reaches maxAge {maxAge.Text} on {Stamp(limit)}");
        }
        return best;
    }

    private static string Human(TimeSpan t) => t.TotalDays >= 1 && t.TotalDays == Math.Floor(t.TotalDays) ? $"{t.TotalDays:0}d" : $"{t.TotalHours:0.#}h";

    private static string Stamp(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture);
}
