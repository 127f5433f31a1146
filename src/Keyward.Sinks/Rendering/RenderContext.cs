using System.Security.Cryptography;
using System.Text;
using Keyward.Core.Errors;
using Keyward.Core.Manifest;

namespace Keyward.Sinks.Rendering;

/// <summary>One rendering: the sink, the resolved values, and the shared rules for turning an entry into
/// bytes or text. Error messages name the sink and the entry, never a value.</summary>
internal sealed class RenderContext(Sink sink, IReadOnlyDictionary<string, ResolvedCredential> credentials)
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public Sink Sink { get; } = sink;

    public ResolvedCredential Credential(SinkEntry entry)
    {
        if (!credentials.TryGetValue(entry.Credential, out var resolved))
            throw Error(ErrorCodes.SinkValueMissing, entry, $"credential '{entry.Credential}' was not resolved");
        return resolved;
    }

    /// <summary>The entry's value as bytes: the credential's value (or public key) with the entry's encoding applied.</summary>
    public byte[] Bytes(SinkEntry entry)
    {
        // A literal of the manifest is its own text: no credential, no encoding.
        if (entry.IsLiteral) return Encoding.UTF8.GetBytes(entry.Literal ?? "");
        var resolved = Credential(entry);
        byte[] source;
        if (entry.Take == EntryValue.PublicKey)
        {
            if (resolved.PublicKey is null)
                throw Error(ErrorCodes.SinkPublicKeyMissing, entry, $"credential '{entry.Credential}' ({resolved.Spec.Kind.Name()}) has no public key");
            source = Encoding.UTF8.GetBytes(resolved.PublicKey);
        }
        else
        {
            if (resolved.Value is null)
                throw Error(ErrorCodes.SinkValueMissing, entry, $"credential '{entry.Credential}' has no value yet");
            source = resolved.Value.Reveal().ToArray();
        }
        return entry.Encoding switch
        {
            ValueEncoding.Raw or ValueEncoding.Alphanumeric => source,
            ValueEncoding.Base64 => Encode(source, Convert.ToBase64String),
            ValueEncoding.Base64Url => Encode(source, s => Convert.ToBase64String(s).TrimEnd('=').Replace('+', '-').Replace('/', '_')),
            ValueEncoding.Hex => Encode(source, Convert.ToHexStringLower),
            _ => throw new ArgumentOutOfRangeException(nameof(entry), entry.Encoding, "unknown encoding"),
        };
    }

    /// <summary>The entry's value as text for a text format: valid UTF-8 without NUL, else KW0702.</summary>
    public string Text(SinkEntry entry)
    {
        var bytes = Bytes(entry);
        try
        {
            var text = StrictUtf8.GetString(bytes);
            if (text.Contains('\0', StringComparison.Ordinal))
                throw Unrepresentable(entry, "contains a NUL byte");
            return text;
        }
        catch (DecoderFallbackException)
        {
            throw Unrepresentable(entry, "is binary (not UTF-8 text)");
        }
        finally
        {
            CryptographicOperations.ZeroMemory(bytes);
        }
    }

    /// <summary>The host of a host-keyed entry: its key, else the external credential's <c>host</c>, else the host of its endpoint.</summary>
    public string Host(SinkEntry entry)
    {
        if (entry.Key.Length > 0) return entry.Key;
        if (Credential(entry).Spec is ExternalCredential { Host: { Length: > 0 } host }) return host;
        if (entry.Endpoint is not null && Uri.TryCreate(entry.Endpoint, UriKind.Absolute, out var uri) && uri.Host.Length > 0)
            return uri.IsDefaultPort ? uri.Host : $"{uri.Host}:{uri.Port}";
        throw Error(ErrorCodes.SinkMissingHost, entry, $"no host for credential '{entry.Credential}'");
    }

    /// <summary>The login for an entry: the entry's <c>username</c>, else the external credential's.</summary>
    public string? Username(SinkEntry entry) =>
        entry.Username ?? (Credential(entry).Spec as ExternalCredential)?.Username;

    /// <summary>The login that goes with a token (git-credentials, netrc): the entry's or credential's username, else
    /// the provider's convention — GitHub <c>x-access-token</c> (documented placeholder), GitLab <c>oauth2</c> (accepted for
    /// OAuth and personal tokens), Attic tokens <c>attic</c> (atticd reads only the password), anything else <c>git</c>
    /// (Gitea and Forgejo take the token as the password with any username).</summary>
    public string Login(SinkEntry entry) => Username(entry) ?? Credential(entry).Spec switch
    {
        ExternalCredential { Provider: ExternalProvider.GitHub } => "x-access-token",
        ExternalCredential { Provider: ExternalProvider.GitLab } => "oauth2",
        AtticTokenCredential => "attic",
        _ => "git",
    };

    public KeywardException Unrepresentable(SinkEntry entry, string why) =>
        Error(ErrorCodes.SinkValueNotRepresentable, entry,
            $"{(entry.IsLiteral ? "the literal value" : $"the value of credential '{entry.Credential}'")} {why} and cannot be written in {Sink.Format.Name()} format");

    public KeywardException Error(ErrorCode code, SinkEntry? entry, string message, string? hint = null)
    {
        var where = entry is null || entry.Key.Length == 0 ? $"sink '{Sink.Name}'" : $"sink '{Sink.Name}', entry '{entry.Key}'";
        return new KeywardException(code.At(entry?.Location ?? Sink.Location, $"{where}: {message}", hint));
    }

    /// <summary>Keys must be unique within a sink: the formats either reject or silently drop duplicates.</summary>
    public void RequireUnique(IEnumerable<(SinkEntry Entry, string Key)> keys, StringComparer comparer, string what)
    {
        var seen = new HashSet<string>(comparer);
        foreach (var (entry, key) in keys)
            if (!seen.Add(key))
                throw Error(ErrorCodes.SinkInvalidKey, entry, $"{what} '{key}' appears twice");
    }

    private static byte[] Encode(byte[] source, Func<byte[], string> encode)
    {
        try
        {
            return Encoding.ASCII.GetBytes(encode(source));
        }
        finally
        {
            CryptographicOperations.ZeroMemory(source);
        }
    }
}
