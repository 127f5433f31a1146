using System.Buffers;
using System.Security.Cryptography;
using System.Text.Json;

namespace Keyward.Crypto.Tokens;

/// <summary>What the structure of a 1Password service-account token says: valid or why not, and the sign-in address
/// (an account host such as <c>my.1password.com</c>, not secret).</summary>
public sealed record OnePasswordTokenShape(bool Valid, string? SignInAddress, string Problem);

/// <summary>
/// Checks the structure of a 1Password service-account token without keeping any of it: <c>ops_</c> then base64url
/// JSON of the account's sign-in material (<c>signInAddress</c>, <c>email</c>, <c>secretKey</c>, <c>srpX</c>,
/// <c>muk</c>, <c>userAuth</c>, <c>deviceUuid</c>). The decoded bytes hold account keys: they live in a buffer that is
/// zeroed before returning, only property names are read, and only <c>signInAddress</c> is returned. A structurally
/// valid token may still be revoked: a live check needs a 1Password sign-in (SRP with these keys, as the 1Password SDKs
/// and <c>op whoami</c> do), which Keyward does not perform.
/// </summary>
public static class OnePasswordServiceAccountToken
{
    public const string Prefix = "ops_";
    private static readonly string[] Required = ["signInAddress", "email", "secretKey", "srpX", "muk", "userAuth", "deviceUuid"];

    public static OnePasswordTokenShape Inspect(ReadOnlySpan<byte> token)
    {
        token = token.Trim(" \t\r\n"u8);
        if (!token.StartsWith("ops_"u8)) return new(false, null, "it does not start with 'ops_'");
        var body = token[Prefix.Length..];
        if (body.Length < 16) return new(false, null, "it is too short: the token was cut off");
        var buffer = ArrayPool<byte>.Shared.Rent(body.Length);
        try
        {
            var n = Base64UrlDecode(body, buffer);
            if (n < 0) return new(false, null, "the part after 'ops_' is not base64url: the token was cut off or altered");
            var present = new HashSet<string>(StringComparer.Ordinal);
            string? signIn = null;
            try
            {
                var reader = new Utf8JsonReader(buffer.AsSpan(0, n));
                if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject) return new(false, null, "the decoded part is not a JSON object");
                while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                {
                    var name = reader.GetString()!;
                    present.Add(name);
                    reader.Read();
                    if (name == "signInAddress" && reader.TokenType == JsonTokenType.String) signIn = reader.GetString();
                    else reader.Skip();
                }
            }
            catch (JsonException)
            {
                return new(false, null, "the decoded part is not complete JSON: the token was cut off");
            }
            var missing = Required.Where(r => !present.Contains(r)).ToArray();
            return missing.Length == 0
                ? new(true, signIn, "")
                : new(false, signIn, $"it lacks {string.Join(", ", missing)}: not a service-account token, or cut off");
        }
        finally
        {
            CryptographicOperations.ZeroMemory(buffer.AsSpan(0, body.Length));
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static int Base64UrlDecode(ReadOnlySpan<byte> text, Span<byte> output)
    {
        var status = System.Buffers.Text.Base64Url.DecodeFromUtf8(text, output, out _, out var written);
        return status == OperationStatus.Done ? written : -1;
    }
}
