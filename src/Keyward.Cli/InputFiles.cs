using Keyward.Core.Errors;
using Keyward.Core.Inputs;

namespace Keyward.Cli;

/// <summary>Files named on the command line (identities, recipient lists, keys, narinfos): read through
/// <see cref="InputFile"/>, so a FIFO or a device is refused (KW0010) instead of blocking or reading forever, and a
/// file over the limit is KW0011.</summary>
internal static class InputFiles
{
    public static byte[] ReadBytes(string path, long maxBytes = InputFile.MaxSourceBytes)
    {
        var problem = InputFile.TryRead(path, maxBytes, out var bytes, out var detail);
        return problem switch
        {
            InputFileProblem.None => bytes,
            InputFileProblem.Missing => throw ErrorCodes.FileNotFound.Exception($"{path} does not exist"),
            InputFileProblem.NotRegular => throw ErrorCodes.InputNotRegularFile.Exception($"{path} is {detail}"),
            InputFileProblem.TooLarge => throw ErrorCodes.InputTooLarge.Exception($"{path} is too large ({detail})"),
            _ => throw ErrorCodes.FileUnreadable.Exception($"{path} cannot be read: {detail}"),
        };
    }

    /// <summary>As File.ReadAllText: UTF-8 unless a byte order mark says otherwise.</summary>
    public static string ReadText(string path, long maxBytes = InputFile.MaxSourceBytes)
    {
        var bytes = ReadBytes(path, maxBytes);
        try
        {
            using var reader = new StreamReader(new MemoryStream(bytes), System.Text.Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
            return reader.ReadToEnd();
        }
        finally
        {
            Array.Clear(bytes);
        }
    }
}
