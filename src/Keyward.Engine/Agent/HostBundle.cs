using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Keyward.Core.Errors;
using Keyward.Core.Manifest;
using Keyward.Core.Secrets;
using Keyward.Crypto.Age;

namespace Keyward.Engine.Agent;

/// <summary>One rendered sink in a bundle: where and how to write it, its bytes, and the server's keyed fingerprint of
/// them (what the agent reports back).</summary>
public sealed record BundleSink(string Name, string Path, string? Persist, int Mode, int DirectoryMode, string? Owner, string? Group,
    string Fingerprint, byte[] Content, IReadOnlyList<Hook> OnChange)
{
    /// <summary>The sink as apply knows it, for the shared delivery path (format and entries play no part in writing).</summary>
    public Sink ToSink() => new(Name, Path, SinkFormat.Raw, Owner, Group, Mode, DirectoryMode, Persist, [], OnChange, null, null, null, new SourceLocation("bundle", 0, 0));
}

/// <summary>
/// What one host receives: its sinks, rendered by the server, in a JSON document that is only ever on the wire
/// age-encrypted to the host's key. The bundle names its host; the agent refuses one that names another.
/// </summary>
public sealed class HostBundle : IDisposable
{
    public const string Format = "keyward-bundle/v1";

    public HostBundle(string host, string version, DateTimeOffset issuedAt, IReadOnlyList<BundleSink> sinks, IReadOnlyList<string> pending)
    {
        Host = host;
        Version = version;
        IssuedAt = issuedAt;
        Sinks = sinks;
        Pending = pending;
    }

    public string Host { get; }

    /// <summary>A keyed fingerprint of everything in the bundle but its time: equal versions mean equal files.</summary>
    public string Version { get; }

    public DateTimeOffset IssuedAt { get; }
    public IReadOnlyList<BundleSink> Sinks { get; }

    /// <summary>Sinks of the host that cannot be rendered yet (a credential without a value).</summary>
    public IReadOnlyList<string> Pending { get; }

    /// <summary>The version of a set of sinks: <paramref name="fingerprint"/> over every field that reaches the disk.</summary>
    public static string VersionOf(string host, IReadOnlyList<BundleSink> sinks, Func<ReadOnlySpan<byte>, string> fingerprint)
    {
        var sb = new StringBuilder(host).Append('\n');
        foreach (var s in sinks)
            sb.Append(s.Name).Append('\0').Append(s.Path).Append('\0').Append(s.Persist).Append('\0').Append(s.Mode).Append('\0').Append(s.DirectoryMode)
              .Append('\0').Append(s.Owner).Append('\0').Append(s.Group).Append('\0').Append(string.Join(",", s.OnChange.Select(Core.Graph.GraphBuilder.HookName)))
              .Append('\0').Append(s.Fingerprint).Append('\n');
        return fingerprint(Encoding.UTF8.GetBytes(sb.ToString()));
    }

