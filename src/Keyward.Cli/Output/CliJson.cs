using System.Text.Json;
using System.Text.Json.Serialization;
using Keyward.Core.Secrets;

namespace Keyward.Cli;

internal static class CliJson
{
    public static readonly JsonSerializerOptions Options = Create();

    private static JsonSerializerOptions Create()
    {
        var o = new JsonSerializerOptions
        {
            WriteIndented = true,
            DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
            Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        };
        o.Converters.Add(new SecretJsonConverter());
        return o;
    }
}
