using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Keyward.Cli;

/// <summary>
/// Every <c>--json</c> output is serialized through <see cref="Context"/>: source-generated, so the NativeAOT binary
/// writes the same text as a JIT build (the reflection serializer printed <c>{}</c> once trimmed, and it is an
/// analyzer error in src/). Indented, nulls left out, camelCase names of the records in Output/JsonOutput.cs.
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
