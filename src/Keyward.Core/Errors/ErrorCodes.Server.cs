namespace Keyward.Core.Errors;

// KW12xx: `keyward serve` (listening, TLS, the controller loop, the operator API).
// KW13xx is kept for `keyward agent`, KW14xx for CI tokens (OIDC) and the Attic revocation gate.
public static partial class ErrorCodes
{
    public static readonly ErrorCode ListenAddressInvalid = new("KW1201", ErrorKind.BadInput, "the listen address is not HOST:PORT",
        "give --listen as 127.0.0.1:8420, [::1]:8420 or localhost:8420");
    public static readonly ErrorCode ListenNeedsTls = new("KW1202", ErrorKind.BadInput, "plain HTTP is allowed only on a loopback address",
        "pass --tls-cert and --tls-key, or --insecure-listen when a TLS-terminating proxy sits in front");
    public static readonly ErrorCode TlsFilesInvalid = new("KW1203", ErrorKind.BadInput, "the TLS certificate or key cannot be used",
        "--tls-cert and --tls-key name PEM files: the certificate (chain) and its unencrypted private key");
}
