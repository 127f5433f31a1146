using System.Buffers;
using System.Text;
using System.Text.Json;

namespace Keyward.Core.Json;

/// <summary>
/// A string as a JSON string literal, exactly as <c>JsonSerializer.Serialize(string)</c> writes it (default encoder:
/// non-ASCII and HTML-sensitive characters escaped), without the reflection-based serializer (NativeAOT).
/// Used where a JSON string doubles as a YAML double-quoted scalar.
/// </summary>
public static class JsonString
{
    public static string Quote(string value)
    {
        var buffer = new ArrayBufferWriter<byte>(value.Length + 2);
        using (var writer = new Utf8JsonWriter(buffer))
            writer.WriteStringValue(value);
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }
}
