using System.Buffers.Binary;

namespace Keyward.Core.Manifest;

/// <summary>An <c>ssh-ed25519</c> public key, as in <c>ssh_host_ed25519_key.pub</c> or an authorized_keys line.
/// <see cref="ToString"/> gives the canonical <c>ssh-ed25519 BASE64</c> text (without the comment).</summary>
public sealed class HostKey : IEquatable<HostKey>
{
    public const string KeyType = "ssh-ed25519";

    private HostKey(byte[] wire, byte[] publicKey)
    {
        Wire = wire;
        PublicKey = publicKey;
    }

    /// <summary>The SSH wire blob: <c>string "ssh-ed25519" ‖ string key</c>.</summary>
    public byte[] Wire { get; }

    /// <summary>The 32-byte Ed25519 public key.</summary>
    public byte[] PublicKey { get; }

    /// <summary>Parses <c>ssh-ed25519 AAAA… [comment]</c>; <paramref name="error"/> says what is wrong otherwise.</summary>
    public static bool TryParse(string text, out HostKey? key, out string? error)
    {
        ArgumentNullException.ThrowIfNull(text);
        key = null;
        var fields = text.Trim().Split((char[]?)null, 3, StringSplitOptions.RemoveEmptyEntries);
        if (fields.Length < 2)
        {
            error = "expected 'ssh-ed25519 AAAA… [comment]'";
            return false;
        }
        if (fields[0] != KeyType)
        {
            error = $"key type '{Clip(fields[0])}' is not supported: use the host's ssh-ed25519 key (ssh_host_ed25519_key.pub)";
            return false;
        }
        byte[] wire;
        try
        {
            wire = Convert.FromBase64String(fields[1]);
        }
        catch (FormatException)
        {
            error = "the key is not base64";
            return false;
        }
        if (FromWire(wire) is not { } parsed)
        {
            error = "the base64 blob is not an ssh-ed25519 public key (type and 32-byte key)";
            return false;
        }
        key = parsed;
        error = null;
        return true;
    }

    /// <summary>From the SSH wire blob, or null when it is not an ssh-ed25519 key.</summary>
    public static HostKey? FromWire(ReadOnlySpan<byte> wire)
    {
        var rest = wire;
        if (!ReadString(ref rest, out var type) || !type.SequenceEqual("ssh-ed25519"u8)) return null;
        if (!ReadString(ref rest, out var key) || key.Length != 32 || !rest.IsEmpty) return null;
        return new HostKey(wire.ToArray(), key.ToArray());
    }

    private static bool ReadString(ref ReadOnlySpan<byte> rest, out ReadOnlySpan<byte> value)
    {
        value = default;
        if (rest.Length < 4) return false;
        var length = BinaryPrimitives.ReadUInt32BigEndian(rest);
        if (length > (uint)(rest.Length - 4)) return false;
        value = rest.Slice(4, (int)length);
        rest = rest[(4 + (int)length)..];
        return true;
    }

    private static string Clip(string s) => s.Length <= 40 ? s : s[..40] + "…";

    public override string ToString() => $"{KeyType} {Convert.ToBase64String(Wire)}";

    public bool Equals(HostKey? other) => other is not null && Wire.AsSpan().SequenceEqual(other.Wire);

    public override bool Equals(object? obj) => Equals(obj as HostKey);

    public override int GetHashCode() => BinaryPrimitives.ReadInt32LittleEndian(PublicKey);
}
