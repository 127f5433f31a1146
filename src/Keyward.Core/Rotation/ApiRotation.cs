using Keyward.Core.Errors;
using Keyward.Core.Manifest;

namespace Keyward.Core.Rotation;

/// <summary>How the next value of a service's own token comes to be.</summary>
public enum ApiRotationKind
{
    /// <summary>Not a service's token, or its service has no API to create one: a person creates it and it is re-imported.</summary>
    None,
    /// <summary>Coder: created through the API with the current token (<c>POST /api/v2/users/me/keys/tokens</c>).</summary>
    Coder,
    /// <summary>Gitea with <c>adminUser</c> and <c>adminPassword</c>: created with Basic auth (<c>POST /api/v1/users/{user}/tokens</c>).</summary>
    Gitea,
    /// <summary>Gitea without a password to authenticate with: its API cannot create the next token (a token cannot create a token).</summary>
    GiteaWithoutPassword,
}

/// <summary>What a service's API allows for rotating its own token (service-apis.md §1.5, §2.2), shared by the planner,
/// the due policy and the rotation.</summary>
public static class ApiRotation
{
    public static ApiRotationKind For(KeywardManifest manifest, ExternalCredential credential)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        ArgumentNullException.ThrowIfNull(credential);
        if (manifest.Services.Any(s => s.Kind == ServiceKind.Coder && s.Token == credential.Name)) return ApiRotationKind.Coder;
        var gitea = manifest.Services.FirstOrDefault(s => s.Kind == ServiceKind.Gitea && s.Token == credential.Name);
        if (gitea is null) return ApiRotationKind.None;
        return gitea.AdminUser is not null && gitea.AdminPassword is not null ? ApiRotationKind.Gitea : ApiRotationKind.GiteaWithoutPassword;
    }

    /// <summary>True when Keyward creates the next value through the service's API.</summary>
    public static bool ThroughApi(KeywardManifest manifest, ExternalCredential credential) =>
        For(manifest, credential) is ApiRotationKind.Coder or ApiRotationKind.Gitea;

    /// <summary>The refusal for a token nothing can replace: a Gitea token whose service gives no password and which has no
    /// source to re-import a hand-made one from. Null when the rotation can go ahead.</summary>
    public static KeywardError? Refusal(KeywardManifest manifest, ExternalCredential credential)
    {
        if (For(manifest, credential) != ApiRotationKind.GiteaWithoutPassword || credential.Source is not null) return null;
        var service = manifest.Services.First(s => s.Kind == ServiceKind.Gitea && s.Token == credential.Name);
        return ErrorCodes.ServiceTokenNotRotatable.At(credential.Location,
            $"'{credential.Name}' is the token of Gitea service '{service.Name}', and Gitea creates a token only with the user's password " +
            "(POST /api/v1/users/{username}/tokens needs Basic auth); the service declares no adminUser/adminPassword and the credential has no source",
            $"declare `adminUser` and `adminPassword` on service '{service.Name}' so Keyward creates the next token with Basic auth, or create one by hand " +
            $"(`gitea admin user generate-access-token --username USER --token-name NAME --scopes SCOPES --raw`), give '{credential.Name}' a `source` holding it " +
            $"and run `keyward rotate {credential.Name}` again");
    }
}
