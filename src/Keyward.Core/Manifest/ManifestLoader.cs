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

/// <summary>Reads keyward.yaml (manifest v1) into the model, reporting every problem at once with file:line:column.</summary>
public static class ManifestLoader
{
    /// <summary>Parses and validates manifest text. Pure: no I/O. <paramref name="fileName"/> is used in locations.</summary>
    public static ManifestLoadResult Parse(string text, string fileName) => Parse(text, fileName, null, false);

    /// <summary><see cref="Parse(string, string)"/> with the YAML tree cached in <paramref name="cacheDirectory"/> (a
    /// state directory; see <see cref="YamlTreeCache"/>): the same result, without the YAML parser when the text is
    /// the one read last time. Null: no cache. <paramref name="writeCache"/>: keep this text's tree for the next run.</summary>
    public static ManifestLoadResult Parse(string text, string fileName, string? cacheDirectory, bool writeCache)
    {
        ArgumentNullException.ThrowIfNull(text);
        var problems = new Problems();
        var root = cacheDirectory is null ? null : YamlTreeCache.TryRead(cacheDirectory, text, fileName);
        if (root is null)
        {
            root = YamlTree.Parse(text, fileName, problems.List);
            if (writeCache && cacheDirectory is not null && root is not null && problems.List.Count == 0) YamlTreeCache.Write(cacheDirectory, text, fileName, root);
        }
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
        return new ManifestLoadResult(hasErrors ? null : manifest, diagnostics);
    }

    /// <summary>Reads the file at <paramref name="path"/> (KW0003 if missing, KW0004 if unreadable, KW0010 if not a
    /// regular file, KW0011 if over <see cref="InputFile.MaxManifestBytes"/>), then <see cref="Parse"/>.</summary>
    public static ManifestLoadResult Load(string path) => Load(path, null, false);

    /// <summary><see cref="Load(string)"/> with the YAML tree cached in <paramref name="cacheDirectory"/> (see
    /// <see cref="Parse(string, string, string?, bool)"/>).</summary>
    public static ManifestLoadResult Load(string path, string? cacheDirectory, bool writeCache)
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
        // As File.ReadAllText: UTF-8 unless a byte order mark says otherwise, the mark itself dropped.
        using var reader = new StreamReader(new MemoryStream(bytes), System.Text.Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
        return Parse(reader.ReadToEnd(), path, cacheDirectory, writeCache);
    }
}
