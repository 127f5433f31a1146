using System.Text.RegularExpressions;
using Keyward.Core.Errors;
using Keyward.Core.Manifest;
using Keyward.Core.Secrets;
using Keyward.Crypto.Age;
using Keyward.Crypto.Sops;
using Keyward.Engine.Agenix;
using Keyward.Core.Store;

namespace Keyward.Engine.Sops;

public enum SopsImportAction
{
    /// <summary>Stored as a new active version.</summary>
    Imported,
    /// <summary>Equal (keyed fingerprint) to the active version: nothing stored.</summary>
    Unchanged,
    /// <summary>Left out (not a credential, not declared).</summary>
    Skipped,
}

/// <summary>One key of the file and what became of it. <see cref="Credential"/> is null for a skipped key.</summary>
public sealed record SopsImported(string Key, string? Credential, SopsImportAction Action, string? Kind, int? Version, string? Fingerprint, string Reason);

public sealed record SopsImportReport(string File, IReadOnlyList<string> Recipients, IReadOnlyList<SopsImported> Keys);

/// <summary>
/// <c>keyward import sops FILE</c>: decrypts a SOPS file (YAML or JSON, age recipients), verifies its MAC, and stores the
/// values it names as new active versions. Which key is which credential: with a manifest, each credential whose
/// <c>source: { sops: FILE, key: KEY }</c> names this file takes KEY, and a key equal to a declared credential's name is
/// that credential; without one, every key that is a credential name. Every value is checked against its kind before
/// anything is stored, and all versions and audit entries are written in one transaction: all or nothing.
/// </summary>
public sealed partial class SopsImporter(ICredentialStore store, EngineOptions options)
{
    public async Task<SopsImportReport> ImportAsync(string file, IReadOnlyList<IAgeIdentity> identities, KeywardManifest? manifest, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(identities);
        file = Path.GetFullPath(file);
        byte[] bytes;
        try { bytes = await File.ReadAllBytesAsync(file, cancellationToken).ConfigureAwait(false); }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException) { throw ErrorCodes.FileNotFound.Exception($"SOPS file {file} does not exist"); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw ErrorCodes.FileUnreadable.Exception($"SOPS file {file} cannot be read"); }

        using var decrypted = Decrypt(file, bytes, identities);
        var targets = Targets(file, decrypted, manifest, out var results);
        if (targets.Count == 0)
            throw ErrorCodes.SopsNothingToImport.Exception($"none of the {decrypted.Entries.Count} keys of {file} is a credential" +
                (manifest is null ? "" : $" declared in {Path.GetFileName(manifest.File)}") + $" (keys: {string.Join(", ", decrypted.Entries.Select(e => e.Key))})");

