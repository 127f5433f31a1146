namespace Keyward.Core.Errors;

/// <summary>0470–0489: SOPS files (import, export, and the manifest's <c>sops</c> source).</summary>
public static partial class ErrorCodes
{
    public static readonly ErrorCode SopsFormat = new("KW0470", ErrorKind.BadInput, "not a SOPS file Keyward can read",
        "pass a YAML or JSON file written by `sops --encrypt` (it ends with a `sops:` block holding age, lastmodified and mac); dotenv and INI SOPS files are not supported");
    public static readonly ErrorCode SopsNoAgeKey = new("KW0471", ErrorKind.Failed, "no identity opens the SOPS file's data key",
        "pass the age identity (--identity) the file was encrypted to, or re-encrypt the file to this host with `sops updatekeys` after adding its age1… recipient to .sops.yaml");
    public static readonly ErrorCode SopsTampered = new("KW0472", ErrorKind.Failed, "SOPS file failed authentication",
        "a value, a key path or the MAC was changed after sops wrote the file: restore the file from git (`git checkout -- FILE`) or re-create it with `sops`");
    public static readonly ErrorCode SopsKeyMissing = new("KW0473", ErrorKind.BadInput, "the SOPS file has no such key",
        "check the key (nested keys are joined with '/': `key: attic/admin_token`), or add it with `sops set FILE '[\"KEY\"]' '\"VALUE\"'`");
    public static readonly ErrorCode SopsUnsupported = new("KW0474", ErrorKind.BadInput, "SOPS feature not supported",
        "decrypt the file with `sops -d` and re-encrypt it with age recipients only (no key_groups/Shamir, no comment regexes)");
    public static readonly ErrorCode SopsNoRecipients = new("KW0475", ErrorKind.BadInput, "no age recipients to encrypt the SOPS file to",
        "pass --recipient age1… (repeatable), or declare top-level `recipients:` with age1… keys in the manifest");
    public static readonly ErrorCode SopsNothingToImport = new("KW0476", ErrorKind.BadInput, "nothing to import from the SOPS file",
        "name credentials as top-level keys of the file, or point credentials at it with `source: { sops: FILE, key: KEY }` and pass -f");
}
