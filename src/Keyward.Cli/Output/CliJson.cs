using System.Buffers;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;

namespace Keyward.Cli;

/// <summary>
/// Every <c>--json</c> output is written by <see cref="WriteLine{T}"/> with a type of <see cref="Context"/>:
/// source-generated, so the NativeAOT binary writes the same text as a JIT build (the reflection serializer printed
/// <c>{}</c> once trimmed, and it is an analyzer error in src/). Indented, nulls left out, camelCase names of the
/// records in Output/JsonOutput.cs.
/// </summary>
internal static class CliJson
{
    /// <summary>The generated context on options that add what attributes cannot say: the relaxed encoder
    /// (non-ASCII text and <c>&lt;&gt;&amp;'</c> written as they are).</summary>
    public static readonly CliJsonContext Context = new(new JsonSerializerOptions
    {
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    });

    /// <summary>The writer options <see cref="JsonSerializer"/> derives from <see cref="Context"/>'s options.</summary>
    private static readonly JsonWriterOptions WriterOptions = new()
    {
        Indented = Context.Options.WriteIndented,
        IndentCharacter = Context.Options.IndentCharacter,
        IndentSize = Context.Options.IndentSize,
        NewLine = Context.Options.NewLine,
        Encoder = Context.Options.Encoder,
    };

    /// <summary>
    /// Writes <paramref name="value"/> and a newline to <paramref name="o"/>: the text
    /// <c>o.WriteLine(JsonSerializer.Serialize(value, info))</c> writes, made by the generated code that writes each
    /// property straight to a <see cref="Utf8JsonWriter"/> (<see cref="JsonTypeInfo{T}.SerializeHandler"/>). The
    /// serializer does not use that code itself: the relaxed encoder cannot be given in the attribute, so the options
    /// differ from the generated ones and it walks the metadata property by property instead, twice as slow (most of
    /// what apply --json of 10,000 unchanged sinks spent printing). Property names, order and null handling are fixed at
    /// generation; the writer brings the indentation and the encoder, configured as the serializer would.
    /// </summary>
    public static void WriteLine<T>(TextWriter o, T value, JsonTypeInfo<T> info)
    {
        ArgumentNullException.ThrowIfNull(o);
        ArgumentNullException.ThrowIfNull(info);
        var text = new TextSink(o);
        using (var writer = new Utf8JsonWriter(text, WriterOptions))
        {
            if (info.SerializeHandler is { } generated) generated(writer, value);
            else JsonSerializer.Serialize(writer, value, info);
        }
        text.Complete();
        o.WriteLine();
    }

    /// <summary>Hands what the JSON writer wrote to a text writer as it goes, through one 64 KiB buffer: a 4 MB document
    /// is never held whole (as bytes, then again as a string), which cost more in fresh pages than in writing it. What the
    /// writer advances is kept until the buffer is full: the serializer flushes its writer after every value it writes
    /// through a converter (each credential's <c>currentVersion</c>), and passing each flush on made one write to stdout
    /// per credential.</summary>
    private sealed class TextSink(TextWriter o) : IBufferWriter<byte>
    {
        private const int Size = 64 * 1024;
        private byte[] _bytes = new byte[Size];
        private int _used;
        private char[] _chars = new char[Size + 4];
        private readonly Decoder _decoder = Encoding.UTF8.GetDecoder(); // keeps a character split between two chunks

        public void Advance(int count)
        {
            if (count < 0 || count > _bytes.Length - _used) throw new ArgumentOutOfRangeException(nameof(count));
            _used += count;
        }

        public Memory<byte> GetMemory(int sizeHint = 0)
        {
            var wanted = Math.Max(sizeHint, 1);
            if (_bytes.Length - _used >= wanted) return _bytes.AsMemory(_used);
            Write(flush: false);
            if (wanted > _bytes.Length) _bytes = new byte[wanted];
            return _bytes;
        }

        public Span<byte> GetSpan(int sizeHint = 0) => GetMemory(sizeHint).Span;

        public void Complete() => Write(flush: true);

        private void Write(bool flush)
        {
            var bytes = _bytes.AsSpan(0, _used);
            _used = 0;
            var count = _decoder.GetCharCount(bytes, flush);
            if (count > _chars.Length) _chars = new char[count];
            var n = _decoder.GetChars(bytes, _chars, flush);
            if (n > 0) o.Write(_chars, 0, n);
        }
    }
}

[JsonSourceGenerationOptions(
    WriteIndented = true,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(ApplyJson))]
[JsonSerializable(typeof(CheckJson))]
[JsonSerializable(typeof(ListRowJson[]))]
[JsonSerializable(typeof(TaxonomyRowJson[]))]
[JsonSerializable(typeof(AuditRowJson[]))]
[JsonSerializable(typeof(TokenJson[]))]
[JsonSerializable(typeof(RevokeJson))]
[JsonSerializable(typeof(RotationPlanJson))]
[JsonSerializable(typeof(RotateJson))]
[JsonSerializable(typeof(ReconcileJson[]))]
[JsonSerializable(typeof(StoreRecipientsJson))]
[JsonSerializable(typeof(AgenixExportJson))]
[JsonSerializable(typeof(AgenixImportJson))]
[JsonSerializable(typeof(SopsExportJson))]
[JsonSerializable(typeof(SopsImportJson))]
internal sealed partial class CliJsonContext : JsonSerializerContext;
