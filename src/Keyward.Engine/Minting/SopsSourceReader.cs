using Keyward.Core.Errors;
using Keyward.Core.Manifest;
using Keyward.Core.Secrets;
using Keyward.Crypto.Age;
using Keyward.Crypto.Sops;

namespace Keyward.Engine.Minting;

/// <summary>
/// Reads <c>source: { sops: FILE, key: KEY }</c>: decrypts the SOPS file (its MAC verified) with the host identity and,
/// as sops does, <c>$SOPS_AGE_KEY_FILE</c> and <c>$SOPS_AGE_KEY</c>. Each read decrypts the file anew and clears every other
/// value at once (a few credentials per file; age and AES-GCM are microseconds), so no decrypted file outlives the call.
/// </summary>
internal sealed class SopsSourceReader(IReadOnlyList<string> identityFiles, Func<string, string?> getEnv)
{
    public Secret Read(ExternalCredential c, SopsSource source, string path)
    {
        using var file = Open(source, path);
        var entry = file.Find(source.Key);
        if (entry is null || entry.Value.Length == 0)
            throw ErrorCodes.SopsKeyMissing.At(source.Location, $"credential '{c.Name}': key '{source.Key}' is {(entry is null ? "not in" : "empty in")} {path}",
                $"the file has keys: {string.Join(", ", file.Entries.Select(e => e.Key))}; set it with `sops set {source.Path} '[\"{source.Key.Replace("/", "\"][\"", StringComparison.Ordinal)}\"]' '\"VALUE\"'`").AsException();
        return Secret.FromUtf8(entry.Value.RevealString().Trim());
    }

    private SopsDecrypted Open(SopsSource source, string path)
    {
        if (!File.Exists(path))
            throw ErrorCodes.ExternalSourceMissing.At(source.Location, $"SOPS file {path} does not exist",
                $"create it with `sops --age age1… {source.Path}` (encrypted to this host's identity), or fix the source's path").AsException();
        var identities = Identities();
        try
        {
            return SopsFile.Decrypt(File.ReadAllBytes(path), identities);
        }
        catch (KeywardException e)
        {
            throw e.First.Code.At(source.Location, $"SOPS file {path}: {e.First.Message}", e.First.Hint).AsException();
        }
    }

    /// <summary>The host identity files that exist, then sops's own variables.</summary>
    public IReadOnlyList<IAgeIdentity> Identities()
    {
        var list = new List<IAgeIdentity>();
        var files = identityFiles.Where(File.Exists).ToList();
        if (getEnv("SOPS_AGE_KEY_FILE") is { Length: > 0 } keyFile) files.Add(keyFile);
        foreach (var f in files)
        {
            try { list.AddRange(AgeKeys.ParseIdentities(File.ReadAllText(f))); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw ErrorCodes.FileUnreadable.Exception($"identity file {f} cannot be read");
            }
            catch (KeywardException e) { throw e.First.Code.Exception($"identity file {f}: {e.First.Message}", e.First.Hint); }
        }
        if (getEnv("SOPS_AGE_KEY") is { Length: > 0 } keys)
        {
            try { list.AddRange(AgeKeys.ParseIdentities(keys)); }
            catch (KeywardException e) { throw e.First.Code.Exception($"$SOPS_AGE_KEY: {e.First.Message}", e.First.Hint); }
        }
        if (list.Count == 0)
            throw ErrorCodes.SopsNoAgeKey.Exception("no age identity to open SOPS files with",
                "initialise the state directory (its identity.txt is the host identity), or set SOPS_AGE_KEY_FILE");
        return list;
    }
}
