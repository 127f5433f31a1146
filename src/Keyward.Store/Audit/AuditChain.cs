using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Keyward.Core.Store;

namespace Keyward.Store.Audit;

/// <summary>
/// The audit hash chain. Each row's hash is HMAC-SHA256(audit key, prevHash ‖ Canonical(row)), so editing,
/// reordering or removing a row breaks the chain, and nobody without the data key can re-forge it.
/// The chain head (last sequence and hash) is kept in meta with its own MAC so deleting the newest rows is
/// detected too. The serialisation here is part of the on-disk format (docs/store.md).
/// </summary>
internal static class AuditChain
{
    public const string RowLabel = "keyward/audit/v1 row";
    public const string HeadLabel = "keyward/audit/v1 head";

    /// <summary>The head label of a store whose credential state is sealed (<see cref="StateSeal"/>). Every head written
    /// today carries it; a head under <see cref="HeadLabel"/> was written before the seal existed. Nobody without the key
    /// can turn one into the other, so the head itself says whether a missing seal was deleted.</summary>
    public const string SealedHeadLabel = "keyward/audit/v1 sealed head";

    /// <summary>The "previous hash" of the first row: 32 zero bytes, hex.</summary>
    public static readonly string Genesis = new('0', 64);

    /// <summary>
    /// Canonical(row) = UTF-8(label) ‖ 0x00 ‖ u64be(sequence) ‖ field(at) ‖ field(actor) ‖ field(action) ‖ field(credential)
    /// ‖ field(version) ‖ field(fingerprint) ‖ field(detail), where field(null) = 0x00 and
    /// field(s) = 0x01 ‖ u32be(len(UTF-8 s)) ‖ UTF-8 s; at is ISO 8601 UTC with 7 fractional digits; version is decimal.
    /// </summary>
    public static byte[] Canonical(long sequence, AuditEvent e)
    {
        using var buffer = new MemoryStream();
        buffer.Write(Encoding.UTF8.GetBytes(RowLabel));
        buffer.WriteByte(0);
        Span<byte> u64 = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(u64, (ulong)sequence);
        buffer.Write(u64);
        Field(buffer, StoreTime.Format(e.At));
        Field(buffer, e.Actor);
        Field(buffer, e.Action);
        Field(buffer, e.Credential);
        Field(buffer, e.Version?.ToString(CultureInfo.InvariantCulture));
        Field(buffer, e.Fingerprint);
        Field(buffer, e.Detail);
        return buffer.ToArray();
    }

    private static void Field(MemoryStream buffer, string? value)
    {
        if (value is null)
        {
            buffer.WriteByte(0);
            return;
        }
        var bytes = Encoding.UTF8.GetBytes(value);
        buffer.WriteByte(1);
        Span<byte> len = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(len, (uint)bytes.Length);
        buffer.Write(len);
        buffer.Write(bytes);
    }

    public static string Hash(byte[] auditKey, string previousHash, long sequence, AuditEvent e)
    {
        var prev = Convert.FromHexString(previousHash);
        var canonical = Canonical(sequence, e);
        var input = new byte[prev.Length + canonical.Length];
        prev.CopyTo(input, 0);
        canonical.CopyTo(input, prev.Length);
        return Convert.ToHexStringLower(HMACSHA256.HashData(auditKey, input));
    }

    /// <summary>MAC of the head: HMAC-SHA256(audit key, UTF-8(head label) ‖ 0x00 ‖ u64be(sequence) ‖ hash bytes), under the
    /// sealed-head label unless <paramref name="legacy"/>.</summary>
    public static string HeadMac(byte[] auditKey, long sequence, string hash, bool legacy = false)
    {
        var label = Encoding.UTF8.GetBytes(legacy ? HeadLabel : SealedHeadLabel);
        var hashBytes = Convert.FromHexString(hash);
        var input = new byte[label.Length + 1 + 8 + hashBytes.Length];
        label.CopyTo(input, 0);
        BinaryPrimitives.WriteUInt64BigEndian(input.AsSpan(label.Length + 1), (ulong)sequence);
        hashBytes.CopyTo(input, label.Length + 9);
        return Convert.ToHexStringLower(HMACSHA256.HashData(auditKey, input));
    }

    public static bool HashEquals(string a, string b) =>
        a.Length == b.Length && CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(a), Encoding.ASCII.GetBytes(b));
}

/// <summary>The head of the chain as stored in meta: "sequence:hash:mac".</summary>
internal sealed record AuditHead(long Sequence, string Hash, string Mac)
{
    public static AuditHead Empty(byte[] auditKey) => new(0, AuditChain.Genesis, AuditChain.HeadMac(auditKey, 0, AuditChain.Genesis));

    public static AuditHead Create(byte[] auditKey, long sequence, string hash) => new(sequence, hash, AuditChain.HeadMac(auditKey, sequence, hash));

    /// <summary>MAC'd by this store's key, under either label.</summary>
    public bool IsAuthentic(byte[] auditKey) => IsSealed(auditKey) || IsLegacy(auditKey);

    /// <summary>Written by a Keyward that seals the credential state.</summary>
    public bool IsSealed(byte[] auditKey) => AuditChain.HashEquals(AuditChain.HeadMac(auditKey, Sequence, Hash), Mac);

    /// <summary>Written before the state seal existed.</summary>
    public bool IsLegacy(byte[] auditKey) => AuditChain.HashEquals(AuditChain.HeadMac(auditKey, Sequence, Hash, legacy: true), Mac);

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Sequence}:{Hash}:{Mac}");

    public static AuditHead? TryParse(string? text)
    {
        if (text is null) return null;
        var parts = text.Split(':');
        if (parts.Length != 3 || !long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var seq)) return null;
        if (parts[1].Length != 64 || parts[2].Length != 64 || !IsHex(parts[1]) || !IsHex(parts[2])) return null;
        return new AuditHead(seq, parts[1], parts[2]);
    }

    private static bool IsHex(string s) => s.All(char.IsAsciiHexDigitLower);
}
