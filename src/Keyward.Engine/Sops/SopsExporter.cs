using System.Security.Cryptography;
using Keyward.Core.Errors;
using Keyward.Core.Manifest;
using Keyward.Core.Secrets;
using Keyward.Crypto.Age;
using Keyward.Crypto.Sops;
using Keyward.Sinks;
using Keyward.Core.Store;

namespace Keyward.Engine.Sops;

public sealed record SopsExported(string Credential, string Key, int Version, string Fingerprint);

public sealed record SopsExportReport(string File, IReadOnlyList<string> Recipients, IReadOnlyList<SopsExported> Keys, IReadOnlyList<string> Skipped, bool Written);

/// <summary>
/// <c>keyward export sops FILE</c>: writes the active values of the manifest's credentials (or the ones named) into one SOPS
/// file that <c>sops -d</c>, sops-nix and other SOPS tools decrypt. Each credential is the key of its name, or the key
/// of its own <c>source: { sops: FILE, key: KEY }</c> when that names this file. A <c>secret</c> is written in its declared
/// encoding (base64 for raw bytes), since SOPS values are text. SOPS encryption is randomised: when the file already holds
/// exactly these values for exactly these recipients (checked by decrypting it with <paramref name="identities"/>), it is
/// left alone, so a re-export does not churn git.
/// </summary>
public sealed class SopsExporter(ICredentialStore store, EngineOptions options)
{
    private const int FileMode = 0x1A4;       // 0644: SOPS files are ciphertext, meant to be committed
    private const int DirectoryMode = 0x1ED;  // 0755

    public async Task<SopsExportReport> ExportAsync(KeywardManifest manifest, string file, IReadOnlyList<string> names, IReadOnlyList<string> recipients,
        IReadOnlyList<IAgeIdentity> identities, bool? json, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        ArgumentNullException.ThrowIfNull(names);
        ArgumentNullException.ThrowIfNull(recipients);
        file = Path.GetFullPath(file);
        if (Directory.Exists(file)) throw ErrorCodes.SopsFormat.Exception($"{file} is a directory", "name the SOPS file to write, e.g. secrets/keyward.yaml");
        if (recipients.Count == 0) throw ErrorCodes.SopsNoRecipients.Exception($"no age recipients to encrypt {file} to");
        var asJson = json ?? file.EndsWith(".json", StringComparison.OrdinalIgnoreCase);
        var manifestDir = Path.GetDirectoryName(Path.GetFullPath(manifest.File)) ?? ".";

        IEnumerable<Credential> chosen = manifest.Credentials;
        if (names.Count > 0)
            chosen = names.Select(n => manifest.FindCredential(n) ?? throw ErrorCodes.UnknownCredential.Exception($"'{n}' is not declared in {manifest.File}"));
        var versions = await store.ListVersionsAsync(cancellationToken).ConfigureAwait(false);
        var active = versions.Where(v => v.State == VersionState.Active).ToDictionary(v => v.Name, StringComparer.Ordinal);
        var skipped = new List<string>();
        var list = new List<(Credential C, string Key, CredentialVersion V)>();
        foreach (var c in chosen)
        {
            if (!active.TryGetValue(c.Name, out var v)) { skipped.Add($"{c.Name}: no active value yet (run `keyward apply`)"); continue; }
            var key = c is ExternalCredential { Source: SopsSource s } && Path.GetFullPath(s.Path, manifestDir) == file ? s.Key : c.Name;
            list.Add((c, key, v));
        }
        if (list.Count == 0)
            throw ErrorCodes.NoValueYet.Exception($"nothing to export to {file}: {(skipped.Count == 0 ? "no credentials" : string.Join("; ", skipped))}");

        var revealed = await store.RevealActiveAsync(list.Select(l => l.C.Name), cancellationToken).ConfigureAwait(false);
        var values = new List<KeyValuePair<string, Secret>>();
        try
        {
            foreach (var (c, key, _) in list) values.Add(new(key, AsText(c, revealed[c.Name])));
            var written = false;
            if (!Unchanged(file, values, recipients, identities))
            {
                var content = SopsFile.Encrypt(values, recipients, options.Time.GetUtcNow(), asJson);
                var writer = new AtomicFileWriter(store.Fingerprint, w => options.Warn(ErrorCodes.SopsFormat.With(w)));
                writer.Write(new FileWriteRequest(file, content, FileMode, DirectoryMode, null, null, null));
                var now = options.Time.GetUtcNow();
                await using var tx = await store.BeginAsync(cancellationToken).ConfigureAwait(false);
                foreach (var (c, key, v) in list)
                    await store.AppendAuditAsync(new AuditEvent(now, options.Actor, "export", c.Name, v.Version, v.Fingerprint,
                        $"sops {file} key {key} to {recipients.Count} recipient{(recipients.Count == 1 ? "" : "s")}"), cancellationToken).ConfigureAwait(false);
                await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
                written = true;
                options.Progress?.Invoke($"exported {list.Count} credential{(list.Count == 1 ? "" : "s")} to {file}");
            }
            return new SopsExportReport(file, recipients, list.Select(l => new SopsExported(l.C.Name, l.Key, l.V.Version, l.V.Fingerprint)).ToArray(), skipped, written);
        }
        finally
        {
            foreach (var v in values) v.Value.Dispose();
            foreach (var v in revealed.Values) v.Dispose();
        }
    }

    /// <summary>True when <paramref name="file"/> exists, opens with the identities, and holds exactly these keys and values
    /// for exactly these recipients.</summary>
    private static bool Unchanged(string file, List<KeyValuePair<string, Secret>> values, IReadOnlyList<string> recipients, IReadOnlyList<IAgeIdentity> identities)
    {
        if (!File.Exists(file) || identities.Count == 0) return false;
        try
        {
            using var existing = SopsFile.Decrypt(File.ReadAllBytes(file), identities);
            if (!existing.Recipients.Order(StringComparer.Ordinal).SequenceEqual(recipients.Order(StringComparer.Ordinal))) return false;
            if (existing.Entries.Count != values.Count) return false;
            for (var i = 0; i < values.Count; i++)
            {
                var e = existing.Entries[i];
                if (e.Key != values[i].Key || e.Type != "str" || !CryptographicOperations.FixedTimeEquals(e.Value.Reveal(), values[i].Value.Reveal())) return false;
            }
            return true;
        }
        catch (KeywardException)
        {
            return false; // unreadable or foreign: rewrite it
        }
    }

    /// <summary>The text a SOPS value holds for the credential (SOPS values are strings).</summary>
    internal static Secret AsText(Credential c, Secret value)
    {
        if (c is not SecretCredential s || s.Encoding == ValueEncoding.Alphanumeric) return Secret.FromBytes(value.Reveal());
        var raw = value.Reveal();
        return Secret.FromUtf8(s.Encoding switch
        {
            ValueEncoding.Hex => Convert.ToHexStringLower(raw),
            ValueEncoding.Base64Url => Convert.ToBase64String(raw).TrimEnd('=').Replace('+', '-').Replace('/', '_'),
            _ => Convert.ToBase64String(raw),
        });
    }
}
