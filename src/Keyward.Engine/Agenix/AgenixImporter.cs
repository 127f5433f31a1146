using System.Text.RegularExpressions;
using Keyward.Core.Errors;
using Keyward.Core.Manifest;
using Keyward.Core.Secrets;
using Keyward.Crypto.Age;
using Keyward.Core.Store;

namespace Keyward.Engine.Agenix;

public enum AgenixImportAction
{
    /// <summary>Stored as a new active version.</summary>
    Imported,
    /// <summary>Equal (keyed fingerprint) to the active version: nothing stored.</summary>
    Unchanged,
    /// <summary>Left out (not declared, not a credential name, meant for another host).</summary>
    Skipped,
}

public sealed record AgenixImported(string File, string Credential, AgenixImportAction Action, string? Kind, int? Version, string? Fingerprint, string Reason);

/// <summary>A value checked in this run and about to be stored (signers for tokens imported alongside).</summary>
internal sealed record PendingValue(Secret Value, string Kind, int Version);

public sealed record AgenixImportReport(string Directory, IReadOnlyList<AgenixImported> Files);

/// <summary>
/// <c>keyward import agenix DIR -i IDENTITY…</c>: decrypts every <c>NAME.age</c> in DIR with the given age or ssh-ed25519
/// identities and stores each value as a new active version of credential NAME. Everything is decrypted and checked before
/// anything is stored, and all versions and audit entries are written in one transaction: an import stores all or nothing.
/// </summary>
public sealed partial class AgenixImporter(ICredentialStore store, EngineOptions options)
{
    /// <param name="manifest">When given, only the credentials it declares are imported, each checked against its kind.</param>
    /// <param name="skipForeign">Skip files none of the identities can open (agenix directories hold every host's secrets).</param>
    public async Task<AgenixImportReport> ImportAsync(string directory, IReadOnlyList<IAgeIdentity> identities, KeywardManifest? manifest, bool skipForeign, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(identities);
        directory = Path.GetFullPath(directory);
        if (!Directory.Exists(directory)) throw ErrorCodes.AgenixDirectory.Exception($"{directory} does not exist or is not a directory");
        var paths = Directory.GetFiles(directory, "*.age").Order(StringComparer.Ordinal).ToArray();
        if (paths.Length == 0) throw ErrorCodes.AgenixNothingToImport.Exception($"{directory} holds no *.age files");
        WarnAboutRules(directory, paths);

        var check = new ImportedValueCheck(store, options.Time);
        var results = new List<AgenixImported>();
        var toStore = new List<(AgenixImported Entry, Secret Value, CheckedValue Checked)>();
        try
        {
            // Tokens last: an imported token is verified with its signer, which may be imported in the same run.
            var ordered = new List<(string Path, bool Token)>();
            foreach (var path in paths)
            {
                var n = Path.GetFileName(path)[..^".age".Length];
                var kind = manifest?.FindCredential(n)?.Kind.Name()
                    ?? (NameRegex().IsMatch(n) ? (await store.GetActiveAsync(n, cancellationToken).ConfigureAwait(false))?.Kind : null);
                ordered.Add((path, kind == "attic-token"));
            }
            var pending = new Dictionary<string, PendingValue>(StringComparer.Ordinal);
            foreach (var path in ordered.OrderBy(o => o.Token).Select(o => o.Path))
            {
                var file = Path.GetFileName(path);
                var name = file[..^".age".Length];
                if (!NameRegex().IsMatch(name))
                {
                    results.Add(new(file, name, AgenixImportAction.Skipped, null, null, null, "not a credential name (lowercase letters, digits and '-')"));
                    continue;
                }
                var spec = manifest?.FindCredential(name);
                if (manifest is not null && spec is null)
                {
                    results.Add(new(file, name, AgenixImportAction.Skipped, null, null, null, $"not declared in {Path.GetFileName(manifest.File)}"));
                    continue;
                }
                var value = Decrypt(path, file, identities, skipForeign);
                if (value is null)
                {
                    results.Add(new(file, name, AgenixImportAction.Skipped, null, null, null, "encrypted to other recipients (--skip-foreign)"));
                    continue;
                }
                try
                {
                    var current = await store.GetActiveAsync(name, cancellationToken).ConfigureAwait(false);
                    var checkedValue = await check.CheckAsync(name, spec, current?.Kind, value, pending, cancellationToken).ConfigureAwait(false);
                    foreach (var w in checkedValue.Warnings) options.Warn(w);
                    var fingerprint = store.Fingerprint(value.Reveal());
                    if (current is not null && current.Fingerprint == fingerprint && current.Kind == checkedValue.Kind)
                    {
                        results.Add(new(file, name, AgenixImportAction.Unchanged, current.Kind, current.Version, fingerprint, $"version {current.Version} already holds this value"));
                        value.Dispose();
                        continue;
                    }
                    var entry = new AgenixImported(file, name, AgenixImportAction.Imported, checkedValue.Kind, null, fingerprint,
                        current is null ? "new credential" : $"differs from version {current.Version}");
                    results.Add(entry);
                    toStore.Add((entry, value, checkedValue));
                    pending[name] = new PendingValue(value, checkedValue.Kind, (current?.Version ?? 0) + 1);
                }
                catch
                {
                    value.Dispose();
                    throw;
                }
            }

            if (toStore.Count > 0)
            {
                var now = options.Time.GetUtcNow();
                await using var tx = await store.BeginAsync(cancellationToken).ConfigureAwait(false);
                foreach (var (entry, value, checkedValue) in toStore)
                {
                    var stored = await store.PutAsync(new NewVersion(entry.Credential, checkedValue.Kind, value, VersionState.Active, now,
                        checkedValue.ExpiresAt, "imported", checkedValue.Metadata), cancellationToken).ConfigureAwait(false);
                    await store.AppendAuditAsync(new AuditEvent(now, options.Actor, "import", entry.Credential, stored.Version, stored.Fingerprint,
                        $"agenix {Path.Join(directory, entry.File)}"), cancellationToken).ConfigureAwait(false);
                    results[results.IndexOf(entry)] = entry with { Version = stored.Version };
                    options.Progress?.Invoke($"imported {entry.Credential} v{stored.Version}");
                }
                await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            foreach (var (_, value, _) in toStore) value.Dispose();
        }
        return new AgenixImportReport(directory, results);
    }

    private static Secret? Decrypt(string path, string file, IReadOnlyList<IAgeIdentity> identities, bool skipForeign)
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw ErrorCodes.AgenixDecrypt.Exception($"{file} cannot be read: {IoErrorText.Describe(e)}");
        }
        try
        {
            return AgeFile.DecryptBytes(bytes, identities);
        }
        catch (KeywardException e) when (e.First.Code == ErrorCodes.AgeNoMatch && skipForeign)
        {
            return null;
        }
        catch (KeywardException e)
        {
            throw ErrorCodes.AgenixDecrypt.Exception($"{file}: {e.First.Message}", e.First.Code == ErrorCodes.AgeNoMatch ? null : e.First.Hint);
        }
    }

    private void WarnAboutRules(string directory, string[] paths)
    {
        var rules = Path.Join(directory, SecretsNix.FileName);
        if (!File.Exists(rules)) return;
        var present = paths.Select(Path.GetFileName).ToHashSet(StringComparer.Ordinal);
        foreach (var listed in SecretsNix.ListedFiles(File.ReadAllText(rules)))
            if (!present.Contains(Path.GetFileName(listed)))
                options.Warn(ErrorCodes.AgenixNothingToImport.With($"{SecretsNix.FileName} lists {listed}, which is not in {directory}", "nothing is imported for it"));
    }

    // The manifest's credential name rule (ManifestFields.NamePattern).
    [GeneratedRegex("^[a-z0-9][a-z0-9-]{0,62}$", RegexOptions.CultureInvariant)]
    private static partial Regex NameRegex();
}
