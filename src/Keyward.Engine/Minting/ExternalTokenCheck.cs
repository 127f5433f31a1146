using Keyward.Core.Errors;
using Keyward.Core.Manifest;
using Keyward.Core.Secrets;
using Keyward.Crypto.Tokens;

namespace Keyward.Engine.Minting;

/// <summary>
/// Checks an external token read from its source before anything is stored (seed 002): a provider token (GitHub, GitLab,
/// Gitea, Coder, 1Password) is one word — no whitespace or control character inside — because every sink that carries
/// it (Nix access-tokens, netrc, git credentials, headers) would otherwise fail to render, or worse, render a broken line
/// after the value was already stored. Generic and S3 values are not constrained. A 1Password token's structure is
/// checked too (<see cref="OnePasswordServiceAccountToken"/>; a live check would need a 1Password sign-in).
/// </summary>
internal static class ExternalTokenCheck
{
    public static void Validate(ExternalCredential c, Secret value, string source)
    {
        if (c.Provider is ExternalProvider.Generic or ExternalProvider.S3) return;
        var bytes = value.Reveal();
        for (var i = 0; i < bytes.Length; i++)
        {
            if (bytes[i] > 0x20 && bytes[i] != 0x7f) continue;
            var what = bytes[i] switch { (byte)' ' => "a space", (byte)'\t' => "a tab", (byte)'\n' or (byte)'\r' => "a line break", _ => "a control character" };
            throw ErrorCodes.ExternalSourceInvalid.At(c.Source?.Location ?? c.Location,
                $"credential '{c.Name}': the value in {source} contains {what} at character {i + 1} of {bytes.Length}; a {c.Provider.Name()} token is one word",
                $"put only the token in {source} (no spaces, quotes or line breaks inside) and run `keyward apply` again; nothing was stored").AsException();
        }
        if (c.Provider == ExternalProvider.OnePassword && OnePasswordServiceAccountToken.Inspect(bytes) is { Valid: false } shape)
            throw ErrorCodes.ExternalSourceInvalid.At(c.Source?.Location ?? c.Location,
                $"credential '{c.Name}': the value in {source} is not a 1Password service-account token: {shape.Problem}",
                $"copy the whole token (ops_…, several hundred characters) from the service account's page in 1Password into {source} and run `keyward apply` again; nothing was stored").AsException();
    }
}
