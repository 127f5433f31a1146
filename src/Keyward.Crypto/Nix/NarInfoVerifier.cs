using System.Text;

namespace Keyward.Crypto.Nix;

/// <summary>The outcome for one store path, worst first after <see cref="Valid"/>.</summary>
public enum NarInfoStatus
{
    /// <summary>At least one signature by a trusted key verifies (one is enough, as in Nix).</summary>
    Valid,
    /// <summary>No Sig line at all.</summary>
    Unsigned,
    /// <summary>Signatures exist, but none is by a trusted key name.</summary>
    UntrustedKey,
    /// <summary>A signature claims a trusted key name but does not verify (tampered narinfo or wrong key).</summary>
    BadSignature,
}

public sealed record NarInfoVerification(string StorePath, NarInfoStatus Status, string? SignedBy, string Detail)
{
    public bool IsValid => Status == NarInfoStatus.Valid;
}

/// <summary>The trusted keys, by name, as Nix's <c>getDefaultPublicKeys</c> builds them: the first key with a name wins.</summary>
public sealed class NixTrustedKeys
{
    private readonly Dictionary<string, NixPublicKey> _byName = new(StringComparer.Ordinal);

    public NixTrustedKeys(IEnumerable<NixPublicKey> keys)
    {
        ArgumentNullException.ThrowIfNull(keys);
        foreach (var k in keys) _byName.TryAdd(k.Name, k);
    }

    public int Count => _byName.Count;

    public bool TryGet(string name, out NixPublicKey key) => _byName.TryGetValue(name, out key!);

    public IEnumerable<NixPublicKey> Keys => _byName.Values;
}

/// <summary>
/// Checks a narinfo's <c>Sig:</c> lines against trusted keys the way Nix's <c>checkSignatures</c> does: the signature's
/// key name selects the trusted key; one valid signature is enough; signatures by unknown names are ignored.
/// </summary>
public static class NarInfoVerifier
{
    public static NarInfoVerification Verify(NarInfo info, IEnumerable<NixPublicKey> trusted) =>
        Verify(info, new NixTrustedKeys(trusted));

    public static NarInfoVerification Verify(NarInfo info, NixTrustedKeys trusted)
    {
        ArgumentNullException.ThrowIfNull(info);
        ArgumentNullException.ThrowIfNull(trusted);
        if (info.Sigs.Count == 0)
            return new(info.StorePath, NarInfoStatus.Unsigned, null, "no signature");
        byte[]? fingerprint = null;
        var failed = new List<string>();
        var malformed = 0;
        Span<byte> sig = stackalloc byte[66];
        foreach (var sigText in info.Sigs)
        {
            var colon = sigText.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0) { malformed++; continue; }
            var name = sigText[..colon];
            if (!trusted.TryGet(name, out var key)) continue;
            if (!Convert.TryFromBase64Chars(sigText.AsSpan(colon + 1).Trim(), sig, out var n) || n != 64)
            {
                failed.Add(name + " (malformed)");
                continue;
            }
            fingerprint ??= Encoding.UTF8.GetBytes(info.Fingerprint());
            if (key.VerifyBytes(fingerprint, sig[..64]))
                return new(info.StorePath, NarInfoStatus.Valid, name, $"signed by {name}");
            failed.Add(name);
        }
        if (failed.Count > 0)
            return new(info.StorePath, NarInfoStatus.BadSignature, null,
                $"signature by trusted key {string.Join(", ", failed)} does not verify (narinfo altered or signed by another key of that name)");
        var names = info.Sigs.Select(s => s.IndexOf(':', StringComparison.Ordinal) is var c and > 0 ? s[..c] : "?").Distinct(StringComparer.Ordinal);
        return new(info.StorePath, NarInfoStatus.UntrustedKey, null,
            $"signed only by untrusted key(s): {string.Join(", ", names)}" + (malformed > 0 ? $" ({malformed} malformed)" : ""));
    }
}
