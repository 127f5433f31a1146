using System.Security.Cryptography;
using System.Text;

namespace Keyward.Core.Secrets;

/// <summary>
/// The one type every secret value travels in. It never prints itself: <see cref="ToString"/> is
/// <c>[redacted]</c>, there is no implicit conversion to string, and serialisers refuse it
/// (see <see cref="SecretJsonConverter"/>). Code that must see the bytes calls <see cref="Reveal"/>
/// or <see cref="RevealString"/>, which makes every such place easy to find.
/// </summary>
[System.Text.Json.Serialization.JsonConverter(typeof(SecretJsonConverter))]
public sealed class Secret : IEquatable<Secret>, IDisposable
{
    public const string Redacted = "[redacted]";

    private readonly byte[] _bytes;
    private bool _disposed;

    private Secret(byte[] bytes) => _bytes = bytes;

    /// <summary>Takes a copy of <paramref name="bytes"/>.</summary>
    public static Secret FromBytes(ReadOnlySpan<byte> bytes) => new(bytes.ToArray());

    /// <summary>Takes ownership of <paramref name="bytes"/> without copying; the caller must not keep it.</summary>
    public static Secret Adopt(byte[] bytes) => new(bytes ?? throw new ArgumentNullException(nameof(bytes)));

    public static Secret FromUtf8(string text) => new(Encoding.UTF8.GetBytes(text ?? throw new ArgumentNullException(nameof(text))));

    /// <summary>Fresh random bytes from <see cref="RandomNumberGenerator"/>.</summary>
    public static Secret Random(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(length);
        return new(RandomNumberGenerator.GetBytes(length));
    }

    public int Length => _bytes.Length;

    public ReadOnlySpan<byte> Reveal()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return _bytes;
    }

    public string RevealString()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return Encoding.UTF8.GetString(_bytes);
    }

    public override string ToString() => Redacted;

    public bool Equals(Secret? other) =>
        other is not null && CryptographicOperations.FixedTimeEquals(_bytes, other._bytes);

    public override bool Equals(object? obj) => obj is Secret s && Equals(s);

    /// <summary>Length only: a hash of the value would be an oracle.</summary>
    public override int GetHashCode() => _bytes.Length;

    public void Dispose()
    {
        if (_disposed) return;
        CryptographicOperations.ZeroMemory(_bytes);
        _disposed = true;
    }
}
