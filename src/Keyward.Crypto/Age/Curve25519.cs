using System.Numerics;
using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace Keyward.Crypto.Age;

/// <summary>X25519 with raw scalars and points (libsodium, the native library NSec ships), plus the
/// Edwards → Montgomery map for ssh-ed25519 keys. NSec's key-agreement API hides the raw shared
/// secret, which the ssh-ed25519 tweak needs as the input point of a second X25519.</summary>
internal static class Curve25519
{
    public const int Size = 32;

    // Field prime and Edwards d of Curve25519 (RFC 7748 §4.1, RFC 8032 §5.1).
    private static readonly BigInteger P = BigInteger.Pow(2, 255) - 19;
    private static readonly BigInteger D = Mod(-121665 * ModInverse(121666));

    static Curve25519()
    {
        // Initialise libsodium through NSec (picks the fastest implementation, thread-safe).
        _ = NSec.Cryptography.KeyAgreementAlgorithm.X25519;
    }

    /// <summary>X25519(scalar, point). False when the result is all zero (a low-order point), which
    /// age requires to be rejected.</summary>
    public static bool TryAgree(ReadOnlySpan<byte> scalar, ReadOnlySpan<byte> point, Span<byte> shared)
    {
        if (scalar.Length != Size || point.Length != Size || shared.Length != Size)
            throw new ArgumentException("X25519 scalars and points are 32 bytes");
        var rc = crypto_scalarmult_curve25519(ref MemoryMarshal.GetReference(shared),
            in MemoryMarshal.GetReference(scalar), in MemoryMarshal.GetReference(point));
        if (rc != 0)
        {
            shared.Clear();
            return false;
        }
        // libsodium already refuses an all-zero result; check again so the rule never depends on its version.
        return shared.ContainsAnyExcept((byte)0);
    }

    public static byte[] PublicKey(ReadOnlySpan<byte> scalar)
    {
        if (scalar.Length != Size) throw new ArgumentException("X25519 scalars are 32 bytes");
        var pub = new byte[Size];
        if (crypto_scalarmult_curve25519_base(ref pub[0], in MemoryMarshal.GetReference(scalar)) != 0)
            throw new CryptographicException("X25519 base point multiplication failed");
        return pub;
    }

    /// <summary>The Montgomery u-coordinate of an Ed25519 public key, <c>u = (1 + y) / (1 − y) mod p</c>;
    /// null if the bytes are not a valid Edwards point encoding.</summary>
    public static byte[]? EdwardsToMontgomery(ReadOnlySpan<byte> edwards)
    {
        if (edwards.Length != Size) return null;
        Span<byte> yBytes = stackalloc byte[Size];
        edwards.CopyTo(yBytes);
        var sign = (yBytes[31] & 0x80) != 0;
        yBytes[31] &= 0x7f;
        var y = new BigInteger(yBytes, isUnsigned: true, isBigEndian: false);
        if (y >= P) return null;
        // The point must be on the curve: x² = (y² − 1) / (d·y² + 1) must be a square.
        var y2 = y * y % P;
        var x2 = Mod((y2 - 1) * ModInverse(Mod(D * y2 + 1)));
        if (!x2.IsZero && BigInteger.ModPow(x2, (P - 1) / 2, P) != BigInteger.One) return null;
        if (x2.IsZero && sign) return null;
        var denominator = Mod(1 - y);
        if (denominator.IsZero) return null; // y = 1 is the identity point
        var u = Mod((1 + y) * ModInverse(denominator));
        var output = new byte[Size];
        u.TryWriteBytes(output, out _, isUnsigned: true, isBigEndian: false);
        return output;
    }

    private static BigInteger Mod(BigInteger value)
    {
        var r = value % P;
        return r.Sign < 0 ? r + P : r;
    }

    private static BigInteger ModInverse(BigInteger value) => BigInteger.ModPow(Mod(value), P - 2, P);

    // DllImport rather than LibraryImport: blittable by-ref arguments need no marshalling code, and
    // LibraryImport would require unsafe blocks in this project.
    [DllImport("libsodium", CallingConvention = CallingConvention.Cdecl)]
    private static extern int crypto_scalarmult_curve25519(ref byte q, in byte n, in byte p);

    [DllImport("libsodium", CallingConvention = CallingConvention.Cdecl)]
    private static extern int crypto_scalarmult_curve25519_base(ref byte q, in byte n);
}
