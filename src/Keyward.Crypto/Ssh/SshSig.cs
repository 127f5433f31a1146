using System.Security.Cryptography;
using System.Text;
using Keyward.Core.Errors;
using Keyward.Core.Manifest;
using Keyward.Crypto.Age;
using NSec.Cryptography;

namespace Keyward.Crypto.Ssh;

/// <summary>
/// SSH signatures (openssh-portable PROTOCOL.sshsig), the format of <c>ssh-keygen -Y sign/verify</c>, for ssh-ed25519
/// keys. The signed data is <c>"SSHSIG" ‖ string namespace ‖ string reserved ‖ string hash_alg ‖ string H(message)</c>;
/// the namespace keeps a signature made for one protocol from being accepted by another.
/// </summary>
public static class SshSig
{
    private const string Begin = "-----BEGIN SSH SIGNATURE-----";
    private const string End = "-----END SSH SIGNATURE-----";
    private static readonly byte[] Magic = "SSHSIG"u8.ToArray();
    private const int MaxArmored = 8 * 1024;

    /// <summary>Signs <paramref name="message"/> with an ed25519 key (public key and seed), hashing with sha512 as
    /// ssh-keygen does, and returns the armored signature.</summary>
    public static string Sign(ReadOnlySpan<byte> publicKey, ReadOnlySpan<byte> seed, string nameSpace, ReadOnlySpan<byte> message)
    {
        ArgumentException.ThrowIfNullOrEmpty(nameSpace);
        var signed = SignedData(nameSpace, "sha512", SHA512.HashData(message));
        byte[] signature;
        using (var key = Key.Import(SignatureAlgorithm.Ed25519, seed, KeyBlobFormat.RawPrivateKey))
            signature = SignatureAlgorithm.Ed25519.Sign(key, signed);
        var wire = SshEd25519.Wire(publicKey);
        byte[] blob =
        [
            .. Magic, 0, 0, 0, 1,
            .. SshWire.String(wire),
            .. SshWire.String(Encoding.UTF8.GetBytes(nameSpace)),
            .. SshWire.String([]),
            .. SshWire.String("sha512"u8),
            .. SshWire.String([.. SshWire.String(Encoding.ASCII.GetBytes(SshEd25519.KeyType)), .. SshWire.String(signature)]),
        ];
        var b64 = Convert.ToBase64String(blob);
        var sb = new StringBuilder(Begin).Append('\n');
        for (var i = 0; i < b64.Length; i += 70) sb.Append(b64.AsSpan(i, Math.Min(70, b64.Length - i))).Append('\n');
        return sb.Append(End).Append('\n').ToString();
    }

    /// <summary>Verifies an armored signature over <paramref name="message"/>: made by <paramref name="expected"/>, in
    /// <paramref name="nameSpace"/>, with sha256 or sha512. Throws KW1315 saying what is wrong (never quoting the input).</summary>
    public static void Verify(HostKey expected, string nameSpace, ReadOnlySpan<byte> message, string armored)
    {
        ArgumentNullException.ThrowIfNull(expected);
        ArgumentNullException.ThrowIfNull(armored);
        if (armored.Length > MaxArmored) throw Invalid("the signature is too long");
        var text = armored.Trim();
        if (!text.StartsWith(Begin, StringComparison.Ordinal) || !text.EndsWith(End, StringComparison.Ordinal))
            throw Invalid("not an armored SSH signature (-----BEGIN SSH SIGNATURE-----)");
        byte[] blob;
        try
        {
            blob = Convert.FromBase64String(text[Begin.Length..^End.Length]);
        }
        catch (FormatException)
        {
            throw Invalid("the signature is not base64");
        }
        if (!blob.AsSpan().StartsWith(Magic)) throw Invalid("bad magic");
        var r = new SshWire(blob.AsSpan(Magic.Length));
        if (!r.TryReadUInt32(out var version) || version != 1) throw Invalid("unsupported SSHSIG version");
        if (!r.TryReadString(out var publicWire) || !r.TryReadString(out var ns) || !r.TryReadString(out var reserved) ||
            !r.TryReadString(out var hashAlg) || !r.TryReadString(out var sigBlob) || !r.AtEnd)
            throw Invalid("malformed signature blob");
        if (!publicWire.SequenceEqual(expected.Wire)) throw Invalid("signed by another key than the host's");
        if (!ns.SequenceEqual(Encoding.UTF8.GetBytes(nameSpace))) throw Invalid($"wrong namespace (expected {nameSpace})");
        var hashName = Encoding.ASCII.GetString(hashAlg);
        byte[] hash = hashName switch
        {
            "sha512" => SHA512.HashData(message),
            "sha256" => SHA256.HashData(message),
            _ => throw Invalid("hash algorithm must be sha256 or sha512"),
        };
        var s = new SshWire(sigBlob);
        if (!s.TryReadString(out var sigType) || !sigType.SequenceEqual(Encoding.ASCII.GetBytes(SshEd25519.KeyType)) ||
            !s.TryReadString(out var sig) || sig.Length != 64 || !s.AtEnd)
            throw Invalid("not an ssh-ed25519 signature");
        var signed = SignedData(Encoding.UTF8.GetString(ns), hashName, hash, reserved);
        var key = PublicKey.Import(SignatureAlgorithm.Ed25519, expected.PublicKey, KeyBlobFormat.RawPublicKey);
        if (!SignatureAlgorithm.Ed25519.Verify(key, signed, sig)) throw Invalid("the signature does not verify");
    }

    private static byte[] SignedData(string nameSpace, string hashAlg, ReadOnlySpan<byte> hash, ReadOnlySpan<byte> reserved = default) =>
    [
        .. Magic,
        .. SshWire.String(Encoding.UTF8.GetBytes(nameSpace)),
        .. SshWire.String(reserved),
        .. SshWire.String(Encoding.ASCII.GetBytes(hashAlg)),
        .. SshWire.String(hash),
    ];

    private static KeywardException Invalid(string why) => ErrorCodes.SshSignatureInvalid.Exception($"SSH signature: {why}");
}
