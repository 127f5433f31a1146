namespace Keyward.Core.Errors;

// 07xx: sinks — rendering files from credential values, writing them atomically, running hooks.
public static partial class ErrorCodes
{
    public static readonly ErrorCode SinkValueMissing = new("KW0701", ErrorKind.Failed, "a sink needs a credential value that is not available",
        "run `keyward apply` so the credential is generated or imported before the sink is rendered");
    public static readonly ErrorCode SinkValueNotRepresentable = new("KW0702", ErrorKind.BadInput, "a value cannot be represented in the sink's format",
        "choose an encoding that yields plain text (e.g. `encoding: base64`) or a format that can carry the value");
    public static readonly ErrorCode SinkInvalidKey = new("KW0703", ErrorKind.BadInput, "a sink entry key is not valid for the sink's format",
        "env names are [A-Za-z_][A-Za-z0-9_]*, Kubernetes data keys [-._a-zA-Z0-9]+, hosts have no whitespace, '#' or '='; keys must be unique");
    public static readonly ErrorCode SinkMissingHost = new("KW0704", ErrorKind.BadInput, "a host-keyed sink entry has no host",
        "give the entry a key (the host), or set `host:` on the external credential");
    public static readonly ErrorCode SinkShape = new("KW0705", ErrorKind.BadInput, "the sink's entries or options do not fit its format",
        "raw sinks take exactly one entry; nix-conf and kubernetes-secret sinks need their options block; attic-config entries need an endpoint");
    public static readonly ErrorCode SinkPublicKeyMissing = new("KW0706", ErrorKind.BadInput, "a sink asks for a public key the credential does not have",
        "only nix-signing-key and rsa-key credentials have a public half (take: publicKey)");
    public static readonly ErrorCode SinkTargetIsSymlink = new("KW0710", ErrorKind.Failed, "a sink's target path is a symbolic link",
        "Keyward never writes through a symlink it did not create; remove the link or point the sink at the real file");
    public static readonly ErrorCode SinkTargetNotFile = new("KW0711", ErrorKind.Failed, "a sink's target path exists and is not a regular file",
        "remove or move the directory or special file at that path");
    public static readonly ErrorCode SinkWriteFailed = new("KW0712", ErrorKind.Failed, "writing a sink file failed",
        "check free space, permissions and that the file system is writable; no partial file was left behind");
    public static readonly ErrorCode SinkUnknownOwner = new("KW0713", ErrorKind.Failed, "a sink's owner or group does not exist on this host",
        "create the user or group first, or use a numeric id");
    public static readonly ErrorCode SinkLinkConflict = new("KW0714", ErrorKind.Failed, "a persisted sink's runtime path cannot be made a symlink",
        "the runtime path is a directory; remove it so Keyward can link it to the persisted file");
    public static readonly ErrorCode SinkParentIsSymlink = new("KW0715", ErrorKind.Failed, "a directory on the way to a file is a symbolic link Keyward does not follow",
        "under --root no link is followed; elsewhere only links owned by root or by Keyward's user are; point the sink at the real directory or remove the link");
    public static readonly ErrorCode SinkUnsafeDirectory = new("KW0716", ErrorKind.Failed, "a directory on the way to a file lets other users replace what Keyward writes",
        "remove the world-write bit (chmod o-w), or, in a sticky directory such as /tmp, use a directory owned by root or by Keyward's user");
    public static readonly ErrorCode SinkOwnerNotApplied = new("KW0717", ErrorKind.Failed, "sink owner and group not applied: not running as root",
        "run apply as root for the declared owner and group to be set; until then the files belong to the user who ran keyward");
}
