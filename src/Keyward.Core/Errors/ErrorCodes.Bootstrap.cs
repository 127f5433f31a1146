namespace Keyward.Core.Errors;

// KW10xx: first-token bootstrap (Coder, Gitea) and live Kubernetes Secrets.
public static partial class ErrorCodes
{
    public static readonly ErrorCode BootstrapUnsupported = new("KW1001", ErrorKind.BadInput, "bootstrap is not available for this service or credential",
        "bootstrap handles `coder` and `gitea` services whose token is an external credential");
    public static readonly ErrorCode BootstrapNeedsHuman = new("KW1002", ErrorKind.Failed, "bootstrap is waiting for a human",
        "follow the instructions printed above (and written to the placeholder file), then rerun `keyward bootstrap`");
    public static readonly ErrorCode BootstrapDeadline = new("KW1003", ErrorKind.Failed, "bootstrap deadline passed before a valid token appeared",
        "rerun with a longer --deadline, or finish the manual steps first");
    public static readonly ErrorCode BootstrapNotInstalled = new("KW1004", ErrorKind.Failed, "the service is not installed yet",
        "finish the service's installer (Gitea: set INSTALL_LOCK=true and create the admin with the CLI)");
    public static readonly ErrorCode KubeConfigInvalid = new("KW1005", ErrorKind.BadInput, "no usable Kubernetes configuration",
        "pass --kubeconfig FILE, set KUBECONFIG, or run inside a pod with a service account");
    public static readonly ErrorCode KubernetesApiFailed = new("KW1006", ErrorKind.Failed, "the Kubernetes API refused the Secret write",
        "the service account needs create and patch on secrets in that namespace");
}
