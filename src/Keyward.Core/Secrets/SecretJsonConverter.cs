using System.Text.Json;
using System.Text.Json.Serialization;

namespace Keyward.Core.Secrets;

/// <summary>
/// Refuses to serialise a <see cref="Secret"/>. Attached to the type itself (<c>[JsonConverter]</c>), so it applies with
/// any <see cref="JsonSerializerOptions"/>, default ones included, and an accidental
/// <c>JsonSerializer.Serialize(objWithSecret)</c> fails loudly instead of leaking.
/// Renderers that must write a value write <see cref="Secret.RevealString"/> explicitly.
/// </summary>
public sealed class SecretJsonConverter : JsonConverter<Secret>
{
    public override Secret Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        throw new JsonException("Secret values are never deserialised implicitly.");

    public override void Write(Utf8JsonWriter writer, Secret value, JsonSerializerOptions options) =>
        throw new InvalidOperationException("Secret values are never serialised implicitly; call Reveal() where a format needs the bytes.");
}
