namespace Keyward.Core.Errors;

// KW11xx: recognising imported tokens by their format.
public static partial class ErrorCodes
{
    public static readonly ErrorCode TokenProviderMismatch = new("KW1101", ErrorKind.BadInput, "token does not look like the declared provider's", "check that the right token was imported for this credential, or fix its `provider`");
    public static readonly ErrorCode TokenChecksumInvalid = new("KW1102", ErrorKind.BadInput, "token checksum is wrong", "the token was truncated or mistyped: copy it again from the provider");
}
