using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Keyward.Core.Errors;
using Keyward.Core.Manifest;
using Keyward.Core.Secrets;
using Keyward.Crypto.Age;
using Keyward.Sinks;
using Keyward.Core.Store;

namespace Keyward.Engine.Agenix;

/// <summary>One exported file.</summary>
public sealed record AgenixExported(string Credential, string Path, IReadOnlyList<string> Recipients, int Version, string Fingerprint, bool Written);

/// <summary>A credential left out, and why (never an error: e.g. no recipients, no value yet).</summary>
public sealed record AgenixSkipped(string Credential, string Reason);

public sealed record AgenixExportReport(string Directory, IReadOnlyList<AgenixExported> Files, IReadOnlyList<AgenixSkipped> Skipped, string SecretsNixPath, bool SecretsNixWritten);

/// <summary>
/// <c>keyward export agenix DIR</c>: one <c>NAME.age</c> per credential with recipients, encrypted (with Keyward's own age
/// implementation) to those recipients with the credential's active value, and the <c>secrets.nix</c> that lists them,
/// so an agenix deployment can use Keyward's state as is. Files are written atomically. age encryption is randomised, so
/// to keep a re-export from rewriting every file (and every git diff), the store remembers a keyed stamp of what it wrote
/// (value fingerprint, recipients, armor, hash of the file) as a sink record named <c>agenix:PATH</c>: a file whose stamp
/// still matches is left alone.
/// </summary>
public sealed class AgenixExporter(ICredentialStore store, EngineOptions options)
{
    public const string SinkRecordPrefix = "agenix:";
    private const int FileMode = 0x1A4;       // 0644: age files are ciphertext, meant to be committed
    private const int DirectoryMode = 0x1ED;  // 0755

    /// <summary>Which credentials are exported to whom: the credentials that declare <c>recipients</c>; if none does,
    /// every credential, to the manifest's top-level <c>recipients</c>.</summary>
    public static IReadOnlyList<(Credential Credential, IReadOnlyList<string> Recipients)> Targets(KeywardManifest manifest, List<AgenixSkipped> skipped)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        ArgumentNullException.ThrowIfNull(skipped);
        var anyDeclares = manifest.Credentials.Any(c => c.Recipients.Count > 0);
        if (!anyDeclares && manifest.Recipients.Count == 0)
            throw ErrorCodes.AgenixNoRecipients.Exception($"no credential in {manifest.File} declares recipients, and the manifest has no top-level recipients");
        var result = new List<(Credential, IReadOnlyList<string>)>();
        foreach (var c in manifest.Credentials)
        {
            var recipients = anyDeclares ? c.Recipients : manifest.Recipients;
            if (recipients.Count == 0) skipped.Add(new AgenixSkipped(c.Name, "declares no recipients"));
            else result.Add((c, recipients));
        }
        return result;
    }

    public async Task<AgenixExportReport> ExportAsync(KeywardManifest manifest, string directory, bool armor, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        directory = Path.GetFullPath(directory);
        if (File.Exists(directory)) throw ErrorCodes.AgenixDirectory.Exception($"{directory} is a file, not a directory");

        var skipped = new List<AgenixSkipped>();
        var targets = Targets(manifest, skipped);
        // Parse every recipient first: a typo fails the export before anything is written.
        var parsed = new Dictionary<string, IReadOnlyList<IAgeRecipient>>(StringComparer.Ordinal);
        foreach (var (c, recipients) in targets)
            parsed[c.Name] = recipients.Select((r, i) => ParseRecipient(c.Name, i, r)).ToArray();

        var versions = await store.ListVersionsAsync(cancellationToken).ConfigureAwait(false);
        var active = versions.Where(v => v.State == VersionState.Active).ToDictionary(v => v.Name, StringComparer.Ordinal);
        var records = (await store.ListSinksAsync(cancellationToken).ConfigureAwait(false)).ToDictionary(s => s.Name, StringComparer.Ordinal);
        var names = targets.Select(t => t.Credential.Name).Where(active.ContainsKey).ToArray();
        var values = await store.RevealActiveAsync(names, cancellationToken).ConfigureAwait(false);
        var writer = new AtomicFileWriter(store.Fingerprint, w => options.Warn(ErrorCodes.AgenixDirectory.With(w)));
        var files = new List<AgenixExported>();
        var entries = new List<SecretsNixEntry>();
        try
        {
            foreach (var (c, recipients) in targets)
            {
                if (!active.TryGetValue(c.Name, out var version) || !values.TryGetValue(c.Name, out var value))
                {
                    skipped.Add(new AgenixSkipped(c.Name, "has no active value yet (run `keyward apply`)"));
                    continue;
                }
                var file = c.Name + ".age";
                var path = Path.Join(directory, file);
                var recordName = SinkRecordPrefix + path;
                var written = false;
                if (!(records.TryGetValue(recordName, out var record) && File.Exists(path) &&
                      Stamp(version.Fingerprint, recipients, armor, await File.ReadAllBytesAsync(path, cancellationToken).ConfigureAwait(false)) == record.ContentFingerprint))
                {
                    var content = AgeFile.EncryptBytes(value.Reveal(), parsed[c.Name], armor);
                    writer.Write(new FileWriteRequest(path, content, FileMode, DirectoryMode, null, null, null));
                    var now = options.Time.GetUtcNow();
                    await using (var tx = await store.BeginAsync(cancellationToken).ConfigureAwait(false))
                    {
                        await store.PutSinkAsync(new SinkRecord(recordName, path, Stamp(version.Fingerprint, recipients, armor, content), now), cancellationToken).ConfigureAwait(false);
                        await store.AppendAuditAsync(new AuditEvent(now, options.Actor, "export", c.Name, version.Version, version.Fingerprint,
                            $"agenix {path} to {recipients.Count} recipient{(recipients.Count == 1 ? "" : "s")}{(armor ? " (armored)" : "")}"), cancellationToken).ConfigureAwait(false);
                        await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
                    }
                    written = true;
                    options.Progress?.Invoke($"exported {c.Name} v{version.Version} to {path}");
                }
                files.Add(new AgenixExported(c.Name, path, recipients, version.Version, version.Fingerprint, written));
                entries.Add(new SecretsNixEntry(file, recipients, armor));
            }
        }
        finally
        {
            foreach (var v in values.Values) v.Dispose();
        }

        var rulesPath = Path.Join(directory, SecretsNix.FileName);
        var rules = Encoding.UTF8.GetBytes(SecretsNix.Render(entries));
        var outcome = writer.Write(new FileWriteRequest(rulesPath, rules, FileMode, DirectoryMode, null, null, null));
        return new AgenixExportReport(directory, files, skipped, rulesPath, outcome != FileWriteOutcome.Unchanged);
    }

    private static IAgeRecipient ParseRecipient(string credential, int index, string text)
    {
        try
        {
            return AgeKeys.ParseRecipient(text);
        }
        catch (KeywardException e)
        {
            throw e.First.Code.Exception($"credential '{credential}', recipient {index + 1}: {e.First.Message}", e.First.Hint);
        }
    }

    /// <summary>What was exported, as one keyed fingerprint: equal only for the same value, recipients, armor and file bytes.</summary>
    private string Stamp(string valueFingerprint, IReadOnlyList<string> recipients, bool armor, byte[] fileBytes)
    {
        var text = string.Join('\0', "keyward/agenix/v1", valueFingerprint, string.Join('\n', recipients),
            armor.ToString(CultureInfo.InvariantCulture), Convert.ToHexStringLower(SHA256.HashData(fileBytes)));
        return store.Fingerprint(Encoding.UTF8.GetBytes(text));
    }
}
