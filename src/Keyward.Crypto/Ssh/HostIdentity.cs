using System.Security.Cryptography;
using Keyward.Core.Errors;
using Keyward.Core.Manifest;
using Keyward.Crypto.Age;

namespace Keyward.Crypto.Ssh;

/// <summary>
/// What <c>keyward agent --identity</c> holds: the host's ssh-ed25519 private key (OpenSSH format, as
/// /etc/ssh/ssh_host_ed25519_key) — it signs challenges and decrypts bundles — or an age X25519 identity
/// (<c>AGE-SECRET-KEY-1…</c>), which decrypts challenges and bundles. <see cref="ToString"/> names the public half only.
/// </summary>
public sealed class HostIdentity : IDisposable
{
    private readonly byte[]? _seed;

    private HostIdentity(HostKey? sshKey, byte[]? seed, string? ageRecipient, IReadOnlyList<IAgeIdentity> identities)
    {
        SshKey = sshKey;
        _seed = seed;
        AgeRecipient = ageRecipient;
        AgeIdentities = identities;
    }

    /// <summary>The public key (ssh identities), as declared under hosts: sshKey.</summary>
    public HostKey? SshKey { get; }

    /// <summary>The recipient (age identities), as declared under hosts: ageRecipient.</summary>
    public string? AgeRecipient { get; }

    /// <summary>Decrypts bundles (and, for age identities, challenges).</summary>
    public IReadOnlyList<IAgeIdentity> AgeIdentities { get; }

    /// <summary>The public key text the server looks the host up by.</summary>
    public string PublicText => SshKey?.ToString() ?? AgeRecipient!;

    public static HostIdentity Parse(string fileText)
    {
        ArgumentNullException.ThrowIfNull(fileText);
        try
        {
            if (fileText.TrimStart().StartsWith("-----BEGIN OPENSSH PRIVATE KEY-----", StringComparison.Ordinal))
            {
                var (publicKey, seed) = AgeKeys.ParseOpenSshEd25519(fileText);
                var key = HostKey.FromWire(SshEd25519.Wire(publicKey))!;
                return new HostIdentity(key, seed, null, [new SshEd25519Identity(publicKey, seed)]);
            }
            var identities = AgeKeys.ParseIdentities(fileText);
            if (identities is not [X25519Identity x])
                throw ErrorCodes.AgentIdentityInvalid.Exception("the identity file must hold exactly one key");
            return new HostIdentity(null, null, x.Recipient, identities);
        }
        catch (KeywardException e) when (e.First.Code != ErrorCodes.AgentIdentityInvalid)
        {
            throw ErrorCodes.AgentIdentityInvalid.Exception(e.First.Message);
        }
    }

    /// <summary>An SSHSIG signature of <paramref name="message"/> in <paramref name="nameSpace"/>.</summary>
    public string Sign(string nameSpace, ReadOnlySpan<byte> message) =>
        _seed is null || SshKey is null
            ? throw ErrorCodes.AgentIdentityInvalid.Exception("an age identity cannot sign; the host answers the challenge by decrypting it")
            : SshSig.Sign(SshKey.PublicKey, _seed, nameSpace, message);

    public override string ToString() => $"host identity {PublicText}";

    public void Dispose()
    {
        if (_seed is not null) CryptographicOperations.ZeroMemory(_seed);
    }
}
