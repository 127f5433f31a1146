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
            // The reason is written only for what is reported: a no-op apply of 10,000 credentials has none to report, and
            // formatting a reason for each (a date and a duration) was most of the due policy's time.
            if (item.DueAt <= now) due.Add(item.Report(c.Name, DueStatus.Due));
            else if (item.DueAt <= now + Window) upcoming.Add(item.Report(c.Name, DueStatus.Upcoming));
        }
        return new DueReport(due, upcoming.OrderBy(u => u.DueAt).ToList());
    }

    /// <summary>Why a credential falls due; the text is made only when the item is reported.</summary>
    private enum ReasonKind
    {
        ExternalExpires,
        ExternalMaxAge,
        TokenExpires,
        MaxAge,
    }

    /// <summary>The earliest reason a credential falls due, with what its text needs.</summary>
    private readonly record struct Candidate(DateTimeOffset DueAt, DateTimeOffset? ExpiresAt, bool Rotatable, ReasonKind Kind, Credential Credential,
        bool Api, DateTimeOffset At, CredentialVersion? Active, Keyward.Core.Time.HumanDuration? Limit, TimeSpan Renew)
    {
        public DueItem Report(string name, DueStatus status) => new(name, status, DueAt, ExpiresAt, Rotatable, Reason());

        private string Reason()
        {
            switch (Kind)
            {
                case ReasonKind.ExternalExpires:
                {
                    var x = (ExternalCredential)Credential;
                    return Api
                        ? $"expires {Stamp(At)}; Keyward creates the next one through {x.Provider.Name()}'s API"
                        : $"expires {Stamp(At)}; externally minted: create a new one at {x.Provider.Name()} and re-import it";
                }
                case ReasonKind.ExternalMaxAge:
                    return $"version {Active!.Version} reaches maxAge {Limit!.Value.Text} on {Stamp(At)}; Keyward creates the next one through {((ExternalCredential)Credential).Provider.Name()}'s API";
                case ReasonKind.TokenExpires:
                {
                    var t = (AtticTokenCredential)Credential;
                    return $"expires {Stamp(At)} (validity {t.Validity.Text}, renew {Human(Renew)} before)";
                }
                default:
                    return $"version {Active!.Version} reaches maxAge {Limit!.Value.Text} on {Stamp(At)}";
            }
        }
    }

    private static Candidate? Evaluate(KeywardManifest manifest, Credential c, CredentialVersion? active, DateTimeOffset now)
    {
        var policy = manifest.EffectivePolicy(c);
        var explicitRenew = policy.RenewBefore?.Value;
        Candidate? best = null;
        void Consider(Candidate candidate)
        {
            // The first of equal due times stands, as before.
            if (best is null || candidate.DueAt < best.Value.DueAt) best = candidate;
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
                Consider(new Candidate(e - renew, e, api && active is not null, ReasonKind.ExternalExpires, c, api, e, active, null, default));
            }
            // Gitea tokens never expire: a token Keyward re-issues through the API is renewed at its rotation.maxAge.
            if (api && active is not null && policy.MaxAge is { } apiMaxAge)
            {
                var limit = active.CreatedAt + apiMaxAge.Value;
                Consider(new Candidate(limit - (explicitRenew ?? TimeSpan.Zero), expires, true, ReasonKind.ExternalMaxAge, c, api, limit, active, apiMaxAge, default));
            }
            return best;
        }
        if (active is null) return null; // not minted yet: apply mints it, nothing to rotate

        if (c is AtticTokenCredential t)
        {
            var expires = active.ExpiresAt ?? active.CreatedAt + t.Validity.Value;
            Consider(new Candidate(expires - t.EffectiveRenewBefore, expires, true, ReasonKind.TokenExpires, c, false, expires, active, null, t.EffectiveRenewBefore));
        }
        if (policy.MaxAge is { } maxAge)
        {
            var limit = active.CreatedAt + maxAge.Value;
            Consider(new Candidate(limit - (explicitRenew ?? TimeSpan.Zero), active.ExpiresAt, true, ReasonKind.MaxAge, c, false, limit, active, maxAge, default));
        }
        return best;
    }

    // Whole days as an integer (what "{0:0}" gives a whole double), else hours to one decimal.
    private static string Human(TimeSpan t) =>
        t.TotalDays >= 1 && t.TotalDays == Math.Floor(t.TotalDays) && t.TotalDays < long.MaxValue
            ? ((long)t.TotalDays).ToString(System.Globalization.CultureInfo.InvariantCulture) + "d"
            : $"{t.TotalHours:0.#}h";

    // yyyy-MM-dd'T'HH:mm:ss'Z' — the round-trip sortable pattern "s" (formatted without parsing a custom pattern: apply
    // writes one of these for each of thousands of upcoming renewals).
    private static string Stamp(DateTimeOffset t)
    {
        Span<char> text = stackalloc char[20];
        t.UtcDateTime.TryFormat(text, out var written, "s", System.Globalization.CultureInfo.InvariantCulture);
        text[written] = 'Z';
        return new string(text[..(written + 1)]);
    }
}
