using System.Buffers.Binary;
using System.Security.Cryptography;

namespace Keyward.Crypto.Sops;

/// <summary>
/// AES-256-GCM with a nonce of any length (NIST SP 800-38D §7.1). SOPS seals every value with a 32-byte IV
/// (Go's <c>cipher.NewGCMWithNonceSize(aes, 32)</c>), which .NET's <see cref="AesGcm"/> refuses (12 bytes only), so the
/// mode is built here from the AES block function: J0 = GHASH(IV ‖ 0-pad ‖ [len(IV)]₆₄) for a non-96-bit IV, CTR from
/// inc32(J0), tag = E(K, J0) ⊕ GHASH(A ‖ C ‖ lengths). For a 12-byte nonce it equals <see cref="AesGcm"/> (tested).
/// The GF(2¹²⁸) multiplication is the bitwise algorithm with masks instead of branches (no secret-dependent branches).
/// </summary>
internal sealed class SopsGcm : IDisposable
{
    public const int TagSize = 16;
    private readonly Aes _aes;
    private readonly ulong _hHi;
    private readonly ulong _hLo;

    public SopsGcm(ReadOnlySpan<byte> key)
    {
        if (key.Length != 32) throw new ArgumentException("AES-256 needs a 32-byte key", nameof(key));
        _aes = Aes.Create();
        _aes.Key = key.ToArray();
        Span<byte> h = stackalloc byte[16];
        _aes.EncryptEcb(new byte[16], h, PaddingMode.None);
        _hHi = BinaryPrimitives.ReadUInt64BigEndian(h);
        _hLo = BinaryPrimitives.ReadUInt64BigEndian(h[8..]);
        CryptographicOperations.ZeroMemory(h);
    }

    public void Encrypt(ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> plaintext, Span<byte> ciphertext, Span<byte> tag, ReadOnlySpan<byte> associatedData)
    {
        Span<byte> j0 = stackalloc byte[16];
        CounterZero(nonce, j0);
        Ctr(j0, plaintext, ciphertext);
        ComputeTag(j0, associatedData, ciphertext, tag);
    }

    /// <summary>Returns false (and clears <paramref name="plaintext"/>) when the tag does not authenticate.</summary>
    public bool TryDecrypt(ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> ciphertext, ReadOnlySpan<byte> tag, Span<byte> plaintext, ReadOnlySpan<byte> associatedData)
    {
        if (tag.Length != TagSize) return false;
        Span<byte> j0 = stackalloc byte[16];
        CounterZero(nonce, j0);
        Span<byte> expected = stackalloc byte[TagSize];
        ComputeTag(j0, associatedData, ciphertext, expected);
        if (!CryptographicOperations.FixedTimeEquals(expected, tag)) return false;
        Ctr(j0, ciphertext, plaintext);
        return true;
    }

    private void CounterZero(ReadOnlySpan<byte> nonce, Span<byte> j0)
    {
        if (nonce.Length == 0) throw new ArgumentException("GCM needs a non-empty nonce", nameof(nonce));
        if (nonce.Length == 12)
        {
            nonce.CopyTo(j0);
            j0[12..].Clear();
            j0[15] = 1;
            return;
        }
        ulong yHi = 0, yLo = 0;
        Absorb(ref yHi, ref yLo, nonce);
        Block(ref yHi, ref yLo, 0, (ulong)nonce.Length * 8);
        BinaryPrimitives.WriteUInt64BigEndian(j0, yHi);
        BinaryPrimitives.WriteUInt64BigEndian(j0[8..], yLo);
    }

    private void Ctr(ReadOnlySpan<byte> j0, ReadOnlySpan<byte> input, Span<byte> output)
    {
        Span<byte> counter = stackalloc byte[16];
        Span<byte> stream = stackalloc byte[16];
        j0.CopyTo(counter);
        for (var offset = 0; offset < input.Length; offset += 16)
        {
            BinaryPrimitives.WriteUInt32BigEndian(counter[12..], BinaryPrimitives.ReadUInt32BigEndian(counter[12..]) + 1);
            _aes.EncryptEcb(counter, stream, PaddingMode.None);
            var n = Math.Min(16, input.Length - offset);
            for (var i = 0; i < n; i++) output[offset + i] = (byte)(input[offset + i] ^ stream[i]);
        }
        CryptographicOperations.ZeroMemory(stream);
    }

    private void ComputeTag(ReadOnlySpan<byte> j0, ReadOnlySpan<byte> aad, ReadOnlySpan<byte> ciphertext, Span<byte> tag)
    {
        ulong sHi = 0, sLo = 0;
        Absorb(ref sHi, ref sLo, aad);
        Absorb(ref sHi, ref sLo, ciphertext);
        Block(ref sHi, ref sLo, (ulong)aad.Length * 8, (ulong)ciphertext.Length * 8);
        Span<byte> ej0 = stackalloc byte[16];
        _aes.EncryptEcb(j0, ej0, PaddingMode.None);
        BinaryPrimitives.WriteUInt64BigEndian(tag, sHi ^ BinaryPrimitives.ReadUInt64BigEndian(ej0));
        BinaryPrimitives.WriteUInt64BigEndian(tag[8..], sLo ^ BinaryPrimitives.ReadUInt64BigEndian(ej0[8..]));
    }

    /// <summary>GHASH over <paramref name="data"/>, zero-padded to a whole block.</summary>
    private void Absorb(ref ulong yHi, ref ulong yLo, ReadOnlySpan<byte> data)
    {
        Span<byte> block = stackalloc byte[16];
        for (var offset = 0; offset < data.Length; offset += 16)
        {
            var n = Math.Min(16, data.Length - offset);
            block.Clear();
            data.Slice(offset, n).CopyTo(block);
            Block(ref yHi, ref yLo, BinaryPrimitives.ReadUInt64BigEndian(block), BinaryPrimitives.ReadUInt64BigEndian(block[8..]));
        }
    }

    private void Block(ref ulong yHi, ref ulong yLo, ulong xHi, ulong xLo)
    {
        yHi ^= xHi;
        yLo ^= xLo;
        Multiply(ref yHi, ref yLo);
    }

    /// <summary>Y := Y · H in GF(2¹²⁸) with GCM's bit order (SP 800-38D Algorithm 1).</summary>
    private void Multiply(ref ulong yHi, ref ulong yLo)
    {
        ulong zHi = 0, zLo = 0, vHi = _hHi, vLo = _hLo;
        for (var i = 0; i < 128; i++)
        {
            var word = i < 64 ? yHi : yLo;
            var bit = (word >> (63 - (i & 63))) & 1;
            var take = 0UL - bit;
            zHi ^= vHi & take;
            zLo ^= vLo & take;
            var carry = 0UL - (vLo & 1);
            vLo = (vLo >> 1) | (vHi << 63);
            vHi = (vHi >> 1) ^ (0xE100000000000000UL & carry);
        }
        yHi = zHi;
        yLo = zLo;
    }

    public void Dispose() => _aes.Dispose();
}
