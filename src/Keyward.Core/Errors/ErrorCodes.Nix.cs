namespace Keyward.Core.Errors;

// KW05xx: Nix binary-cache keys, narinfo files and signatures.
public static partial class ErrorCodes
{
    public static readonly ErrorCode NixKeyInvalid = new("KW0501", ErrorKind.BadInput, "invalid Nix signing or public key", "a Nix key is NAME:BASE64 (64 bytes for a secret key, 32 for a public key), as `nix key generate-secret` writes it");
    public static readonly ErrorCode NixSignatureInvalid = new("KW0502", ErrorKind.BadInput, "invalid Nix signature text", "a Sig: value is KEYNAME:BASE64 of a 64-byte Ed25519 signature");
    public static readonly ErrorCode NarInfoInvalid = new("KW0503", ErrorKind.BadInput, "invalid .narinfo file", "a narinfo is `Key: Value` lines with at least StorePath, URL, NarHash (sha256) and a non-zero NarSize");
    public static readonly ErrorCode NixCacheUnverified = new("KW0504", ErrorKind.Failed, "binary cache has unsigned or badly signed paths", "sign the listed paths with `keyward nix sign` (or `nix store sign`) using a key whose public half is trusted");
    public static readonly ErrorCode NixCacheUnreachable = new("KW0505", ErrorKind.Failed, "binary cache cannot be read", "check the URL or directory, the network, and that it serves nix-cache-info");
    public static readonly ErrorCode NixCacheNoPaths = new("KW0506", ErrorKind.BadInput, "no store paths to verify", "an HTTP binary cache has no listing: pass --path HASH (repeatable) or --paths-from FILE");
}
