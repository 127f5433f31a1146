using System.Text;
using System.Text.Json;
using Keyward.Core.Errors;
using Keyward.Core.Manifest;
using Keyward.Core.Secrets;
using Keyward.Crypto.Tokens;

namespace Keyward.Engine.Minting;

/// <summary>Reads external tokens from their declared sources: a file, an environment variable, or one key of
/// a JSON map such as <c>{"github.com": "ghp_…"}</c>. Relative paths resolve against the manifest's directory.
/// JSON maps are read once per apply however many credentials use them.</summary>
public sealed class ExternalImporter(string manifestDirectory, Func<string, string?> getEnv, IReadOnlyList<string>? sopsIdentityFiles = null)
{
    private readonly Dictionary<string, Dictionary<string, string>> _maps = new(StringComparer.Ordinal);
    private readonly SopsSourceReader _sops = new(sopsIdentityFiles ?? [], getEnv);

    /// <summary>Null when the credential has no source (bootstrap-managed).</summary>
    public Secret? Read(ExternalCredential c)
    {
        switch (c.Source)
        {
            case null:
                return null;
            case EnvSource env:
                var v = getEnv(env.Variable);
                if (string.IsNullOrEmpty(v))
                    throw ErrorCodes.ExternalSourceMissing.At(env.Location,
                        $"credential '{c.Name}': environment variable {env.Variable} is not set",
                        $"export {env.Variable} before running keyward, or change the credential's source").AsException();
                return Secret.FromUtf8(v.Trim());
            case FileSource file:
                var path = Resolve(file.Path);
                if (!File.Exists(path))
                    throw ErrorCodes.ExternalSourceMissing.At(file.Location, $"credential '{c.Name}': source file {path} does not exist").AsException();
                var bytes = File.ReadAllBytes(path);
                var text = Encoding.UTF8.GetString(bytes).Trim();
                Array.Clear(bytes);
                if (text.Length == 0)
                    throw ErrorCodes.ExternalSourceMissing.At(file.Location, $"credential '{c.Name}': source file {path} is empty").AsException();
                return Secret.FromUtf8(text);
            case JsonMapSource map:
                var entries = LoadMap(map);
                if (!entries.TryGetValue(map.Key, out var token))
                    throw ErrorCodes.ExternalSourceMissing.At(map.Location,
                        $"credential '{c.Name}': key '{map.Key}' is not in {Resolve(map.Path)}",
                        $"add \"{map.Key}\": \"TOKEN\" to {map.Path} (it has keys: {string.Join(", ", entries.Keys.Order(StringComparer.Ordinal))}), or fix the credential's source key").AsException();
                if (string.IsNullOrWhiteSpace(token))
                    throw ErrorCodes.ExternalSourceMissing.At(map.Location,
                        $"credential '{c.Name}': key '{map.Key}' in {Resolve(map.Path)} is empty",
                        $"put the token as the value of \"{map.Key}\" in {map.Path} and run the command again; nothing was stored").AsException();
                return Secret.FromUtf8(token.Trim());
            case SopsSource sops:
                return _sops.Read(c, sops, Resolve(sops.Path));
            default:
                throw new ArgumentOutOfRangeException(nameof(c));
        }
    }

    /// <summary>Warnings when the token's recognisable format disagrees with the declared provider.</summary>
    public static IReadOnlyList<KeywardError> Recognise(ExternalCredential c, Secret value, out string detected)
    {
        var recognised = TokenRecognizer.Recognize(value);
        detected = recognised.Description;
        return TokenRecognizer.CheckDeclared(recognised, c.Provider)
            .Select(e => e with { Message = $"credential '{c.Name}': {e.Message}", Location = c.Location })
            .ToArray();
    }

    private string Resolve(string path) => Path.GetFullPath(path, manifestDirectory);

    private Dictionary<string, string> LoadMap(JsonMapSource map)
    {
        var path = Resolve(map.Path);
        if (_maps.TryGetValue(path, out var cached)) return cached;
        if (!File.Exists(path))
            throw ErrorCodes.ExternalSourceMissing.At(map.Location, $"JSON map {path} does not exist").AsException();
        // Says where the file is wrong (FILE:LINE:COLUMN), never what it holds.
        var parsed = JsonMapReader.Parse(File.ReadAllBytes(path), path, map.Location);
        _maps[path] = parsed;
        return parsed;
    }
}
