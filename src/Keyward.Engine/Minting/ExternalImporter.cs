using System.Text;
using System.Text.Json;
using Keyward.Core.Errors;
using Keyward.Core.Inputs;
using Keyward.Core.Manifest;
using Keyward.Core.Secrets;
using Keyward.Crypto.Tokens;
using Keyward.Services.Bootstrap;

namespace Keyward.Engine.Minting;

/// <summary>Reads external tokens from their declared sources: a file, an environment variable, or one key of
/// a JSON map such as <c>{"github.com": "ghp_…"}</c>. Relative paths resolve against the manifest's directory.
/// JSON maps are read once per apply however many credentials use them.</summary>
/// <param name="root">The <c>--root</c> prefix: an absolute source path is a path of the target system, so it is read
/// under the root — as sink paths are written, and as bootstrap writes its placeholders.</param>
public sealed class ExternalImporter(string manifestDirectory, Func<string, string?> getEnv, string? root = null, IReadOnlyList<string>? sopsIdentityFiles = null)
{
    private readonly Dictionary<string, Dictionary<string, string>> _maps = new(StringComparer.Ordinal);
    private readonly SopsSourceReader _sops = new(sopsIdentityFiles ?? [], getEnv);

    /// <summary>Null when the credential has no source, or its source file holds the bootstrap placeholder: a placeholder is
    /// never a value (never stored, imported or rendered); `keyward bootstrap` picks the token up once a person puts it there.</summary>
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
                var bytes = ReadSource(path, file.Location, $"credential '{c.Name}': source file {path}");
                var text = Encoding.UTF8.GetString(bytes).Trim();
                Array.Clear(bytes);
                if (text.Length == 0)
                    throw ErrorCodes.ExternalSourceMissing.At(file.Location, $"credential '{c.Name}': source file {path} is empty").AsException();
                if (Placeholder.IsPlaceholder(text)) return null;
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

    /// <summary>True when the credential's source file holds the bootstrap placeholder (a token is still to be placed).</summary>
    public bool HoldsPlaceholder(ExternalCredential c) =>
        c.Source is FileSource f && File.Exists(Resolve(f.Path)) && Placeholder.IsPlaceholder(File.ReadAllText(Resolve(f.Path)));

    private string Resolve(string path) =>
        root is not null && Path.IsPathRooted(path) ? Path.Join(root, path.TrimStart('/')) : Path.GetFullPath(path, manifestDirectory);

    private Dictionary<string, string> LoadMap(JsonMapSource map)
    {
        var path = Resolve(map.Path);
        if (_maps.TryGetValue(path, out var cached)) return cached;
        var bytes = ReadSource(path, map.Location, $"JSON map {path}");
        Dictionary<string, string> parsed;
        try
        {
            // Says where the file is wrong (FILE:LINE:COLUMN), never what it holds.
            parsed = JsonMapReader.Parse(bytes, path, map.Location);
        }
        finally
        {
            Array.Clear(bytes);
        }
        _maps[path] = parsed;
        return parsed;
    }

    /// <summary>Regular files only, at most <see cref="InputFile.MaxSourceBytes"/>: a FIFO, a device such as /dev/zero
    /// or a huge file is refused with a code and the manifest location instead of hanging or exhausting memory.</summary>
    private static byte[] ReadSource(string path, SourceLocation? at, string what)
    {
        var problem = InputFile.TryRead(path, InputFile.MaxSourceBytes, out var bytes, out var detail);
        return problem switch
        {
            InputFileProblem.None => bytes,
            InputFileProblem.Missing => throw ErrorCodes.ExternalSourceMissing.At(at, $"{what} does not exist").AsException(),
            InputFileProblem.NotRegular => throw ErrorCodes.InputNotRegularFile.At(at, $"{what} is {detail}").AsException(),
            InputFileProblem.TooLarge => throw ErrorCodes.InputTooLarge.At(at, $"{what} is too large ({detail})").AsException(),
            _ => throw ErrorCodes.ExternalSourceInvalid.At(at, $"{what} cannot be read: {detail}", "check the file's permissions").AsException(),
        };
    }
}
