namespace Keyward.Core.Errors;

/// <summary>04xx: the age file format (recipients, identities, header, armor, payload).</summary>
public static partial class ErrorCodes
{
    public static readonly ErrorCode AgeRecipientInvalid = new("KW0401", ErrorKind.BadInput, "invalid age recipient", "a recipient is an age1… key or an 'ssh-ed25519 AAAA…' public key line");
    public static readonly ErrorCode AgeIdentityInvalid = new("KW0402", ErrorKind.BadInput, "invalid age identity", "an identity file holds AGE-SECRET-KEY-1… lines (from 'keyward keygen' or age-keygen) or an unencrypted OpenSSH private key");
    public static readonly ErrorCode AgeHeaderInvalid = new("KW0403", ErrorKind.Failed, "malformed age header", "the file is not a valid age v1 file, or it was damaged (for example by a CRLF conversion)");
    public static readonly ErrorCode AgeHmacMismatch = new("KW0404", ErrorKind.Failed, "age header MAC mismatch", "the header was modified after encryption; the file cannot be trusted");
    public static readonly ErrorCode AgePayloadInvalid = new("KW0405", ErrorKind.Failed, "age payload damaged or truncated", "the encrypted data after the header is corrupt or cut short; any output written so far is incomplete");
    public static readonly ErrorCode AgeArmorInvalid = new("KW0406", ErrorKind.Failed, "malformed age ASCII armor", "armored files are strict PEM: '-----BEGIN AGE ENCRYPTED FILE-----', 64-column padded base64, '-----END AGE ENCRYPTED FILE-----'");
    public static readonly ErrorCode AgeNoMatch = new("KW0407", ErrorKind.Failed, "no identity matches the age file", "the file was encrypted to other recipients; pass the identity (-i) whose recipient it was encrypted to");
    public static readonly ErrorCode AgeUnsupported = new("KW0408", ErrorKind.BadInput, "unsupported age feature", "Keyward supports X25519 (age1…) and ssh-ed25519 keys; use the age CLI for passphrases, ssh-rsa, plugins and post-quantum keys");
    public static readonly ErrorCode AgeNoRecipients = new("KW0409", ErrorKind.BadInput, "no age recipients", "pass at least one -r RECIPIENT or -R FILE");
}
