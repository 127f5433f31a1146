using System.Text;
using Keyward.Core.Errors;
using Keyward.Core.Manifest;
using Keyward.Core.Secrets;
using Keyward.Engine.Minting;
using Keyward.Services;
using Keyward.Services.Bootstrap;
using Keyward.Sinks;
using Keyward.Core.Store;

namespace Keyward.Engine.Bootstrap;

/// <summary>
/// <see cref="IBootstrapStore"/> over the credential store. Tokens are looked for, in order: the placeholder file (where a
/// person pastes one, whatever the credential's source form), the declared source (JSON map key, environment variable),
/// then the active stored version. A valid token becomes a new active version with origin <c>bootstrap</c>, and the audit
/// log records its fingerprint (never the value). The placeholder goes to the source file when the credential has one
/// (relative paths resolve against the manifest's directory), else to STATE/bootstrap/NAME.txt (0600); a file holding
/// anything but a placeholder is never overwritten. When a live <c>kubernetes-secret</c> sink carries the token, the
/// placeholder goes into that Secret too, and a token patched in there is found (<see cref="LiveSecretPlacement"/>).
/// The state reached is an audit event, read back by the next run.
/// </summary>
public sealed class StoreBootstrapStore(ICredentialStore store, ExternalCredential credential, string stateDirectory, string manifestDirectory,
    TimeProvider time, string? root = null, Func<string, string?>? getEnv = null, string actor = "keyward bootstrap",
    LiveSecretPlacement? live = null) : IBootstrapStore
{
    private const int FileMode = 0b110_000_000;      // 0600
    private const int DirectoryMode = 0b111_000_000; // 0700

    public string Credential => credential.Name;

    public string PlaceholderPath => credential.Source is FileSource f
        ? Physical(f.Path)
        : Path.Combine(stateDirectory, "bootstrap", credential.Name + ".txt");

    /// <summary>Absolute declared paths go under --root; relative ones resolve against the manifest's directory.</summary>
    private string Physical(string path) =>
        !Path.IsPathRooted(path) ? Path.GetFullPath(path, manifestDirectory)
        : string.IsNullOrEmpty(root) ? path
        : Path.Join(root, path.TrimStart('/'));

    public async Task<BootstrapState> LastStateAsync(CancellationToken cancellationToken)
    {
        var audit = await store.ReadAuditAsync(null, cancellationToken).ConfigureAwait(false);
        for (var i = audit.Count - 1; i >= 0; i--)
        {
            var e = audit[i].Event;
            if (e.Credential != credential.Name || !e.Action.StartsWith("bootstrap.", StringComparison.Ordinal)) continue;
            var state = BootstrapStates.Parse(e.Action["bootstrap.".Length..]);
            if (state != BootstrapState.Unknown) return state;
        }
        return BootstrapState.Unknown;
    }

    public async Task<IReadOnlyList<HeldToken>> HeldAsync(CancellationToken cancellationToken)
    {
        var held = new List<HeldToken>();
        if (ReadPlaceholderFile() is { } placed) held.Add(new HeldToken(placed, false, PlaceholderPath));
        if (live is not null) held.AddRange(await live.HeldAsync(cancellationToken).ConfigureAwait(false));
        if (credential.Source is JsonMapSource or EnvSource)
        {
            try
            {
                if (new ExternalImporter(manifestDirectory, getEnv ?? Environment.GetEnvironmentVariable).Read(credential) is { } declared)
                    held.Add(new HeldToken(declared, false, "the credential's source"));
            }
            catch (KeywardException ex) when (ex.First.Code == ErrorCodes.ExternalSourceMissing || ex.First.Code == ErrorCodes.ExternalSourceInvalid)
            {
                // Nothing there yet: the placeholder file is where a person puts it.
            }
        }
        var active = await store.GetActiveAsync(credential.Name, cancellationToken).ConfigureAwait(false);
        if (active is not null)
        {
            // The stored value placed again is the stored one (no new version); other placed tokens come first.
            var same = held.FindIndex(h => store.Fingerprint(h.Value.Reveal()) == active.Fingerprint);
            if (same >= 0) { held[same].Value.Dispose(); held.RemoveAt(same); }
            held.Add(new HeldToken(await store.RevealAsync(credential.Name, active.Version, cancellationToken).ConfigureAwait(false), true, $"version {active.Version}"));
        }
        return held.DistinctBy(h => store.Fingerprint(h.Value.Reveal())).ToArray();
    }

    private Secret? ReadPlaceholderFile()
    {
        var path = PlaceholderPath;
        if (!File.Exists(path)) return null;
        var text = File.ReadAllText(path).Trim();
        return text.Length == 0 || Placeholder.IsPlaceholder(text) ? null : Secret.FromUtf8(text);
    }

    public async Task<int> StoreAsync(Secret token, TokenValidation validation, CancellationToken cancellationToken)
    {
        var fingerprint = store.Fingerprint(token.Reveal());
        var active = await store.GetActiveAsync(credential.Name, cancellationToken).ConfigureAwait(false);
        if (active is not null && active.Fingerprint == fingerprint) return active.Version;
        var meta = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            [SpecFingerprint.MetadataKey] = SpecFingerprint.Of(credential),
            ["provider"] = credential.Provider.Name(),
        };
        if (validation.Subject is not null) meta["subject"] = validation.Subject;
        if (validation.Scopes is { Count: > 0 } s) meta["scopes"] = string.Join(",", s);
        var now = time.GetUtcNow();
        var v = await store.PutAsync(new NewVersion(credential.Name, CredentialKind.External.Name(), token, VersionState.Active, now,
            validation.ExpiresAt ?? credential.Expires, "bootstrap", meta), cancellationToken).ConfigureAwait(false);
        await store.AppendAuditAsync(new AuditEvent(now, actor, "bootstrap.store", credential.Name, v.Version, v.Fingerprint,
            "validated against the service and stored as the active version"), cancellationToken).ConfigureAwait(false);
        return v.Version;
    }

    public string? OtherPlaces => live?.Instructions;

    /// <summary>The placeholder file (the return value says whether it was written), and the live Secrets when any.</summary>
    public async Task<bool> WritePlaceholderAsync(string content, bool replaceOnly, CancellationToken cancellationToken)
    {
        if (live is not null) await live.WritePlaceholderAsync(content, replaceOnly, cancellationToken).ConfigureAwait(false);
        var path = PlaceholderPath;
        if (File.Exists(path))
        {
            var text = File.ReadAllText(path);
            if (text.Trim().Length > 0 && !Placeholder.IsPlaceholder(text)) return false; // a person's token
        }
        else if (replaceOnly)
        {
            return false;
        }
        var writer = new AtomicFileWriter(store.Fingerprint);
        writer.Write(new FileWriteRequest(path, Encoding.UTF8.GetBytes(content), FileMode, DirectoryMode, null, null, null));
        return true;
    }

    /// <summary>A <c>service.use</c> names the stored version that was used (the active one).</summary>
    public async Task AuditAsync(string action, string detail, CancellationToken cancellationToken)
    {
        var used = action == ServiceUse.AuditAction ? await store.GetActiveAsync(credential.Name, cancellationToken).ConfigureAwait(false) : null;
        await store.AppendAuditAsync(new AuditEvent(time.GetUtcNow(), actor, action, credential.Name, used?.Version, used?.Fingerprint, detail), cancellationToken).ConfigureAwait(false);
    }
}