    /// <summary>The bundle as JSON, age-encrypted to <paramref name="recipient"/> (the host's ssh-ed25519 key or age1…).
    /// The plaintext exists only in a buffer zeroed before returning.</summary>
    public byte[] Seal(string recipient)
    {
        using var buffer = new MemoryStream();
        try
        {
            using (var w = new Utf8JsonWriter(buffer))
            {
                w.WriteStartObject();
                w.WriteString("format", Format);
                w.WriteString("host", Host);
                w.WriteString("version", Version);
                w.WriteString("issuedAt", IssuedAt);
                w.WriteStartArray("pending");
                foreach (var p in Pending) w.WriteStringValue(p);
                w.WriteEndArray();
                w.WriteStartArray("sinks");
                foreach (var s in Sinks)
                {
                    w.WriteStartObject();
                    w.WriteString("name", s.Name);
                    w.WriteString("path", s.Path);
                    if (s.Persist is not null) w.WriteString("persist", s.Persist);
                    w.WriteNumber("mode", s.Mode);
                    w.WriteNumber("directoryMode", s.DirectoryMode);
                    if (s.Owner is not null) w.WriteString("owner", s.Owner);
                    if (s.Group is not null) w.WriteString("group", s.Group);
                    w.WriteString("fingerprint", s.Fingerprint);
                    w.WriteBase64String("content", s.Content);
                    w.WriteStartArray("onChange");
                    foreach (var h in s.OnChange) WriteHook(w, h);
                    w.WriteEndArray();
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                w.WriteEndObject();
            }
            return AgeFile.EncryptBytes(buffer.GetBuffer().AsSpan(0, (int)buffer.Length), [AgeKeys.ParseRecipient(recipient)]);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(buffer.GetBuffer());
        }
    }

    private static void WriteHook(Utf8JsonWriter w, Hook h)
    {
        w.WriteStartObject();
        switch (h)
        {
            case RestartUnitHook r: w.WriteString("restart", r.Unit); break;
            case ReloadUnitHook r: w.WriteString("reload", r.Unit); break;
            case CommandHook c:
                w.WriteStartArray("command");
                foreach (var a in c.Argv) w.WriteStringValue(a);
                w.WriteEndArray();
                break;
        }
        if (h.PassEnv.Count > 0)
        {
            w.WriteStartArray("passEnv");
            foreach (var e in h.PassEnv) w.WriteStringValue(e);
            w.WriteEndArray();
        }
        w.WriteEndObject();
    }

    /// <summary>Decrypts and reads a sealed bundle, refusing (KW1312) one this identity cannot decrypt, one that was
    /// altered (age's MAC and payload authentication), one that is malformed, and one that names another host.</summary>
    public static HostBundle Open(ReadOnlySpan<byte> sealedBundle, IReadOnlyList<IAgeIdentity> identities, string expectedHost)
    {
        Secret plain;
        try
        {
            plain = AgeFile.DecryptBytes(sealedBundle, identities);
        }
        catch (KeywardException e)
        {
            throw ErrorCodes.AgentBundleRefused.Exception($"the bundle cannot be decrypted with this host's key: {e.First.Message}");
        }
        using (plain)
        {
            HostBundle bundle;
            try
            {
                bundle = Parse(plain.Reveal());
            }
            catch (Exception e) when (e is JsonException or FormatException or InvalidOperationException or KeyNotFoundException)
            {
                throw ErrorCodes.AgentBundleRefused.Exception("the bundle is not a keyward-bundle/v1 document");
            }
            if (!string.Equals(bundle.Host, expectedHost, StringComparison.Ordinal))
            {
                bundle.Dispose();
                throw ErrorCodes.AgentBundleRefused.Exception($"the bundle is for host '{bundle.Host}', not this host '{expectedHost}'");
            }
            return bundle;
        }
    }

    private static HostBundle Parse(ReadOnlySpan<byte> json)
    {
        using var doc = JsonDocument.Parse(json.ToArray());
        var root = doc.RootElement;
        if (root.GetProperty("format").GetString() != Format) throw new FormatException("format");
        var sinks = new List<BundleSink>();
        foreach (var s in root.GetProperty("sinks").EnumerateArray())
        {
            var path = s.GetProperty("path").GetString()!;
            var persist = s.TryGetProperty("persist", out var p) ? p.GetString() : null;
            if (!IsSafeAbsolute(path) || (persist is not null && !IsSafeAbsolute(persist))) throw new FormatException("path");
            var hooks = new List<Hook>();
            foreach (var h in s.GetProperty("onChange").EnumerateArray()) hooks.Add(ReadHook(h));
            sinks.Add(new BundleSink(s.GetProperty("name").GetString()!, path, persist, s.GetProperty("mode").GetInt32(), s.GetProperty("directoryMode").GetInt32(),
                s.TryGetProperty("owner", out var o) ? o.GetString() : null, s.TryGetProperty("group", out var g) ? g.GetString() : null,
                s.GetProperty("fingerprint").GetString()!, s.GetProperty("content").GetBytesFromBase64(), hooks));
        }
        return new HostBundle(root.GetProperty("host").GetString()!, root.GetProperty("version").GetString()!, root.GetProperty("issuedAt").GetDateTimeOffset(),
            sinks, [.. root.GetProperty("pending").EnumerateArray().Select(x => x.GetString()!)]);
    }

    // The manifest reader already refuses such paths; the agent checks again rather than trust the server with "..".
    private static bool IsSafeAbsolute(string path) =>
        path.StartsWith('/') && path.Length > 1 && !path.Contains('\0', StringComparison.Ordinal) &&
        !path.Split('/').Any(part => part is "." or "..");

    private static Hook ReadHook(JsonElement h)
    {
        var at = new SourceLocation("bundle", 0, 0);
        Hook hook = h.TryGetProperty("restart", out var r) ? new RestartUnitHook(r.GetString()!, at)
            : h.TryGetProperty("reload", out var l) ? new ReloadUnitHook(l.GetString()!, at)
            : new CommandHook([.. h.GetProperty("command").EnumerateArray().Select(x => x.GetString()!)], at);
        return h.TryGetProperty("passEnv", out var e) ? hook with { PassEnv = [.. e.EnumerateArray().Select(x => x.GetString()!)] } : hook;
    }

    public void Dispose()
    {
        foreach (var s in Sinks) CryptographicOperations.ZeroMemory(s.Content);
    }
}
