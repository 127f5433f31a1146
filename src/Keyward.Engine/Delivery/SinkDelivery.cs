using Keyward.Core.Manifest;
using Keyward.Core.Secrets;
using Keyward.Sinks;

namespace Keyward.Engine.Delivery;

/// <summary>Renders a sink and describes the file write, resolving <c>--root</c> and persistence roots.
/// Shared by apply, rotation and bootstrap so all three deliver files the same way.</summary>
public sealed class SinkDelivery(EngineOptions options, Func<ReadOnlySpan<byte>, string> fingerprint)
{
    private AtomicFileWriter? _writer;

    // The writer's one warning is "not running as root: owner and group not applied" (KW0715, not KW0008's free-space hint).
    public AtomicFileWriter Writer => _writer ??= new AtomicFileWriter(fingerprint, m => options.Warn(Core.Errors.ErrorCodes.SinkOwnerNotApplied.With(m)));

    /// <summary>Where the bytes go: the storage path (under the persistence root when there is one), under --root.</summary>
    public string TargetPath(Sink sink) => options.Rooted(sink.StoragePath);

    /// <summary>The runtime path that must link to the storage path, for persisted sinks.</summary>
    public string? LinkPath(Sink sink) => sink.PersistRoot is null ? null : options.Rooted(sink.Path);

    public FileWriteRequest Request(Sink sink, IReadOnlyDictionary<string, ResolvedCredential> values) =>
        new(TargetPath(sink), SinkRenderer.Render(sink, values), sink.Mode, sink.DirectoryMode, sink.Owner, sink.Group, LinkPath(sink));

    /// <summary>Writes atomically. Under <c>--root</c> (building an image on another host) an owner or group that does not
    /// exist here is a warning and the file keeps the builder's ownership; on the real system it is an error.</summary>
    public FileWriteOutcome Write(FileWriteRequest request) => WithOwnerFallback(request, Writer.Write);

    public bool IsCurrent(FileWriteRequest request) => WithOwnerFallback(request, Writer.IsCurrent);

    /// <summary>Missing, current or differing, from one lstat (see <see cref="AtomicFileWriter.Check"/>).</summary>
    public FileCheck Check(FileWriteRequest request) => WithOwnerFallback(request, Writer.Check);

    private readonly HashSet<string> _warnedOwners = new(StringComparer.Ordinal);

    private T WithOwnerFallback<T>(FileWriteRequest request, Func<FileWriteRequest, T> action)
    {
        try
        {
            return action(request);
        }
        catch (Core.Errors.KeywardException ex) when (options.Root is not null && ex.First.Code == Core.Errors.ErrorCodes.SinkUnknownOwner)
        {
            var who = $"{request.Owner}:{request.Group}";
            if (_warnedOwners.Add(who))
                options.Warn(ex.First with { Message = ex.First.Message + $" (under --root the file keeps this host's ownership; {request.Owner ?? "-"}:{request.Group ?? "-"} applies on the target system)" });
            return action(request with { Owner = null, Group = null });
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // The writer translates failures of the write itself; a failed look at the target or its parents (statx:
            // "File name too long" under a long --root, EACCES) is the same failure to the user, not an internal error.
            throw new Core.Errors.KeywardException(Core.Errors.ErrorCodes.SinkWriteFailed.With($"cannot write '{request.Path}': {Core.Errors.IoErrorText.Describe(ex)}"), ex);
        }
    }

    /// <summary>True when the sink can be rendered now (every credential it needs has a value).</summary>
    public static bool Renderable(Sink sink, IReadOnlyDictionary<string, ResolvedCredential> values, out string? missing)
    {
        foreach (var name in sink.CredentialNames)
        {
            if (!values.TryGetValue(name, out var v) || v.Value is null)
            {
                // Literal trusted keys ("name:base64") are not credential references.
                if (sink.NixConf is not null && sink.NixConf.TrustedPublicKeys.Contains(name) && name.Contains(':', StringComparison.Ordinal))
                    continue;
                missing = name;
                return false;
            }
        }
        missing = null;
        return true;
    }

    /// <summary>A nix-conf sink with each trusted signing-key name replaced by the literal public keys it stands for
    /// (one, or two during a rollover or overlap).</summary>
    public static Sink WithTrustLists(Sink sink, IReadOnlyDictionary<string, IReadOnlyList<string>> trust)
    {
        if (sink.NixConf is not { } nix || !nix.TrustedPublicKeys.Any(trust.ContainsKey)) return sink;
        var keys = nix.TrustedPublicKeys.SelectMany(k => trust.TryGetValue(k, out var list) ? list : [k]).Distinct(StringComparer.Ordinal).ToArray();
        return sink with { NixConf = nix with { TrustedPublicKeys = keys } };
    }

    public static IReadOnlyDictionary<string, ResolvedCredential> ResolveAll(KeywardManifest manifest, IReadOnlyDictionary<string, Secret> values)
    {
        var result = new Dictionary<string, ResolvedCredential>(StringComparer.Ordinal);
        foreach (var c in manifest.Credentials)
            result[c.Name] = CredentialValues.Resolve(c, values.GetValueOrDefault(c.Name));
        return result;
    }
}
