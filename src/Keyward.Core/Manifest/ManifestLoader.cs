using Keyward.Core.Errors;
using Keyward.Core.Inputs;
using Keyward.Core.Manifest.Loading;
using Keyward.Core.Manifest.Yaml;

namespace Keyward.Core.Manifest;

/// <summary>The outcome of reading a manifest: the model (null when there is any error) and every
/// diagnostic, errors and warnings, in file order.</summary>
public sealed record ManifestLoadResult(KeywardManifest? Manifest, IReadOnlyList<Diagnostic> Diagnostics)
{
    public bool HasErrors { get; } = Diagnostics.Any(d => !d.IsWarning);

    public IEnumerable<KeywardError> Errors => Diagnostics.Where(d => !d.IsWarning).Select(d => d.Error);

    public IEnumerable<KeywardError> Warnings => Diagnostics.Where(d => d.IsWarning).Select(d => d.Error);

    /// <summary>The manifest, or a <see cref="KeywardException"/> carrying every error.</summary>
    public KeywardManifest OrThrow() =>
        Manifest is not null && !HasErrors ? Manifest : throw new KeywardException(Errors.ToList());
}

/// <summary>Writes a cache file of the manifest loader (<paramref name="path"/> in the state directory) atomically with
/// mode 0600; the CLI gives the one atomic writer of Keyward.Sinks. May throw IOException, UnauthorizedAccessException or
/// KeywardException: the cache is then simply not kept.</summary>
public delegate void ManifestCacheWriter(string path, byte[] content);

/// <summary>Reads keyward.yaml (manifest v1) into the model, reporting every problem at once with file:line:column.</summary>
public static class ManifestLoader
{
    /// <summary>Parses and validates manifest text. Pure: no I/O. <paramref name="fileName"/> is used in locations.</summary>
    public static ManifestLoadResult Parse(string text, string fileName) => Parse(text, fileName, null, null);

    /// <summary><see cref="Parse(string, string)"/> with the state directory <paramref name="cacheDirectory"/> as a cache:
    /// the validated model of a manifest that loaded with nothing to report (<see cref="ManifestModelCache"/>), else the
    /// YAML tree (<see cref="YamlTreeCache"/>). Either gives the same result as no cache. <paramref name="writeCache"/>
    /// (null: read only) keeps this text's model for the next run, writing the file it is given; when the model cannot be
    /// kept, or <paramref name="keepModel"/> is false, the tree is kept instead.</summary>
    public static ManifestLoadResult Parse(string text, string fileName, string? cacheDirectory, ManifestCacheWriter? writeCache, bool keepModel = true)
    {
        ArgumentNullException.ThrowIfNull(text);
        var modelKey = cacheDirectory is null || !keepModel ? null : ManifestModelCache.KeyOf(text, fileName);
        return Cached(cacheDirectory, modelKey, fileName) ?? Parse(text, fileName, cacheDirectory, writeCache, modelKey);
    }

    private static ManifestLoadResult? Cached(string? cacheDirectory, byte[]? modelKey, string fileName)
    {
        if (cacheDirectory is null || modelKey is null || ManifestModelCache.TryRead(cacheDirectory, modelKey, fileName) is not { } cached) return null;
        Diagnostics.PhaseTimings.Mark("manifest: cached model");
        return new ManifestLoadResult(cached, []);
    }

    /// <param name="modelKey">The text's key in <see cref="ManifestModelCache"/> (null: the model is not kept).</param>
    private static ManifestLoadResult Parse(string text, string fileName, string? cacheDirectory, ManifestCacheWriter? writeCache, byte[]? modelKey)
    {
        var problems = new Problems();
        var root = cacheDirectory is null ? null : YamlTreeCache.TryRead(cacheDirectory, text, fileName);
        var parsed = root is null;
        if (root is null) root = YamlTree.Parse(text, fileName, problems.List);
        var keepTree = parsed && root is not null && problems.List.Count == 0; // only a clean parse is kept
        Diagnostics.PhaseTimings.Mark("manifest: yaml tree");
        KeywardManifest? manifest = null;
        if (!problems.List.Any(d => d.Error.Code == ErrorCodes.ManifestSyntax || d.Error.Code == ErrorCodes.ManifestTooDeep))
            manifest = new ManifestReader(fileName, problems).Read(root);
        var diagnostics = problems.List
            .Select((d, i) => (d, i))
            .OrderBy(x => x.d.Error.Location?.Line ?? 0)
            .ThenBy(x => x.d.Error.Location?.Column ?? 0)
            .ThenBy(x => x.i)
            .Select(x => x.d)
            .ToList();
        var hasErrors = diagnostics.Any(d => !d.IsWarning);
        if (writeCache is not null && cacheDirectory is not null)
        {
            var keptModel = false;
            if (modelKey is not null && manifest is not null && diagnostics.Count == 0
                && ManifestModelCache.Encode(modelKey, manifest) is { } bytes)
            {
                try
                {
                    writeCache(Path.Combine(cacheDirectory, ManifestModelCache.FileName), bytes);
                    keptModel = true;
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException or KeywardException)
                {
                    // best effort: a cache that cannot be written is no cache
                }
            }
            // The tree serves a manifest whose model is not kept (one with warnings, say); with the model kept it would
            // only be read when the model file is damaged.
            if (!keptModel && keepTree && YamlTreeCache.Encode(text, fileName, root!) is { } tree)
            {
                try
                {
                    writeCache(Path.Combine(cacheDirectory, YamlTreeCache.FileName), tree);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException or KeywardException)
                {
                    // best effort, as above
                }
            }
        }
        return new ManifestLoadResult(hasErrors ? null : manifest, diagnostics);
    }

    /// <summary>Reads the file at <paramref name="path"/> (KW0003 if missing, KW0004 if unreadable, KW0010 if not a
    /// regular file, KW0011 if over <see cref="InputFile.MaxManifestBytes"/>), then <see cref="Parse"/>.</summary>
    public static ManifestLoadResult Load(string path) => Load(path, null, null);

    /// <summary><see cref="Load(string)"/> with the state directory as a cache (see
    /// <see cref="Parse(string, string, string?, ManifestCacheWriter?)"/>).</summary>
    public static ManifestLoadResult Load(string path, string? cacheDirectory, ManifestCacheWriter? writeCache)
    {
        var problem = InputFile.TryRead(path, InputFile.MaxManifestBytes, out var bytes, out var detail);
        var error = problem switch
        {
            InputFileProblem.None => null,
            InputFileProblem.Missing => ErrorCodes.FileNotFound.With($"manifest '{path}' does not exist", "pass the manifest with -f PATH"),
            InputFileProblem.NotRegular => ErrorCodes.InputNotRegularFile.With($"manifest '{path}' is {detail}"),
            InputFileProblem.TooLarge => ErrorCodes.InputTooLarge.With($"manifest '{path}' is too large ({detail})"),
            _ => ErrorCodes.FileUnreadable.With($"manifest '{path}' cannot be read: {detail}"),
        };
        if (error is not null) return new ManifestLoadResult(null, [Diagnostic.Fail(error)]);
        // The kept model is keyed by the file's bytes: an unchanged manifest is not even decoded.
        var modelKey = cacheDirectory is null ? null : ManifestModelCache.KeyOf(bytes, path);
        if (Cached(cacheDirectory, modelKey, path) is { } cached) return cached;
        // As File.ReadAllText: UTF-8 unless a byte order mark says otherwise, the mark itself dropped.
        using var reader = new StreamReader(new MemoryStream(bytes), System.Text.Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
        return Parse(reader.ReadToEnd(), path, cacheDirectory, writeCache, modelKey);
    }
}
