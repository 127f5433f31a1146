namespace Keyward.Core.Errors;

// KW14xx: CI tokens through trusted publishing (OIDC) and the Attic revocation gate.
// 1401-1409 the manifest's trustedPublishers: and gate: sections, 1410-1429 the OIDC exchange.
public static partial class ErrorCodes
{
    public static readonly ErrorCode TrustedIssuerInsecure = new("KW1401", ErrorKind.BadInput, "a trusted OIDC issuer must be an https URL",
        "write the issuer exactly as its tokens' iss claim, e.g. https://token.actions.githubusercontent.com (plain http only on loopback, for tests)");
    public static readonly ErrorCode TrustedPublisherNoClaims = new("KW1402", ErrorKind.BadInput, "a trusted publisher matches no claims",
        "list the claims a job's token must carry under claims:, e.g. repository: org/repo and ref: refs/heads/main");
    public static readonly ErrorCode TrustedPublisherUnpinned = new("KW1403", ErrorKind.BadInput, "a trusted publisher does not pin a repository",
        "match one of repository, repository_id, repository_owner_id, project_path, project_id or sub exactly (no '*'): otherwise any repository of the issuer qualifies");
    public static readonly ErrorCode TrustedPublisherValidity = new("KW1404", ErrorKind.BadInput, "a CI token's validity must be more than zero and at most 1h",
        "give validity: 15m (CI tokens are short-lived; a job asks again for a new one)");

    public static readonly ErrorCode OidcTokenMalformed = new("KW1410", ErrorKind.BadInput, "the OIDC token is not a well-formed JWT",
        "send the job's ID token as it came from the CI (ACTIONS_ID_TOKEN_REQUEST_URL's value, GitLab's id_tokens variable)");
    public static readonly ErrorCode OidcAlgorithmRefused = new("KW1411", ErrorKind.BadInput, "the OIDC token's algorithm is refused",
        "only RS256 and ES256 tokens whose key type matches are accepted (alg none, HS256 and key confusion are refused)");
    public static readonly ErrorCode OidcSignatureInvalid = new("KW1412", ErrorKind.BadInput, "the OIDC token's signature does not verify",
        "the token was altered or not issued by the trusted issuer");
    public static readonly ErrorCode OidcIssuerUntrusted = new("KW1413", ErrorKind.BadInput, "the OIDC token's issuer is not trusted",
        "add the issuer under trustedPublishers: in the manifest");
    public static readonly ErrorCode OidcAudienceMismatch = new("KW1414", ErrorKind.BadInput, "the OIDC token is for another audience",
        "request the ID token with the audience the trusted publisher names (GitHub: &audience=…)");
    public static readonly ErrorCode OidcTokenExpired = new("KW1415", ErrorKind.BadInput, "the OIDC token is expired or not yet valid",
        "request a fresh ID token right before the exchange; check the CI runner's clock");
    public static readonly ErrorCode OidcNoRuleMatched = new("KW1416", ErrorKind.BadInput, "no trusted publisher rule matches the job",
        "compare the job's claims (in Keyward's audit log) with the manifest's trustedPublishers: claims");
    public static readonly ErrorCode OidcIssuerUnreachable = new("KW1417", ErrorKind.Failed, "the issuer's discovery document or keys could not be fetched",
        "check that Keyward reaches the issuer's /.well-known/openid-configuration and jwks_uri; the exchange is retried by the next request");
    public static readonly ErrorCode OidcKeyUnknown = new("KW1418", ErrorKind.BadInput, "the OIDC token names a key the issuer does not publish",
        "the token is not from this issuer, or its key was retired; request a fresh token");
    public static readonly ErrorCode OidcClaimMissing = new("KW1419", ErrorKind.BadInput, "the OIDC token lacks a required claim",
        "ID tokens must carry iss, aud, exp and iat");
    public static readonly ErrorCode OidcTokenReplayed = new("KW1420", ErrorKind.BadInput, "the OIDC token was already exchanged",
        "each ID token buys one Attic token: keep the Attic token for the rest of the job, or request a fresh ID token (GitHub, Forgejo: ask ACTIONS_ID_TOKEN_REQUEST_URL again; GitLab: declare one more id_tokens entry)");
}
