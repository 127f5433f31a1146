using System.Security.Cryptography;
using System.Text;
using Keyward.Core.Errors;

namespace Keyward.Crypto.Age;

/// <summary>The <c>ssh-ed25519</c> recipient type (what agenix encrypts to): the Ed25519 key mapped to
/// X25519, a tweak derived from the SSH public key, and a 4-byte key tag so identities skip stanzas
/// that are not theirs.</summary>
internal static class SshEd25519
{
    public const string KeyType = "ssh-ed25519";
    public const string Info = "age-encryption.org/v1/ssh-ed25519";

    /// <summary><c>base64raw(SHA-256(wire)[:4])</c>.</summary>
    public static string Tag(ReadOnlySpan<byte> wire) => AgeBase64.EncodeRaw(SHA256.HashData(wire).AsSpan(0, 4));

    /// <summary><c>HKDF(ikm = empty, salt = wire, info)</c>, used as an X25519 scalar.</summary>
    public static byte[] Tweak(ReadOnlySpan<byte> wire) => FileKeyWrap.Hkdf([], wire, Info);

    /// <summary>Parses the 32-byte key out of an <c>ssh-ed25519</c> wire blob.</summary>
    public static byte[]? PublicKeyFromWire(ReadOnlySpan<byte> wire)
    {
        var reader = new SshWire(wire);
        if (!reader.TryReadString(out var type) || !type.SequenceEqual(Encoding.ASCII.GetBytes(KeyType))) return null;
        if (!reader.TryReadString(out var key) || key.Length != 32 || !reader.AtEnd) return null;
        return key.ToArray();
    }

    public static byte[] Wire(ReadOnlySpan<byte> publicKey) =>
        [.. SshWire.String(Encoding.ASCII.GetBytes(KeyType)), .. SshWire.String(publicKey)];
}

internal sealed class SshEd25519Recipient : IAgeRecipient
{
    private readonly byte[] _wire;
    private readonly byte[] _montgomery;
    private readonly string _tag;

    public SshEd25519Recipient(byte[] wire)
    {
        var key = SshEd25519.PublicKeyFromWire(wire)
            ?? throw ErrorCodes.AgeRecipientInvalid.Exception("malformed ssh-ed25519 public key");
        _montgomery = Curve25519.EdwardsToMontgomery(key)
            ?? throw ErrorCodes.AgeRecipientInvalid.Exception("invalid ssh-ed25519 public key: not a point on the curve");
        _wire = wire;
        _tag = SshEd25519.Tag(wire);
    }

    public override string ToString() => $"{SshEd25519.KeyType} {Convert.ToBase64String(_wire)}";

    IReadOnlyList<AgeStanza> IAgeRecipient.Wrap(ReadOnlySpan<byte> fileKey)
    {
        Span<byte> ephemeral = stackalloc byte[Curve25519.Size];
        Span<byte> shared = stackalloc byte[Curve25519.Size];
        Span<byte> tweaked = stackalloc byte[Curve25519.Size];
        try
        {
            RandomNumberGenerator.Fill(ephemeral);
            var share = Curve25519.PublicKey(ephemeral);
            if (!Curve25519.TryAgree(ephemeral, _montgomery, shared))
                throw ErrorCodes.AgeRecipientInvalid.Exception("the ssh-ed25519 recipient maps to a low-order point and cannot be encrypted to");
            var tweak = SshEd25519.Tweak(_wire);
            if (!Curve25519.TryAgree(tweak, shared, tweaked))
                throw ErrorCodes.AgeRecipientInvalid.Exception("the ssh-ed25519 tweak produced a low-order point");
            var wrapKey = FileKeyWrap.Hkdf(tweaked, [.. share, .. _montgomery], SshEd25519.Info);
            var body = FileKeyWrap.Seal(wrapKey, fileKey);
            CryptographicOperations.ZeroMemory(wrapKey);
            return [new AgeStanza(SshEd25519.KeyType, [_tag, AgeBase64.EncodeRaw(share)], body)];
        }
        finally
        {
            CryptographicOperations.ZeroMemory(ephemeral);
            CryptographicOperations.ZeroMemory(shared);
            CryptographicOperations.ZeroMemory(tweaked);
        }
    }
}

internal sealed class SshEd25519Identity : IAgeIdentity
{
    private readonly byte[] _wire;
    private readonly byte[] _montgomery;
    private readonly byte[] _scalar;
    private readonly string _tag;

    /// <summary>From the public key and the 32-byte Ed25519 seed of an OpenSSH private key.</summary>
    public SshEd25519Identity(ReadOnlySpan<byte> publicKey, ReadOnlySpan<byte> seed)
    {
        _wire = SshEd25519.Wire(publicKey);
        _montgomery = Curve25519.EdwardsToMontgomery(publicKey)
            ?? throw ErrorCodes.AgeIdentityInvalid.Exception("invalid ssh-ed25519 private key: the public key is not a point on the curve");
        _scalar = SHA512.HashData(seed)[..32];
        _tag = SshEd25519.Tag(_wire);
    }

    public override string ToString() => $"{SshEd25519.KeyType} identity {_tag}";

    byte[]? IAgeIdentity.Unwrap(IReadOnlyList<AgeStanza> stanzas)
    {
        Span<byte> shared = stackalloc byte[Curve25519.Size];
        Span<byte> tweaked = stackalloc byte[Curve25519.Size];
        foreach (var stanza in stanzas)
        {
            if (stanza.Type != SshEd25519.KeyType) continue;
            if (stanza.Args.Count != 2)
                throw ErrorCodes.AgeHeaderInvalid.Exception($"invalid ssh-ed25519 stanza: {stanza.Args.Count} arguments, expected 2");
            var share = FileKeyWrap.DecodeShare(stanza.Args[1], stanza.Type);
            if (stanza.Args[0] != _tag) continue;
            if (!Curve25519.TryAgree(_scalar, share, shared))
                throw ErrorCodes.AgeHeaderInvalid.Exception("invalid ssh-ed25519 stanza: the ephemeral share is a low-order point");
            var tweak = SshEd25519.Tweak(_wire);
            if (!Curve25519.TryAgree(tweak, shared, tweaked))
                throw ErrorCodes.AgeHeaderInvalid.Exception("invalid ssh-ed25519 stanza: low-order tweaked secret");
            var wrapKey = FileKeyWrap.Hkdf(tweaked, [.. share, .. _montgomery], SshEd25519.Info);
            CryptographicOperations.ZeroMemory(shared);
            CryptographicOperations.ZeroMemory(tweaked);
            var fileKey = FileKeyWrap.Open(wrapKey, stanza.Body, stanza.Type);
            CryptographicOperations.ZeroMemory(wrapKey);
            if (fileKey is not null) return fileKey;
        }
        return null;
    }
}
