namespace Keyward.Core.Errors;

// KW06xx: Attic JWTs (minting, decoding, verification) and their signing keys.
public static partial class ErrorCodes
{
    public static readonly ErrorCode AtticTokenMalformed = new("KW0601", ErrorKind.BadInput, "malformed JWT", "an Attic token is three base64url parts (header.payload.signature) without padding; check it was copied whole");
    public static readonly ErrorCode AtticTokenAlgorithm = new("KW0602", ErrorKind.Failed, "JWT algorithm refused", "the token's `alg` must be the algorithm of the server's key (HS256 or RS256); `none` is never accepted");
    public static readonly ErrorCode AtticTokenSignature = new("KW0603", ErrorKind.Failed, "JWT signature does not verify", "the token was signed with another key: re-mint it with the server's current signing secret");
    public static readonly ErrorCode AtticTokenExpired = new("KW0604", ErrorKind.Failed, "JWT has expired", "mint a new token (atticd allows no clock skew)");
    public static readonly ErrorCode AtticTokenNotYetValid = new("KW0605", ErrorKind.Failed, "JWT is not valid yet", "its nbf or iat lies in the future; check the clocks of the minting host and the server (atticd allows no skew)");
    public static readonly ErrorCode AtticTokenIssuer = new("KW0606", ErrorKind.Failed, "JWT issuer does not match the server's bound issuer", "re-mint with --issuer set to the server's token-bound-issuer");
    public static readonly ErrorCode AtticTokenAudience = new("KW0607", ErrorKind.Failed, "JWT audience does not match the server's bound audiences", "re-mint with --audience set to one of the server's token-bound-audiences");
    public static readonly ErrorCode AtticTokenClaims = new("KW0608", ErrorKind.BadInput, "JWT claims are not a valid Attic token", "Attic needs the https://jwt.attic.rs/v1 claim with a `caches` object of valid patterns and 0/1 integer flags; atticd silently ignores a token that fails this");
    public static readonly ErrorCode AtticTokenHeaderTooLarge = new("KW0609", ErrorKind.BadInput, "JWT header too large", "jwt-simple (and so atticd) refuses a base64 header over 8192 characters");
    public static readonly ErrorCode AtticSigningKeyInvalid = new("KW0610", ErrorKind.BadInput, "invalid Attic signing key", "HS256: base64 of the secret bytes; RS256: base64 of a PKCS#1 or PKCS#8 PEM (e.g. `openssl genrsa -traditional 4096 | base64 -w0`)");
    public static readonly ErrorCode AtticSigningKeyMissing = new("KW0611", ErrorKind.BadInput, "no Attic signing key given", "set ATTIC_SERVER_TOKEN_HS256_SECRET_BASE64 or ATTIC_SERVER_TOKEN_RS256_SECRET_BASE64 as for atticd, or pass --secret-base64-file FILE");
    public static readonly ErrorCode AtticSigningKeyPublicOnly = new("KW0612", ErrorKind.BadInput, "cannot mint with a public key", "an RS256 public key only verifies tokens; mint with the private key");
    public static readonly ErrorCode AtticGrantShadowed = new("KW0613", ErrorKind.BadInput, "a cache pattern is shadowed by an earlier one", "Attic uses the first matching pattern and never merges permissions: list specific patterns before wildcards");
    public static readonly ErrorCode AtticTokenRequestInvalid = new("KW0614", ErrorKind.BadInput, "invalid token request", "give a non-empty --sub and a positive --validity (humantime, e.g. 30d, 3 months)");
}
