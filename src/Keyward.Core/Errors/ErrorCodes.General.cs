namespace Keyward.Core.Errors;

public static partial class ErrorCodes
{
    public static readonly ErrorCode Internal = new("KW0001", ErrorKind.Failed, "internal error", "this is a bug in Keyward; rerun with --debug and report the trace");
    public static readonly ErrorCode Usage = new("KW0002", ErrorKind.BadInput, "invalid command-line usage", "run the command with --help to see its arguments");
    public static readonly ErrorCode FileNotFound = new("KW0003", ErrorKind.BadInput, "input file not found", "check the path; relative paths are resolved from the current directory");
    public static readonly ErrorCode FileUnreadable = new("KW0004", ErrorKind.BadInput, "input file cannot be read", "check the file's permissions");
    public static readonly ErrorCode RefuseTerminal = new("KW0005", ErrorKind.BadInput, "refusing to print a secret to a terminal", "pipe the output to a file or program, or pass --reveal");
    public static readonly ErrorCode StateDirectory = new("KW0006", ErrorKind.BadInput, "state directory unusable", "pass --state DIR or set KEYWARD_STATE to a writable directory");
    public static readonly ErrorCode Cancelled = new("KW0007", ErrorKind.Failed, "operation cancelled", "nothing was half-written; rerun the command");
    public static readonly ErrorCode IoFailure = new("KW0008", ErrorKind.Failed, "file system operation failed", "check free space and permissions of the target directory");
    public static readonly ErrorCode InvalidArgument = new("KW0009", ErrorKind.BadInput, "invalid argument value", "run the command with --help to see the accepted values");
    public static readonly ErrorCode InputNotRegularFile = new("KW0010", ErrorKind.BadInput, "input is not a regular file", "point Keyward at a regular file (not a directory, FIFO, device or socket)");
    public static readonly ErrorCode InputTooLarge = new("KW0011", ErrorKind.BadInput, "input file too large", "manifests are read up to 16 MiB, credential sources and token maps up to 1 MiB; check the path points at the intended file");
}
