using System.Runtime.InteropServices;

namespace Keyward.Core.Errors;

/// <summary>Words for a failed file operation. The CLI is built with <c>UseSystemResourceKeys</c> (smaller, faster to
/// start), so .NET's own exception messages are bare resource keys such as <c>UnauthorizedAccess_IODenied_Path</c>:
/// never print <c>ex.Message</c> of a runtime I/O exception, print this.</summary>
public static class IoErrorText
{
    public static string Describe(Exception e) => e switch
    {
        UnauthorizedAccessException => "permission denied",
        PathTooLongException => "the path or one of its components is too long",
        FileNotFoundException or DirectoryNotFoundException => "no such file or directory",
        // On Linux, .NET puts errno in HResult for the I/O errors it has no exception type for (ENOSPC, EROFS, EIO...);
        // strerror comes from libc and is real text.
        IOException { HResult: > 0 and < 4096 } io => Marshal.GetPInvokeErrorMessage(io.HResult),
        IOException io when !LooksLikeResourceKey(io.Message) => io.Message,
        _ => e.GetType().Name,
    };

    // "IO_PathTooLong_Path, /x" or "UnauthorizedAccess_IODenied_Path, /x": an identifier with '_' before any space.
    private static bool LooksLikeResourceKey(string message)
    {
        var end = message.IndexOfAny([' ', ',']);
        var head = end < 0 ? message : message[..end];
        return head.Contains('_', StringComparison.Ordinal) && !head.Contains('/', StringComparison.Ordinal);
    }
}
