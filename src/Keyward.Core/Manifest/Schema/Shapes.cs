namespace Keyward.Core.Manifest.Schema;

// The declarative description of the manifest: which keys each mapping takes, their types, defaults and
// the kinds/formats they apply to. The parser checks keys, required fields, applicability and scalar types
// against these tables, and ManifestSchema renders the same tables as JSON Schema, so the two cannot drift.

internal abstract record Shape;

internal enum ScalarType
{
    String,
    Integer,
    Boolean,
    Duration,
    Mode,
    Date,
    Url,
}

/// <summary>A scalar. <paramref name="Choices"/> restricts the text (enums; for integers, the allowed numbers).</summary>
internal sealed record ScalarShape(ScalarType Type, IReadOnlyList<string>? Choices = null, long? Min = null, long? Max = null, string? Pattern = null) : Shape;

internal sealed record ListShape(Shape Item) : Shape;

/// <summary>A mapping with free keys (names, patterns, hosts). <paramref name="KeyPattern"/> is a regex for the schema.</summary>
internal sealed record MapShape(Shape Value, string? KeyPattern = null) : Shape;

internal sealed record ObjectShape(ObjectSpec Spec) : Shape;

/// <summary>Any one of the alternatives (a hook or a list of hooks; a credential name or an entry mapping).</summary>
internal sealed record AnyOfShape(IReadOnlyList<Shape> Options) : Shape;

/// <summary>One key of a mapping. <paramref name="AppliesTo"/> lists the discriminator values (kind, format)
/// the field belongs to; null means every value. <paramref name="Default"/> is the documented default, as JSON text.</summary>
internal sealed record Field(string Name, Shape Shape, string Description, bool Required = false, string? Default = null, IReadOnlyList<string>? AppliesTo = null)
{
    public bool AppliesToValue(string? value) => AppliesTo is null || value is null || AppliesTo.Contains(value);
}

/// <summary>A mapping type. With a <paramref name="Discriminator"/> (such as <c>kind</c>), fields carrying
/// <see cref="Field.AppliesTo"/> are only valid for those values of the discriminator.
/// <paramref name="ExactlyOneOf"/> lists groups of keys of which exactly one group must be present.</summary>
internal sealed record ObjectSpec(string Id, string Description, IReadOnlyList<Field> Fields, string? Discriminator = null,
    IReadOnlyList<IReadOnlyList<string>>? ExactlyOneOf = null)
{
    private Dictionary<string, Field>? _byName;

    public Field? Find(string name) =>
        (_byName ??= Fields.ToDictionary(f => f.Name, StringComparer.Ordinal)).GetValueOrDefault(name);

    public Field this[string name] => Find(name) ?? throw new InvalidOperationException($"field '{name}' is not in the '{Id}' table");

    public IReadOnlyList<string> DiscriminatorValues =>
        Discriminator is null ? [] : ((ScalarShape)this[Discriminator].Shape).Choices ?? [];
}
