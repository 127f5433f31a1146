using System.Security.Cryptography;
using System.Text;
using Keyward.Core.Attic;
using Keyward.Core.Manifest;

namespace Keyward.Engine.Minting;

/// <summary>
/// A hash of the fields that determine what a credential's value must look like (length, key name, claims…),
/// stored as version metadata so <c>apply</c> can say "claims changed" without comparing values. Contains no secret.
/// </summary>
internal static class SpecFingerprint
{
    public const string MetadataKey = "spec";

    public static string Of(Credential c)
    {
        Span<char> hex = stackalloc char[16];
        Write(c, hex);
        return new string(hex);
    }

    /// <summary>Whether <paramref name="stored"/> is <see cref="Of"/>(<paramref name="c"/>), without making either string
    /// (apply compares every stored credential's spec on every run).</summary>
    public static bool Matches(Credential c, string stored)
    {
        Span<char> hex = stackalloc char[16];
        Write(c, hex);
        return hex.SequenceEqual(stored);
    }

    // The first 16 hex digits (8 bytes) of SHA-256 over the UTF-8 of the spec's text:
    //   secret|BYTES|ENCODING, rsa|BITS|FORMAT, nix|KEYNAME, external|PROVIDER|HOST,
    //   attic|SIGNEDBY|SUBJECT|VALIDITY-TICKS|ISSUER|AUDIENCE,…|PATTERN=PERM,…;PATTERN=PERM,…
    private static void Write(Credential c, Span<char> hex)
    {
        var text = new SpecText(stackalloc char[256]);
        try
        {
            switch (c)
            {
                case SecretCredential s:
                    text.Append("secret|");
                    text.Append(s.Bytes);
                    text.Append('|');
                    text.Append(s.Encoding.Name());
                    break;
                case RsaKeyCredential r:
                    text.Append("rsa|");
                    text.Append(r.Bits);
                    text.Append('|');
                    text.Append(r.Format.ToString());
                    break;
                case NixSigningKeyCredential n:
                    text.Append("nix|");
                    text.Append(n.KeyName);
                    break;
                case AtticTokenCredential t:
                    text.Append("attic|");
                    text.Append(t.SignedBy);
                    text.Append('|');
                    text.Append(t.Subject);
                    text.Append('|');
                    text.Append(t.Validity.Value.Ticks);
                    text.Append('|');
                    text.Append(t.Issuer);
                    text.Append('|');
                    for (var i = 0; i < t.Audiences.Count; i++)
                    {
                        if (i > 0) text.Append(',');
                        text.Append(t.Audiences[i]);
                    }
                    text.Append('|');
                    for (var i = 0; i < t.Caches.Count; i++)
                    {
                        if (i > 0) text.Append(';');
                        var grant = t.Caches[i];
                        text.Append(grant.Pattern.Text);
                        text.Append('=');
                        for (var j = 0; j < grant.Permissions.Count; j++)
                        {
                            if (j > 0) text.Append(',');
                            text.Append(grant.Permissions[j].Name());
                        }
                    }
                    break;
                case ExternalCredential e:
                    text.Append("external|");
                    text.Append(e.Provider.Name());
                    text.Append('|');
                    text.Append(e.Host);
                    break;
                default:
                    throw new ArgumentOutOfRangeException(nameof(c));
            }
            var chars = text.Written;
            var length = Encoding.UTF8.GetByteCount(chars);
            var rented = length <= 512 ? null : System.Buffers.ArrayPool<byte>.Shared.Rent(length);
            var bytes = rented is null ? stackalloc byte[length] : rented.AsSpan(0, length);
            Encoding.UTF8.GetBytes(chars, bytes);
            Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
            SHA256.HashData(bytes, hash);
            if (rented is not null) System.Buffers.ArrayPool<byte>.Shared.Return(rented);
            Convert.TryToHexStringLower(hash[..8], hex, out _);
        }
        finally
        {
            text.Dispose();
        }
    }

    /// <summary>The spec's text in a stack buffer, moved to a pooled one if it outgrows it.</summary>
    private ref struct SpecText(Span<char> initial)
    {
        private Span<char> _buffer = initial;
        private char[]? _rented;
        private int _length;

        public readonly ReadOnlySpan<char> Written => _buffer[.._length];

        public void Append(string? value) => Append(value.AsSpan());

        public void Append(char value)
        {
            scoped ReadOnlySpan<char> one = [value];
            Append(one);
        }

        public void Append(long value)
        {
            Span<char> digits = stackalloc char[20];
            value.TryFormat(digits, out var n, default, System.Globalization.CultureInfo.InvariantCulture);
            Append(digits[..n]);
        }

        private void Append(scoped ReadOnlySpan<char> value)
        {
            if (_length + value.Length > _buffer.Length)
            {
                var bigger = System.Buffers.ArrayPool<char>.Shared.Rent(Math.Max(_buffer.Length * 2, _length + value.Length));
                _buffer[.._length].CopyTo(bigger);
                if (_rented is not null) System.Buffers.ArrayPool<char>.Shared.Return(_rented);
                _buffer = _rented = bigger;
            }
            value.CopyTo(_buffer[_length..]);
            _length += value.Length;
        }

        public void Dispose()
        {
            if (_rented is not null) System.Buffers.ArrayPool<char>.Shared.Return(_rented);
            _rented = null;
        }
    }

    /// <summary>A one-line description of the claims, for the ledger and the plan (no secret).</summary>
    public static string PermissionsSummary(AtticTokenCredential t) =>
        string.Join(' ', t.Caches.Select(g => $"{g.Pattern.Text}:{string.Join(',', g.Permissions.Select(p => p.Name()))}"));
}
