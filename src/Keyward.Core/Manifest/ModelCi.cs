using Keyward.Core.Errors;
using Keyward.Core.Time;

namespace Keyward.Core.Manifest;

/// <summary>One <c>claim: value</c> (or <c>claim: [values]</c>) of a trusted publisher. A value is matched exactly, or as
/// a glob when it contains <c>*</c> (any run of characters, '/' included); a list matches when any of its values does.</summary>
public sealed record ClaimMatcher(string Claim, IReadOnlyList<string> Values, SourceLocation Location)
{
    /// <summary>True when no value is a glob: the claim is pinned to exact values.</summary>
    public bool IsExact => Values.All(v => !v.Contains('*', StringComparison.Ordinal));

    public bool Matches(string actual) => Values.Any(v => Glob(v, actual));

    /// <summary>Whole-string match; '*' is the only wildcard and there is no escape (claim values never need one).</summary>
    public static bool Glob(string pattern, string text)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        ArgumentNullException.ThrowIfNull(text);
        int p = 0, t = 0, star = -1, mark = 0;
        while (t < text.Length)
        {
            if (p < pattern.Length && pattern[p] == '*') { star = p++; mark = t; }
            else if (p < pattern.Length && pattern[p] == text[t]) { p++; t++; }
            else if (star >= 0) { p = star + 1; t = ++mark; }
            else return false;
        }
        while (p < pattern.Length && pattern[p] == '*') p++;
        return p == pattern.Length;
    }
}

/// <summary>
/// <c>trustedPublishers.NAME</c>: CI jobs whose OIDC ID token comes from <see cref="Issuer"/> for <see cref="Audience"/>
/// and carries every claim of <see cref="Claims"/> get a short-lived Attic token granting <see cref="Caches"/>, signed
/// by <see cref="SignedBy"/> (the JWT secret atticd verifies with).
/// </summary>
public sealed record TrustedPublisher(
    string Name,
    Uri Issuer,
    string Audience,
    string SignedBy,
    IReadOnlyList<ClaimMatcher> Claims,
    IReadOnlyList<CacheGrant> Caches,
    HumanDuration Validity,
    SourceLocation Location)
{
    /// <summary>The longest validity a CI token may have.</summary>
    public static readonly TimeSpan MaxValidity = TimeSpan.FromHours(1);

    /// <summary>The issuer as tokens spell it (no trailing '/' added or removed: iss is compared exactly).</summary>
    public string IssuerText => Issuer.OriginalString;

    /// <summary>The name CI tokens carry in the ledger (<c>keyward tokens</c>): never a credential name.</summary>
    public string LedgerName => "ci/" + Name;
}

/// <summary>What a token that reaches the gate without being in Keyward's ledger gets.</summary>
public enum ForeignTokens
{
    /// <summary>Refused (the default): only tokens Keyward minted and did not revoke pass.</summary>
    Refuse,
    /// <summary>Allowed when signed by a trusted secret and valid (e.g. tokens made with atticadm before Keyward).</summary>
    Allow,
}

/// <summary><c>gate:</c> — how <c>GET /api/v1/attic/auth</c> (nginx <c>auth_request</c> in front of atticd) decides.</summary>
public sealed record AtticGateSettings(ForeignTokens ForeignTokens, bool AllowAnonymous, bool CheckPermissions)
{
    public static readonly AtticGateSettings Default = new(ForeignTokens.Refuse, AllowAnonymous: true, CheckPermissions: true);
}
