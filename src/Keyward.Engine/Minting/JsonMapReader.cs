using System.Text;
using System.Text.Json;
using Keyward.Core.Errors;

namespace Keyward.Engine.Minting;

/// <summary>
/// Reads a <c>jsonMap</c> source (<c>{"github.com": "ghp_…", "gitlab.com": "glpat-…"}</c>, seed 002's tokens.json) and says
/// where it is wrong as <c>FILE:LINE:COLUMN</c>: a trailing comma, a value that is not a string, a duplicate key, a top
/// level that is not an object. Messages name keys and positions, never values (the parser's own text can quote input).
/// </summary>
internal static class JsonMapReader
{
    private const string Shape = "the file must be one JSON object of strings: {\"github.com\": \"ghp_…\", \"gitlab.com\": \"glpat-…\"}";

    public static Dictionary<string, string> Parse(byte[] bytes, string path, Core.Errors.SourceLocation? source)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        var start = bytes.AsSpan().StartsWith("\xEF\xBB\xBF"u8) ? 3 : 0;
        var reader = new Utf8JsonReader(bytes.AsSpan(start), new JsonReaderOptions { AllowTrailingCommas = false, CommentHandling = JsonCommentHandling.Disallow });
        try
        {
            if (!reader.Read()) throw Fail(bytes, path, source, start, "the file is empty", Shape);
            if (reader.TokenType != JsonTokenType.StartObject)
                throw Fail(bytes, path, source, start + (int)reader.TokenStartIndex, $"the top level is {Describe(reader.TokenType)}, not an object", Shape);
            while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
            {
                var keyAt = start + (int)reader.TokenStartIndex;
                var key = reader.GetString()!;
                reader.Read();
                var valueAt = start + (int)reader.TokenStartIndex;
                if (reader.TokenType != JsonTokenType.String)
                {
                    reader.Skip();
                    throw Fail(bytes, path, source, valueAt, $"the value of \"{Clip(key)}\" is {Describe(reader.TokenType)}, not a string", $"write the token as a string: \"{Clip(key)}\": \"…\"");
                }
                if (!map.TryAdd(key, reader.GetString()!))
                    throw Fail(bytes, path, source, keyAt, $"key \"{Clip(key)}\" appears twice", "keep one entry per host");
            }
            if (reader.Read())
                throw Fail(bytes, path, source, start + (int)reader.TokenStartIndex, "there is more after the object", Shape);
        }
        catch (JsonException e)
        {
            var line = (int)(e.LineNumber ?? 0);
            var column = (int)(e.BytePositionInLine ?? 0);
            var what = TrailingComma(bytes, start, line, column) ? "a trailing comma (JSON allows none after the last entry)" : "not valid JSON here";
            throw Located(path, source, line + 1, column + 1, what,
                what.StartsWith("a trailing", StringComparison.Ordinal) ? "remove the ',' before the closing '}'" : Shape);
        }
        return map;
    }

    private static bool TrailingComma(byte[] bytes, int start, int line, int column)
    {
        var offset = Offset(bytes, start, line, column);
        if (offset >= bytes.Length || bytes[offset] is not ((byte)'}' or (byte)']')) return false;
        for (var i = offset - 1; i >= start; i--)
        {
            if (bytes[i] is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n') continue;
            return bytes[i] == (byte)',';
        }
        return false;
    }

    private static int Offset(byte[] bytes, int start, int line, int column)
    {
        var i = start;
        for (var l = 0; l < line && i < bytes.Length; i++)
            if (bytes[i] == (byte)'\n') l++;
        return Math.Min(bytes.Length, i + column);
    }

    private static KeywardException Fail(byte[] bytes, string path, Core.Errors.SourceLocation? source, int offset, string what, string hint)
    {
        var line = 1;
        var lineStart = 0;
        for (var i = 0; i < offset && i < bytes.Length; i++)
            if (bytes[i] == (byte)'\n') { line++; lineStart = i + 1; }
        var column = Encoding.UTF8.GetCharCount(bytes.AsSpan(lineStart, Math.Max(0, Math.Min(offset, bytes.Length) - lineStart))) + 1;
        return Located(path, source, line, column, what, hint);
    }

    private static KeywardException Located(string path, Core.Errors.SourceLocation? source, int line, int column, string what, string hint) =>
        ErrorCodes.ExternalSourceInvalid.At(source, $"JSON map {path}:{line}:{column}: {what}", $"{hint}; nothing was stored — fix the file and run the command again").AsException();

    private static string Describe(JsonTokenType t) => t switch
    {
        JsonTokenType.StartObject => "an object",
        JsonTokenType.StartArray => "an array",
        JsonTokenType.Number => "a number",
        JsonTokenType.True or JsonTokenType.False => "a boolean",
        JsonTokenType.Null => "null",
        _ => "not a value",
    };

    private static string Clip(string key) => key.Length > 64 ? key[..64] + "…" : key;
}
