namespace Keyward.Core.Errors;

// KW13xx: hosts in the manifest and `keyward agent` (host authentication, delivery to hosts).
public static partial class ErrorCodes
{
    // Manifest: hosts and the sinks they receive.
    public static readonly ErrorCode HostUnknown = new("KW1301", ErrorKind.BadInput, "a sink names a host that is not declared",
        "declare the host under 'hosts:' with its sshKey (or ageRecipient), or fix the name");
    public static readonly ErrorCode HostKeyInvalid = new("KW1302", ErrorKind.BadInput, "a host's key is malformed",
        "paste the host's /etc/ssh/ssh_host_ed25519_key.pub line (ssh-ed25519 AAAA…), or an age1… recipient");
    public static readonly ErrorCode HostKeyShared = new("KW1303", ErrorKind.BadInput, "two hosts declare the same key",
        "each host has its own key: a shared key lets one host read the other's sinks");
    public static readonly ErrorCode HostSinkConflict = new("KW1304", ErrorKind.BadInput, "a sink's host or hosts setting is not usable",
        "give either 'host: NAME' or 'hosts: [A, B]' (not both, not empty, each host once)");
    public static readonly ErrorCode HostSinkNotDeliverable = new("KW1305", ErrorKind.BadInput, "this sink cannot be delivered by an agent",
        "leave the sink on the authority (no host:), or drop the setting the agent cannot carry out");
    public static readonly ErrorCode HostDeadlineOutOfRange = new("KW1306", ErrorKind.BadInput, "a rotation's hostDeadline is longer than 24h",
        "set a shorter hostDeadline (a paused rotation resumes later with `keyward rotate --resume`, or by keyward serve's controller)");

    // Agent protocol.
    public static readonly ErrorCode AgentUnauthenticated = new("KW1310", ErrorKind.Failed, "the host could not be authenticated",
        "check that the host is declared under 'hosts:' with the public half of --identity, and that the server's clock is right");
    public static readonly ErrorCode AgentIdentityInvalid = new("KW1311", ErrorKind.BadInput, "the agent's identity file cannot be used",
        "--identity names an unencrypted OpenSSH ed25519 private key (/etc/ssh/ssh_host_ed25519_key) or an AGE-SECRET-KEY-1… file");
    public static readonly ErrorCode AgentBundleRefused = new("KW1312", ErrorKind.Failed, "the agent refused the server's bundle",
        "the bundle could not be decrypted with this host's key, was altered, or names another host: check --server and the manifest");
    public static readonly ErrorCode AgentServerUnreachable = new("KW1313", ErrorKind.Failed, "the Keyward server could not be reached",
        "check --server; the files from the last delivery stay in place");
    public static readonly ErrorCode AgentServerError = new("KW1314", ErrorKind.Failed, "the Keyward server refused the request",
        "see the message; the server's log names the host and the reason");
    public static readonly ErrorCode SshSignatureInvalid = new("KW1315", ErrorKind.Failed, "the SSH signature is malformed or does not verify",
        "sign with the key declared for the host, in the keyward-agent@v1 namespace");
}
