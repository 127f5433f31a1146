namespace Keyward.Core.Errors;

/// <summary>0450–0469: agenix export and import, store recipient commands, minting with a stored signer.</summary>
public static partial class ErrorCodes
{
    public static readonly ErrorCode AgenixNoRecipients = new("KW0450", ErrorKind.BadInput, "nothing to export: no recipients",
        "declare `recipients:` on the credentials to export (age1… or ssh-ed25519 keys), or top-level `recipients:` to export every credential");
    public static readonly ErrorCode AgenixDirectory = new("KW0451", ErrorKind.BadInput, "agenix directory unusable",
        "pass an existing directory holding *.age files (import), or a writable directory (export)");
    public static readonly ErrorCode AgenixDecrypt = new("KW0452", ErrorKind.Failed, "an agenix file cannot be decrypted",
        "pass the identity (-i) the file was encrypted to: an age identity file or the host's ssh-ed25519 private key; --skip-foreign skips files meant for other hosts");
    public static readonly ErrorCode AgenixKindMismatch = new("KW0453", ErrorKind.BadInput, "imported value does not fit the declared credential",
        "the file's content must be what the manifest declares (a secret of the declared length, a PEM for rsa-key, NAME:base64 for nix-signing-key, a JWT for attic-token)");
    public static readonly ErrorCode AgenixNothingToImport = new("KW0455", ErrorKind.BadInput, "no agenix files to import",
        "the directory holds no *.age files (or -f declares none of them)");
    public static readonly ErrorCode StoreRecipientsUnchanged = new("KW0456", ErrorKind.BadInput, "no recipient given",
        "pass one or more age1… or 'ssh-ed25519 AAAA…' public keys");
    public static readonly ErrorCode TokenSignerUnusable = new("KW0457", ErrorKind.BadInput, "the --signed-by credential cannot sign Attic tokens",
        "name a stored credential of kind secret (HS256) or rsa-key (RS256), and do not combine --signed-by with --secret-base64-file");
}
