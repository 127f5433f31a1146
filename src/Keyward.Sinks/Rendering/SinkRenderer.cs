using Keyward.Core.Manifest;

namespace Keyward.Sinks;

/// <summary>Turns a sink declaration plus resolved credential values into the exact bytes of its file.
/// Pure: the same inputs give the same bytes; no I/O, no clock, no randomness.</summary>
public static class SinkRenderer
{
    /// <summary>Renders <paramref name="sink"/>. Throws a <see cref="Core.Errors.KeywardException"/> (KW07xx) for a missing
    /// value or a value that cannot be represented in the format; the message names the sink and entry, never the value.</summary>
    public static byte[] Render(Sink sink, IReadOnlyDictionary<string, ResolvedCredential> credentials)
    {
        ArgumentNullException.ThrowIfNull(sink);
        ArgumentNullException.ThrowIfNull(credentials);
        var context = new Rendering.RenderContext(sink, credentials);
        return sink.Format switch
        {
            SinkFormat.Raw => Rendering.Raw.RawRenderer.Render(context),
            SinkFormat.Env => Rendering.Env.EnvRenderer.Render(context),
            SinkFormat.Json => Rendering.Json.JsonRenderer.Render(context),
            SinkFormat.NixAccessTokens => Rendering.NixAccessTokens.NixAccessTokensRenderer.Render(context),
            SinkFormat.Netrc => Rendering.Netrc.NetrcRenderer.Render(context),
            SinkFormat.GitCredentials => Rendering.GitCredentials.GitCredentialsRenderer.Render(context),
            SinkFormat.AtticConfig => Rendering.AtticConfig.AtticConfigRenderer.Render(context),
            SinkFormat.NixConf => Rendering.NixConf.NixConfRenderer.Render(context),
            SinkFormat.KubernetesSecret => Rendering.KubernetesSecret.KubernetesSecretRenderer.Render(context),
            _ => throw new ArgumentOutOfRangeException(nameof(sink), sink.Format, "unknown sink format"),
        };
    }

    /// <summary>Each entry's value as bytes (encoding applied), keyed by entry key: the data of a live Kubernetes Secret.</summary>
    public static IReadOnlyDictionary<string, Core.Secrets.Secret> EntryValues(Sink sink, IReadOnlyDictionary<string, ResolvedCredential> credentials)
    {
        ArgumentNullException.ThrowIfNull(sink);
        var context = new Rendering.RenderContext(sink, credentials);
        return sink.Entries.ToDictionary(e => e.Key, e => Core.Secrets.Secret.Adopt(context.Bytes(e)), StringComparer.Ordinal);
    }
}
