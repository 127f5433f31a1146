using System.Text.Encodings.Web;
using System.Text.Json;
using Keyward.Core.Errors;

namespace Keyward.Sinks.Rendering.Json;

/// <summary><c>json</c>: an object of entry key → value string, in manifest order, indented by two spaces,
/// with a trailing newline. Non-ASCII and <c>+</c> are written as is (relaxed escaping: the file is data, not HTML).</summary>
internal static class JsonRenderer
{
    private static readonly JsonWriterOptions Options = new()
    {
        Indented = true,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        NewLine = "\n",
    };

    public static byte[] Render(RenderContext context)
    {
        context.RequireUnique(context.Sink.Entries.Select(e => (e, e.Key)), StringComparer.Ordinal, "key");
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, Options))
        {
            writer.WriteStartObject();
            foreach (var entry in context.Sink.Entries)
            {
                if (entry.Key.Length == 0)
                    throw context.Error(ErrorCodes.SinkInvalidKey, entry, "a json entry needs a key");
                writer.WriteString(entry.Key, context.Text(entry));
            }
            writer.WriteEndObject();
        }
        buffer.WriteByte((byte)'\n');
        return buffer.ToArray();
    }
}
