namespace Keyward.Crypto.Age;

/// <summary>One recipient stanza of an age header: <c>-&gt; TYPE ARG…</c> and a binary body.</summary>
internal sealed class AgeStanza(string type, IReadOnlyList<string> args, byte[] body)
{
    public string Type { get; } = type;

    /// <summary>The arguments after the type.</summary>
    public IReadOnlyList<string> Args { get; } = args;

    public byte[] Body { get; } = body;
}

/// <summary>Something a file key can be encrypted to: an <c>age1…</c> key, an SSH public key.</summary>
public interface IAgeRecipient
{
    /// <summary>Wraps the 16-byte file key into one or more stanzas.</summary>
    internal IReadOnlyList<AgeStanza> Wrap(ReadOnlySpan<byte> fileKey);
}

/// <summary>Something that can recover a file key from the stanzas of a header.</summary>
public interface IAgeIdentity
{
    /// <summary>The file key, or null when no stanza is addressed to this identity. Throws a
    /// header error (KW0403) for a malformed stanza of this identity's type.</summary>
    internal byte[]? Unwrap(IReadOnlyList<AgeStanza> stanzas);
}
