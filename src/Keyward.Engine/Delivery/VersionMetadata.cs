using System.Globalization;
using Keyward.Core.Rotation;
using Keyward.Engine.Minting;
using Keyward.Core.Store;

namespace Keyward.Engine.Delivery;

/// <summary>The metadata Keyward itself keeps on a credential version, read through one typed view instead of bare string
/// keys in every file. (Check history and learned expiries keep their own keys.)</summary>
public sealed record VersionMetadata(string? Spec, string? KeyName, string? PublicKey, string? SignedBy, int? SignedByVersion, string? TokenId)
{
    public const string SpecKey = SpecFingerprint.MetadataKey;
    public const string KeyNameKey = RotationPlanner.KeyNameMetadata;
    public const string PublicKeyKey = "publicKey";
    public const string SignedByKey = "signedBy";
    public const string SignedByVersionKey = "signedByVersion";
    public const string TokenIdKey = "tokenId";

    public static VersionMetadata Of(CredentialVersion version) => Of(version.Metadata);

    public static VersionMetadata Of(IReadOnlyDictionary<string, string> m) => new(
        m.GetValueOrDefault(SpecKey),
        m.GetValueOrDefault(KeyNameKey),
        m.GetValueOrDefault(PublicKeyKey),
        m.GetValueOrDefault(SignedByKey),
        m.TryGetValue(SignedByVersionKey, out var sv) && int.TryParse(sv, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : null,
        m.GetValueOrDefault(TokenIdKey));
}
