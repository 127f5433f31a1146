namespace Keyward.Core.Errors;

// KW12xx: `keyward serve` (listening, TLS, the controller loop, the operator API).
// KW13xx is kept for `keyward agent`, KW14xx for CI tokens (OIDC) and the Attic revocation gate.
public static partial class ErrorCodes
{
    public static readonly ErrorCode ListenAddressInvalid = new("KW1201", ErrorKind.BadInput, "the listen address is not HOST:PORT or unix:PATH",
        "give --listen as 127.0.0.1:8420, [::1]:8420, localhost:8420 or unix:/run/keyward/gate.sock (an absolute path of at most 107 bytes)");
    public static readonly ErrorCode ListenNeedsTls = new("KW1202", ErrorKind.BadInput, "plain HTTP is allowed only on a loopback address or a Unix socket",
        "pass --tls-cert and --tls-key, or --insecure-listen when a TLS-terminating proxy sits in front");
    public static readonly ErrorCode TlsFilesInvalid = new("KW1203", ErrorKind.BadInput, "the TLS certificate or key cannot be used",
        "--tls-cert and --tls-key name PEM files: the certificate (chain) and its unencrypted private key");
    public static readonly ErrorCode ControllerStepFailed = new("KW1204", ErrorKind.Failed, "a step of the controller loop failed; the loop goes on",
        "the step is retried after a back-off (doubling up to the cap); /readyz, /metrics and the serve log say which step and why");
    public static readonly ErrorCode OperatorUnauthorized = new("KW1205", ErrorKind.Failed, "the operator API needs a valid operator bearer token",
        "create one with `keyward operator-token create NAME` and send it as `Authorization: Bearer TOKEN`; a revoked or expired token is refused");
    public static readonly ErrorCode OperatorTokenNameInvalid = new("KW1206", ErrorKind.BadInput, "an operator token name is 1-64 letters, digits, '.', '_', '@' or '-'",
        "name the token after the person or system that uses it, e.g. `keyward operator-token create alice`");
    public static readonly ErrorCode RateLimited = new("KW1207", ErrorKind.Failed, "too many requests from this client",
        "wait the Retry-After seconds and try again; an operator can raise `keyward serve --rate-limit` (and name a proxy in front with --trusted-proxy, so clients are told apart)");
    public static readonly ErrorCode ListenSocketUnusable = new("KW1208", ErrorKind.BadInput, "the Unix socket cannot be created at this path",
        "the directory must exist and be writable by keyward serve (systemd: RuntimeDirectory=keyward gives /run/keyward)");
    public static readonly ErrorCode ListenSocketOccupied = new("KW1209", ErrorKind.BadInput, "something other than a stale socket is at the Unix socket path",
        "keyward serve replaces only a socket nobody listens on; remove the file yourself if it is yours, or stop the other server, or pick another path");
}