        var check = new ImportedValueCheck(store, options.Time, "sops");
        var toStore = new List<(SopsImported Entry, Secret Value, CheckedValue Checked)>();
        var pending = new Dictionary<string, PendingValue>(StringComparer.Ordinal);
        try
        {
            // Tokens last: an imported token is verified with its signer, which may be imported in the same run.
            var ordered = new List<(SopsEntry Entry, string Name, Credential? Spec, string? StoredKind)>();
            foreach (var (entry, name) in targets)
            {
                var stored = (await store.GetActiveAsync(name, cancellationToken).ConfigureAwait(false))?.Kind;
                ordered.Add((entry, name, manifest?.FindCredential(name), stored));
            }
            var n = 0;
            foreach (var (entry, name, spec, storedKind) in ordered.OrderBy(o => (o.Spec?.Kind.Name() ?? o.StoredKind) == "attic-token"))
            {
                n++;
                var where = $"'{entry.Key}'";
                if (!entry.Encrypted)
                    options.Warn(ErrorCodes.SopsFormat.With($"{file}: key {where} is not encrypted (unencrypted_suffix/regex); it is imported as it is",
                        "keep credentials encrypted: rename the key so the file's unencrypted rules do not match it, and re-encrypt with sops"));
                var value = Decode(spec, entry.Value, storedKind == "secret" && spec is null ? await StoredLengthAsync(name, cancellationToken).ConfigureAwait(false) : null);
                try
                {
                    var current = await store.GetActiveAsync(name, cancellationToken).ConfigureAwait(false);
                    var checkedValue = await check.CheckAsync(name, spec, current?.Kind, value, pending, cancellationToken).ConfigureAwait(false);
                    foreach (var w in checkedValue.Warnings) options.Warn(w);
                    var fingerprint = store.Fingerprint(value.Reveal());
                    options.Progress?.Invoke($"[{n}/{ordered.Count}] checked {name} ({checkedValue.Kind}) from key {where}");
                    if (current is not null && current.Fingerprint == fingerprint && current.Kind == checkedValue.Kind)
                    {
                        results.Add(new(entry.Key, name, SopsImportAction.Unchanged, current.Kind, current.Version, fingerprint, $"version {current.Version} already holds this value"));
                        value.Dispose();
                        continue;
                    }
                    var imported = new SopsImported(entry.Key, name, SopsImportAction.Imported, checkedValue.Kind, null, fingerprint,
                        current is null ? "new credential" : $"differs from version {current.Version}");
                    results.Add(imported);
                    toStore.Add((imported, value, checkedValue));
                    pending[name] = new PendingValue(value, checkedValue.Kind, (current?.Version ?? 0) + 1);
                }
                catch (KeywardException e)
                {
                    value.Dispose();
                    throw e.First.Code.Exception($"{file}, key {where}: {e.First.Message}",
                        $"{e.First.Hint}; nothing was stored — fix the value with `sops edit {Path.GetFileName(file)}` and import again");
                }
            }

            if (toStore.Count > 0)
            {
                var now = options.Time.GetUtcNow();
                await using var tx = await store.BeginAsync(cancellationToken).ConfigureAwait(false);
                foreach (var (entry, value, checkedValue) in toStore)
                {
                    var stored = await store.PutAsync(new NewVersion(entry.Credential!, checkedValue.Kind, value, VersionState.Active, now,
                        checkedValue.ExpiresAt, "imported", checkedValue.Metadata), cancellationToken).ConfigureAwait(false);
                    await store.AppendAuditAsync(new AuditEvent(now, options.Actor, "import", entry.Credential!, stored.Version, stored.Fingerprint,
                        $"sops {file} key {entry.Key}"), cancellationToken).ConfigureAwait(false);
                    results[results.IndexOf(entry)] = entry with { Version = stored.Version };
                }
                await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
                options.Progress?.Invoke($"stored {toStore.Count} credential{(toStore.Count == 1 ? "" : "s")} from {file}");
            }
        }
        finally
        {
            foreach (var (_, value, _) in toStore) value.Dispose();
        }
        return new SopsImportReport(file, decrypted.Recipients, results);
    }

    private static SopsDecrypted Decrypt(string file, byte[] bytes, IReadOnlyList<IAgeIdentity> identities)
    {
        try { return SopsFile.Decrypt(bytes, identities); }
        catch (KeywardException e) { throw e.First.Code.Exception($"{file}: {e.First.Message}", e.First.Hint); }
    }

    /// <summary>Which entries are which credentials; the rest are reported as skipped.</summary>
    private static List<(SopsEntry Entry, string Name)> Targets(string file, SopsDecrypted decrypted, KeywardManifest? manifest, out List<SopsImported> skipped)
    {
        skipped = [];
        var bySource = new Dictionary<string, string>(StringComparer.Ordinal);
        if (manifest is not null)
        {
            var dir = Path.GetDirectoryName(Path.GetFullPath(manifest.File)) ?? ".";
            foreach (var c in manifest.Credentials.OfType<ExternalCredential>())
                if (c.Source is SopsSource s && Path.GetFullPath(s.Path, dir) == file) bySource[s.Key] = c.Name;
        }
        var targets = new List<(SopsEntry, string)>();
        var taken = new HashSet<string>(StringComparer.Ordinal);
        foreach (var entry in decrypted.Entries)
        {
            string? name = bySource.GetValueOrDefault(entry.Key);
            string reason = "";
            if (name is null)
            {
                if (!NameRegex().IsMatch(entry.Key)) reason = "not a credential name (lowercase letters, digits and '-'), and no credential's sops source names this key";
                else if (manifest is not null && manifest.FindCredential(entry.Key) is null) reason = $"not declared in {Path.GetFileName(manifest.File)}";
                else name = entry.Key;
            }
            if (name is not null && !taken.Add(name)) { reason = $"credential '{name}' is already imported from another key"; name = null; }
            if (name is null) skipped.Add(new SopsImported(entry.Key, null, SopsImportAction.Skipped, null, null, null, reason));
            else targets.Add((entry, name));
        }
        return targets;
    }

    private async Task<int?> StoredLengthAsync(string name, CancellationToken cancellationToken)
    {
        var current = await store.GetActiveAsync(name, cancellationToken).ConfigureAwait(false);
        if (current is null) return null;
        using var value = await store.RevealAsync(name, current.Version, cancellationToken).ConfigureAwait(false);
        return value.Length;
    }

    /// <summary>A <c>secret</c> is stored as its raw bytes; in a SOPS file (text) it is written in its declared encoding
    /// (base64 for raw), so a value of the wrong length that decodes to the declared length is taken decoded. Without a
    /// manifest the declared length is unknown: the stored value's length stands in for it (base64 or hex).</summary>
    private static Secret Decode(Credential? spec, Secret value, int? storedLength)
    {
        var (bytes, encoding) = spec switch
        {
            SecretCredential s => (s.Bytes, s.Encoding),
            _ when storedLength is { } n => (n, value.Length == 2 * n ? ValueEncoding.Hex : ValueEncoding.Base64),
            _ => (-1, ValueEncoding.Alphanumeric),
        };
        if (bytes < 0 || value.Length == bytes || encoding == ValueEncoding.Alphanumeric) return Secret.FromBytes(value.Reveal());
        var text = value.RevealString().Trim();
        byte[]? decoded = null;
        try
        {
            decoded = encoding switch
            {
                ValueEncoding.Hex => Convert.FromHexString(text),
                ValueEncoding.Base64Url => Convert.FromBase64String(text.Replace('-', '+').Replace('_', '/').PadRight(text.Length + (4 - text.Length % 4) % 4, '=')),
                _ => Convert.FromBase64String(text),
            };
        }
        catch (FormatException) { }
        return decoded is not null && decoded.Length == bytes ? Secret.Adopt(decoded) : Secret.FromBytes(value.Reveal());
    }

    // The manifest's credential name rule (ManifestFields.NamePattern).
    [GeneratedRegex("^[a-z0-9][a-z0-9-]{0,62}$", RegexOptions.CultureInvariant)]
    private static partial Regex NameRegex();
}
