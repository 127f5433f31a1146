using System.Globalization;

namespace Keyward.Services;

/// <summary>Names of the tokens Keyward creates: <c>keyward-YYYYMMDDHHMMSS-xxxxxx</c>. Both Coder (409) and Gitea (400 "access
/// token name has been used already") refuse a name a token of the user already has, and a bootstrap and a rotation can
/// fall in the same second, so a random suffix (not secret) keeps them apart.</summary>
public static class ServiceTokenNames
{
    public static string Next(TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(time);
        return "keyward-" + time.GetUtcNow().ToString("yyyyMMddHHmmss", CultureInfo.InvariantCulture) + "-" +
            System.Security.Cryptography.RandomNumberGenerator.GetHexString(6, lowercase: true);
    }
}
