using System.Globalization;
using System.Text;
using Keyward.Core.Errors;
using Keyward.Core.Secrets;
using Keyward.Crypto.Age;

namespace Keyward.Store.Encryption;

/// <summary>
/// Wraps the data key as a binary age file (Keyward.Crypto's age: X25519 <c>age1…</c> and <c>ssh-ed25519</c> recipients),
/// so the real <c>age -d -i identity.txt</c> recovers it. The identity file is what <c>age-keygen</c> writes.
/// </summary>
internal sealed class AgeDataKeyWrap : IDataKeyWrap
{
    public static readonly AgeDataKeyWrap Instance = new();

    public GeneratedIdentity GenerateIdentity(DateTimeOffset createdAt)
    {
        var identity = X25519Identity.Generate();
        using var secretLine = identity.ToSecret();
        var header = Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture,
            $"# created: {createdAt.UtcDateTime:yyyy-MM-dd'T'HH:mm:ss'Z'}\n# public key: {identity.Recipient}\n"));
        var text = new byte[header.Length + secretLine.Length + 1];
        header.CopyTo(text, 0);
        secretLine.Reveal().CopyTo(text.AsSpan(header.Length));
        text[^1] = (byte)'\n';
        return new GeneratedIdentity(Secret.Adopt(text), identity.Recipient);
    }

    public string RecipientOf(Secret identityFile)
    {
        var first = Parse(identityFile)[0];
        return first is X25519Identity x25519 ? x25519.Recipient : first.ToString() ?? "identity";
    }

    public string NormaliseRecipient(string recipient)
    {
        try
        {
            return AgeKeys.ParseRecipient(recipient).ToString()!;
        }
        catch (KeywardException e)
        {
            throw ErrorCodes.StoreRecipientInvalid.Exception($"recipient '{recipient.Trim()}': {e.First.Message}");
        }
    }

    public byte[] Wrap(ReadOnlySpan<byte> dataKey, IReadOnlyList<string> recipients) =>
        AgeFile.EncryptBytes(dataKey, recipients.Select(AgeKeys.ParseRecipient).ToList());

    public Secret Unwrap(ReadOnlySpan<byte> wrapped, Secret identityFile)
    {
        var identities = Parse(identityFile);
        try
        {
            return AgeFile.DecryptBytes(wrapped, identities);
        }
        catch (KeywardException e) when (e.First.Code == ErrorCodes.AgeNoMatch)
        {
            throw ErrorCodes.StoreKeyUnwrap.Exception("the identity is not one of the recipients the store's data key is wrapped to");
        }
        catch (KeywardException e)
        {
            throw ErrorCodes.StoreCorrupt.Exception($"the wrapped data key is damaged: {e.First.Message}");
        }
    }

    private static IReadOnlyList<IAgeIdentity> Parse(Secret identityFile)
    {
        try
        {
            return AgeKeys.ParseIdentities(identityFile.RevealString());
        }
        catch (KeywardException e)
        {
            throw ErrorCodes.StoreIdentityInvalid.Exception($"the identity file cannot be used: {e.First.Message}");
        }
    }
}
