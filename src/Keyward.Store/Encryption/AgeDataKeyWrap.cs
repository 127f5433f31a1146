using Keyward.Core.Secrets;

namespace Keyward.Store.Encryption;

/// <summary>Wraps the data key in the age format (binary, X25519 and ssh-ed25519 recipients) with Keyward.Crypto's age.</summary>
internal sealed class AgeDataKeyWrap : IDataKeyWrap
{
    public static readonly AgeDataKeyWrap Instance = new();

    public GeneratedIdentity GenerateIdentity(DateTimeOffset createdAt) => throw new NotSupportedException("age is not wired yet");
    public string RecipientOf(Secret identityFile) => throw new NotSupportedException("age is not wired yet");
    public string NormaliseRecipient(string recipient) => throw new NotSupportedException("age is not wired yet");
    public byte[] Wrap(ReadOnlySpan<byte> dataKey, IReadOnlyList<string> recipients) => throw new NotSupportedException("age is not wired yet");
    public Secret Unwrap(ReadOnlySpan<byte> wrapped, Secret identityFile) => throw new NotSupportedException("age is not wired yet");
}
