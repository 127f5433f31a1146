using Keyward.Core.Manifest;
using Keyward.Core.Secrets;
using Keyward.Sinks.Files;
using Keyward.Store.Contract;

namespace Keyward.Services.Bootstrap;

/// <summary>
/// <see cref="IBootstrapStore"/> over the credential store. The token is read from the active version, else from the
/// credential's source file (where a human pastes it over the placeholder). A valid token becomes a new active
/// version with origin <c>bootstrap</c>, and the audit log records its fingerprint (never the value).
/// The placeholder goes to the source file when the credential has one, else to STATE/bootstrap/NAME.txt (0600).
/// </summary>
public sealed class StoreBootstrapStore(ICredentialStore store, ExternalCredential credential, string stateDirectory, TimeProvider time, string? root = null) : IBootstrapStore
{
    public string Credential => credential.Name;

    public string PlaceholderPath => credential.Source is FileSource f ? f.Path : Path.Combine(stateDirectory, "bootstrap", credential.Name + ".txt");

    private string Physical(string path) =>
        string.IsNullOrEmpty(root) || !path.StartsWith('/') || path.StartsWith(stateDirectory, StringComparison.Ordinal) ? path : Path.Join(root, path[1..]);

    public async Task<(Secret? Token, bool Stored)> CurrentAsync(CancellationToken cancellationToken)
    {
        var fromFile = ReadSourceFile();
        var active = await store.GetActiveAsync(credential.Name, cancellationToken).ConfigureAwait(false);
        if (active is not null)
        {
            // A token a human placed after the stored one went bad takes precedence over the stored one.
            if (fromFile is not null && store.Fingerprint(fromFile.Reveal()) != active.Fingerprint) return (fromFile, false);
            return (await store.RevealAsync(credential.Name, active.Version, cancellationToken).ConfigureAwait(false), true);
        }
        return (fromFile, false);
    }

    private Secret? ReadSourceFile()
    {
        if (credential.Source is not FileSource f) return null;
        var path = Physical(f.Path);
        if (!File.Exists(path)) return null;
        var text = File.ReadAllText(path).Trim();
        return text.Length == 0 || Placeholder.IsPlaceholder(text) ? null : Secret.FromUtf8(text);
    }

    public async Task StoreAsync(Secret token, TokenValidation validation, CancellationToken cancellationToken)
    {
        var fingerprint = store.Fingerprint(token.Reveal());
        var active = await store.GetActiveAsync(credential.Name, cancellationToken).ConfigureAwait(false);
        if (active is not null && active.Fingerprint == fingerprint) return;
        var meta = new Dictionary<string, string>(StringComparer.Ordinal) { ["provider"] = credential.Provider.Name() };
        if (validation.Subject is not null) meta["subject"] = validation.Subject;
        if (validation.Scopes is { Count: > 0 } s) meta["scopes"] = string.Join(",", s);
        var now = time.GetUtcNow();
        var v = await store.PutAsync(new NewVersion(credential.Name, CredentialKind.External.Name(), token, VersionState.Active, now,
            validation.ExpiresAt ?? credential.Expires, "bootstrap", meta), cancellationToken).ConfigureAwait(false);
        await store.AppendAuditAsync(new AuditEvent(now, "keyward bootstrap", "bootstrap.store", credential.Name, v.Version, v.Fingerprint,
            "validated against the service and stored as the active version"), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Atomically, 0600 from its first byte (the one writer: an unguessable temporary name, never a fixed one),
    /// missing directories made 0700; under --root no link below the root is followed. An identical placeholder is not
    /// rewritten (the machine writes it on every poll).</summary>
    public Task WritePlaceholderAsync(string content, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var path = Path.GetFullPath(Physical(PlaceholderPath));
        AtomicFile.WriteIfChanged(path, System.Text.Encoding.UTF8.GetBytes(content), mode: 0x180, directoryMode: 0x1C0,
            root: string.IsNullOrEmpty(root) ? null : Path.GetFullPath(root));
        return Task.CompletedTask;
    }

    public Task AuditAsync(string action, string detail, CancellationToken cancellationToken) =>
        store.AppendAuditAsync(new AuditEvent(time.GetUtcNow(), "keyward bootstrap", action, credential.Name, null, null, detail), cancellationToken);
}
