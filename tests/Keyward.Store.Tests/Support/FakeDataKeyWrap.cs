using System.Security.Cryptography;
using System.Text;
using Keyward.Core.Errors;
using Keyward.Core.Secrets;
using Keyward.Store.Encryption;

namespace Keyward.Store.Tests.Support;

/// <summary>
/// A test double for the age wrapping, so the store's own logic is tested without the age implementation.
/// NOT secure: the "recipient" is a hash of the identity and the wrap key is derived from the recipient.
/// Blob: for each recipient, u8 len(recipient) ‖ recipient ‖ 12-byte nonce ‖ AES-GCM(dataKey) ‖ 16-byte tag.
/// </summary>
internal sealed class FakeDataKeyWrap : IDataKeyWrap
{
    public const string IdentityPrefix = "FAKE-IDENTITY-";
    public const string RecipientPrefix = "fake1";

    public GeneratedIdentity GenerateIdentity(DateTimeOffset createdAt)
    {
        var text = IdentityPrefix + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        var file = Secret.FromUtf8($"# created: {createdAt:O}\n{text}\n");
        return new GeneratedIdentity(file, RecipientFor(text));
    }

    public static (string IdentityFile, string Recipient) NewIdentity()
    {
        var text = IdentityPrefix + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        return (text + "\n", RecipientFor(text));
    }

    private static string RecipientFor(string identityLine) =>
        RecipientPrefix + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(identityLine)))[..20];

    public string RecipientOf(Secret identityFile)
    {
        var line = identityFile.RevealString().Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.StartsWith(IdentityPrefix, StringComparison.Ordinal))
            ?? throw ErrorCodes.StoreIdentityInvalid.Exception("no fake identity in the file");
        return RecipientFor(line);
    }

    public string NormaliseRecipient(string recipient) =>
        recipient.StartsWith(RecipientPrefix, StringComparison.Ordinal) && recipient.Length == RecipientPrefix.Length + 20
            ? recipient
            : throw ErrorCodes.StoreRecipientInvalid.Exception($"'{recipient}' is not a fake recipient");

    private static byte[] WrapKey(string recipient) => SHA256.HashData(Encoding.UTF8.GetBytes("wrap:" + recipient));

    public byte[] Wrap(ReadOnlySpan<byte> dataKey, IReadOnlyList<string> recipients)
    {
        using var blob = new MemoryStream();
        foreach (var recipient in recipients)
        {
            var name = Encoding.UTF8.GetBytes(recipient);
            blob.WriteByte((byte)name.Length);
            blob.Write(name);
            var nonce = RandomNumberGenerator.GetBytes(12);
            var ciphertext = new byte[dataKey.Length];
            var tag = new byte[16];
            using var gcm = new AesGcm(WrapKey(recipient), 16);
            gcm.Encrypt(nonce, dataKey, ciphertext, tag);
            blob.Write(nonce);
            blob.Write(ciphertext);
            blob.Write(tag);
        }
        return blob.ToArray();
    }

    public Secret Unwrap(ReadOnlySpan<byte> wrapped, Secret identityFile)
    {
        var mine = RecipientOf(identityFile);
        var position = 0;
        while (position < wrapped.Length)
        {
            var length = wrapped[position];
            var recipient = Encoding.UTF8.GetString(wrapped.Slice(position + 1, length));
            position += 1 + length;
            var nonce = wrapped.Slice(position, 12);
            var ciphertext = wrapped.Slice(position + 12, 32);
            var tag = wrapped.Slice(position + 44, 16);
            position += 60;
            if (recipient != mine) continue;
            var key = new byte[32];
            using var gcm = new AesGcm(WrapKey(recipient), 16);
            gcm.Decrypt(nonce, ciphertext, tag, key);
            return Secret.Adopt(key);
        }
        throw ErrorCodes.StoreKeyUnwrap.Exception("no fake recipient matched");
    }
}
