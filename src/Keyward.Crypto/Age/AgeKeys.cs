using System.Text;
using Keyward.Core.Errors;

namespace Keyward.Crypto.Age;

/// <summary>Parses recipients and identity files in the formats the age CLI accepts.</summary>
public static class AgeKeys
{
    private const string OpenSshBegin = "-----BEGIN OPENSSH PRIVATE KEY-----";
    private const string OpenSshEnd = "-----END OPENSSH PRIVATE KEY-----";
    private const int MaxIdentityFile = 16 * 1024 * 1024;

    /// <summary><c>age1…</c> or an <c>ssh-ed25519 AAAA… [comment]</c> line.</summary>
    public static IAgeRecipient ParseRecipient(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        text = text.Trim();
        if (text.StartsWith("age1", StringComparison.OrdinalIgnoreCase))
        {
            // Bech32's charset has no '1', so a native key's separator is its first '1'; a later one
            // means another human-readable part: age1pq1… (post-quantum), age1tag1…, age1<plugin>1….
            // (A prefix test such as "age1pq" would refuse the one native key in 1,024 whose data starts with "pq".)
            var separator = text.LastIndexOf('1');
            if (separator != 3)
            {
                var hrp = text[..separator].ToLowerInvariant();
                throw ErrorCodes.AgeUnsupported.Exception(hrp is "age1pq" or "age1tag"
                    ? "post-quantum and tagged (age1pq1…, age1tag1…) recipients are not supported"
                    : "age plugin recipients (age1<name>1…) are not supported");
            }
            return X25519Recipient.Parse(text);
        }
        if (text.StartsWith("ssh-", StringComparison.Ordinal) || text.StartsWith("ecdsa-", StringComparison.Ordinal) || text.StartsWith("sk-", StringComparison.Ordinal))
            return ParseSshRecipient(text);
        throw ErrorCodes.AgeRecipientInvalid.Exception("unknown recipient format: expected age1… or an 'ssh-ed25519 AAAA…' public key line");
    }

    /// <summary>A recipients file (<c>age -R</c>): one recipient per line, '#' comments and blank lines skipped.</summary>
    public static IReadOnlyList<IAgeRecipient> ParseRecipientsFile(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var recipients = new List<IAgeRecipient>();
        var lineNumber = 0;
        foreach (var rawLine in text.Split('\n'))
        {
            lineNumber++;
            var line = rawLine.TrimEnd('\r');
            if (line.Length == 0 || line.StartsWith('#')) continue;
            try
            {
                recipients.Add(ParseRecipient(line));
            }
            catch (KeywardException ex)
            {
                throw ex.First.Code.Exception($"line {lineNumber}: {ex.First.Message}", ex.First.Hint);
            }
        }
        if (recipients.Count == 0) throw ErrorCodes.AgeNoRecipients.Exception("the recipients file lists no recipients");
        return recipients;
    }

    /// <summary>An identity file: <c>AGE-SECRET-KEY-1…</c> lines ('#' comments, blank lines), or an
    /// unencrypted OpenSSH ed25519 private key. Errors never quote the file's content.</summary>
    public static IReadOnlyList<IAgeIdentity> ParseIdentities(string fileText)
    {
        ArgumentNullException.ThrowIfNull(fileText);
        if (fileText.Length > MaxIdentityFile) throw ErrorCodes.AgeIdentityInvalid.Exception("the identity file is larger than 16 MiB");
        var trimmed = fileText.TrimStart();
        if (trimmed.StartsWith(OpenSshBegin, StringComparison.Ordinal)) return [ParseOpenSshPrivateKey(trimmed)];
        if (trimmed.StartsWith("-----BEGIN", StringComparison.Ordinal))
            throw ErrorCodes.AgeUnsupported.Exception("only OpenSSH-format private keys ('-----BEGIN OPENSSH PRIVATE KEY-----') are supported as SSH identities");
        if (trimmed.StartsWith(AgeHeader.VersionLine, StringComparison.Ordinal))
            throw ErrorCodes.AgeUnsupported.Exception("encrypted identity files are not supported; decrypt the identity file first");

        var identities = new List<IAgeIdentity>();
        var lineNumber = 0;
        foreach (var rawLine in fileText.Split('\n'))
        {
            lineNumber++;
            var line = rawLine.TrimEnd('\r');
            if (line.Length == 0 || line.StartsWith('#')) continue;
            if (line.StartsWith("AGE-SECRET-KEY-PQ-", StringComparison.Ordinal) || line.StartsWith("AGE-PLUGIN-", StringComparison.Ordinal))
                throw ErrorCodes.AgeUnsupported.Exception($"line {lineNumber}: post-quantum and plugin identities are not supported");
            try
            {
                identities.Add(X25519Identity.Parse(line));
            }
            catch (KeywardException)
            {
                throw ErrorCodes.AgeIdentityInvalid.Exception($"line {lineNumber}: not an AGE-SECRET-KEY-1… identity (the line is not shown, it may be secret)");
            }
        }
        if (identities.Count == 0) throw ErrorCodes.AgeIdentityInvalid.Exception("the identity file holds no identities");
        return identities;
    }

