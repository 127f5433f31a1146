using System.Security.Cryptography;
using Keyward.Core.Errors;
using Keyward.Core.Secrets;

namespace Keyward.Crypto.Age;

/// <summary>Encrypts and decrypts age v1 files (C2SP age), streaming in constant memory.</summary>
public static class AgeFile
{
    private const int MaxStanzas = 20_000;

    public static void Encrypt(Stream plaintext, Stream output, IReadOnlyList<IAgeRecipient> recipients, bool armor)
    {
        ArgumentNullException.ThrowIfNull(plaintext);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(recipients);
        if (recipients.Count == 0) throw ErrorCodes.AgeNoRecipients.Exception("cannot encrypt to an empty list of recipients");
        var fileKey = RandomNumberGenerator.GetBytes(FileKeyWrap.FileKeySize);
        try
        {
            var stanzas = new List<AgeStanza>();
            foreach (var recipient in recipients) stanzas.AddRange(recipient.Wrap(fileKey));
            var armored = armor ? new ArmorWriteStream(output) : null;
            var target = (Stream?)armored ?? output;
            AgeHeader.Write(target, stanzas, fileKey);
            AgePayload.Encrypt(fileKey, plaintext, target);
            armored?.Complete();
            output.Flush();
        }
        finally
        {
            CryptographicOperations.ZeroMemory(fileKey);
        }
    }

    /// <summary>Decrypts a binary or armored file (armor is detected). Plaintext is written chunk by
    /// chunk as it authenticates: on a payload error the output holds an incomplete prefix, so callers
    /// writing files must write to a temporary file and discard it on failure.</summary>
    public static void Decrypt(Stream input, Stream output, IReadOnlyList<IAgeIdentity> identities) =>
        Decrypt(input, output, identities, armored: null);

    /// <param name="armored">true/false to force the encoding; null detects it (the first
    /// non-whitespace byte of an armored file is '-').</param>
    internal static void Decrypt(Stream input, Stream output, IReadOnlyList<IAgeIdentity> identities, bool? armored)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(identities);
        var raw = new AgeInput(input);
        var isArmored = armored ?? LooksArmored(raw);
        var source = isArmored ? new AgeInput(new ArmorReadStream(raw)) : raw;

        var header = AgeHeader.Parse(source);
        if (header.Stanzas.Count > MaxStanzas) throw ErrorCodes.AgeHeaderInvalid.Exception("too many recipient stanzas");
        if (header.Stanzas.Any(s => s.Type == "scrypt") && header.Stanzas.Count != 1)
            throw ErrorCodes.AgeHeaderInvalid.Exception("an scrypt stanza must be the only stanza in the header");

        if (identities.Count == 0) throw ErrorCodes.AgeIdentityInvalid.Exception("no identities to decrypt with");
        byte[]? fileKey = null;
        foreach (var identity in identities)
        {
            fileKey = identity.Unwrap(header.Stanzas);
            if (fileKey is not null) break;
        }
        if (fileKey is null)
        {
            var types = string.Join(", ", header.Stanzas.Select(s => s.Type).Distinct());
            throw ErrorCodes.AgeNoMatch.Exception($"no identity matched any of the file's {header.Stanzas.Count} recipient stanza(s) ({types})");
        }
        try
        {
            if (!header.VerifyMac(fileKey)) throw ErrorCodes.AgeHmacMismatch.Exception("the header MAC does not match: the header was tampered with");
            AgePayload.Decrypt(fileKey, source, output);
            output.Flush();
        }
        finally
        {
            CryptographicOperations.ZeroMemory(fileKey);
        }
    }

    public static byte[] EncryptBytes(ReadOnlySpan<byte> plaintext, IReadOnlyList<IAgeRecipient> recipients, bool armor = false)
    {
        var copy = plaintext.ToArray();
        try
        {
            using var input = new MemoryStream(copy, writable: false);
            using var output = new MemoryStream(plaintext.Length + 512);
            Encrypt(input, output, recipients, armor);
            return output.ToArray();
        }
        finally
        {
            CryptographicOperations.ZeroMemory(copy);
        }
    }

    public static Secret DecryptBytes(ReadOnlySpan<byte> ageFile, IReadOnlyList<IAgeIdentity> identities)
    {
        using var input = new MemoryStream(ageFile.ToArray(), writable: false);
        using var output = new MemoryStream(Math.Max(0, ageFile.Length - 200));
        try
        {
            Decrypt(input, output, identities);
            return Secret.FromBytes(output.GetBuffer().AsSpan(0, (int)output.Length));
        }
        finally
        {
            CryptographicOperations.ZeroMemory(output.GetBuffer());
        }
    }

    private static bool LooksArmored(AgeInput input)
    {
        // Only peeks: a binary file never starts with whitespace or '-', so peeking past leading
        // whitespace is unnecessary for the decision as long as the first byte is checked too.
        var first = input.Peek();
        return first == '-' || (first >= 0 && AgeArmor.IsWhitespace((byte)first));
    }
}
