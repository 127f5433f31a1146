using Keyward.Core.Secrets;

namespace Keyward.Store.Encryption;

/// <summary>A freshly generated store identity: the identity file's full text (a secret) and its public recipient.</summary>
internal sealed record GeneratedIdentity(Secret FileText, string Recipient);

/// <summary>
/// Wraps the store's data key to a set of public recipients and unwraps it with an identity file.
/// The real implementation is the age format (<see cref="AgeDataKeyWrap"/>); the seam exists so the store's
/// logic is testable on its own and so another wrapping (a KMS, a TPM) can follow.
/// </summary>
internal interface IDataKeyWrap
{
    /// <summary>Generates a new identity; <paramref name="createdAt"/> goes into the file's comment header.</summary>
    GeneratedIdentity GenerateIdentity(DateTimeOffset createdAt);

    /// <summary>The public recipient of the first identity in <paramref name="identityFile"/>; throws KW0304 when unparseable.</summary>
    string RecipientOf(Secret identityFile);

    /// <summary>Validates a recipient string and returns its canonical text; throws KW0306 when invalid.</summary>
    string NormaliseRecipient(string recipient);

    /// <summary>Encrypts <paramref name="dataKey"/> to every recipient (binary age file).</summary>
    byte[] Wrap(ReadOnlySpan<byte> dataKey, IReadOnlyList<string> recipients);

    /// <summary>Decrypts a wrapped key; throws KW0305 when no identity in the file matches.</summary>
    Secret Unwrap(ReadOnlySpan<byte> wrapped, Secret identityFile);
}