    private static IAgeRecipient ParseSshRecipient(string line)
    {
        var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var type = fields[0];
        if (type != SshEd25519.KeyType)
            throw ErrorCodes.AgeUnsupported.Exception($"SSH key type '{type}' is not supported; use an ssh-ed25519 key or an age1… recipient");
        if (fields.Length < 2) throw ErrorCodes.AgeRecipientInvalid.Exception("malformed SSH public key line: the base64 key is missing");
        byte[] wire;
        try
        {
            wire = Convert.FromBase64String(fields[1]);
        }
        catch (FormatException)
        {
            throw ErrorCodes.AgeRecipientInvalid.Exception("malformed SSH public key line: the key is not base64");
        }
        return new SshEd25519Recipient(wire);
    }

    private static SshEd25519Identity ParseOpenSshPrivateKey(string text)
    {
        var (publicKey, seed) = ParseOpenSshEd25519(text);
        try
        {
            return new SshEd25519Identity(publicKey, seed);
        }
        finally
        {
            System.Security.Cryptography.CryptographicOperations.ZeroMemory(seed);
        }
    }

    /// <summary>An unencrypted OpenSSH ed25519 private key (PROTOCOL.key): its 32-byte public key and 32-byte seed.
    /// The caller owns (and zeroes) the seed. Errors never quote the key.</summary>
    internal static (byte[] PublicKey, byte[] Seed) ParseOpenSshEd25519(string text)
    {
        // PROTOCOL.key in openssh-portable: "openssh-key-v1\0", cipher, kdf, kdf options, key count,
        // public keys, then the (here unencrypted) private section.
        text = text.TrimStart();
        if (!text.StartsWith(OpenSshBegin, StringComparison.Ordinal)) throw ErrorCodes.AgeIdentityInvalid.Exception("not an OpenSSH private key ('-----BEGIN OPENSSH PRIVATE KEY-----')");
        var end = text.IndexOf(OpenSshEnd, StringComparison.Ordinal);
        if (end < 0) throw ErrorCodes.AgeIdentityInvalid.Exception("malformed OpenSSH private key: no END line");
        byte[] blob;
        try
        {
            blob = Convert.FromBase64String(text[OpenSshBegin.Length..end]);
        }
        catch (FormatException)
        {
            throw ErrorCodes.AgeIdentityInvalid.Exception("malformed OpenSSH private key: the body is not base64");
        }
        try
        {
            var magic = "openssh-key-v1\0"u8;
            if (!blob.AsSpan().StartsWith(magic)) throw ErrorCodes.AgeIdentityInvalid.Exception("malformed OpenSSH private key: bad magic");
            var reader = new SshWire(blob.AsSpan(magic.Length));
            if (!reader.TryReadString(out var cipher) || !reader.TryReadString(out _) || !reader.TryReadString(out _) ||
                !reader.TryReadUInt32(out var count))
                throw ErrorCodes.AgeIdentityInvalid.Exception("malformed OpenSSH private key");
            if (!cipher.SequenceEqual("none"u8))
                throw ErrorCodes.AgeUnsupported.Exception("passphrase-protected SSH keys are not supported; use an unencrypted copy or the age CLI");
            if (count != 1) throw ErrorCodes.AgeIdentityInvalid.Exception("the OpenSSH key file must hold exactly one key");
            if (!reader.TryReadString(out var publicWire) || !reader.TryReadString(out var privateSection))
                throw ErrorCodes.AgeIdentityInvalid.Exception("malformed OpenSSH private key");
            var section = new SshWire(privateSection);
            if (!section.TryReadUInt32(out var check1) || !section.TryReadUInt32(out var check2) || check1 != check2 ||
                !section.TryReadString(out var keyType))
                throw ErrorCodes.AgeIdentityInvalid.Exception("malformed OpenSSH private key: bad check bytes");
            var typeName = Encoding.ASCII.GetString(keyType);
            if (typeName != SshEd25519.KeyType)
                throw ErrorCodes.AgeUnsupported.Exception($"SSH key type '{typeName}' is not supported as an identity; use an ssh-ed25519 key");
            if (!section.TryReadString(out var publicKey) || publicKey.Length != 32 ||
                !section.TryReadString(out var secret) || secret.Length != 64 ||
                !secret[32..].SequenceEqual(publicKey) || SshEd25519.PublicKeyFromWire(publicWire) is not { } outer ||
                !outer.AsSpan().SequenceEqual(publicKey))
                throw ErrorCodes.AgeIdentityInvalid.Exception("malformed OpenSSH ed25519 private key");
            return (publicKey.ToArray(), secret[..32].ToArray());
        }
        finally
        {
            System.Security.Cryptography.CryptographicOperations.ZeroMemory(blob);
        }
    }
}
