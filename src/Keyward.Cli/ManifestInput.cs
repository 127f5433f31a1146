using System.CommandLine;
using Keyward.Core.Errors;
using Keyward.Core.Manifest;

namespace Keyward.Cli;

/// <summary>Loads the manifest named by -f, prints every diagnostic (warnings too), and stops with exit 2 on errors.</summary>
internal static class ManifestInput
{
    /// <param name="cache">Keep the validated model (else the parsed YAML tree) in the state directory for the next run
    /// (apply: a writer). Every command uses what is kept there; see <c>ManifestModelCache</c> and <c>YamlTreeCache</c>.</param>
    public static KeywardManifest Load(CliContext context, ParseResult parse, Option<string> file, bool cache = false)
    {
        var path = context.Console.ResolvePath(parse.GetValue(file) ?? "keyward.yaml");
        var result = ManifestLoader.Load(path, CacheDirectory(context, parse), cache ? WriteCacheFile : null);
        var errors = new List<KeywardError>();
        foreach (var d in result.Diagnostics)
        {
            if (d.IsWarning) context.Warn(d.Error);
            else errors.Add(d.Error);
        }
        if (errors.Count > 0 || result.Manifest is null)
        {
            if (errors.Count == 0) errors.Add(ErrorCodes.ManifestInvalid.With($"{path} could not be loaded"));
            if (errors.Count == 1) throw new KeywardException(errors);
            // Like a compiler: every problem, then how many.
            throw new KeywardException([.. errors, ErrorCodes.ManifestInvalid.With($"{path}: {errors.Count} errors")]);
        }
        return result.Manifest;
    }

    /// <summary>Cache files go through the one atomic writer: a 0600 temporary file, fsynced, renamed into the state
    /// directory, never through a link.</summary>
    private static void WriteCacheFile(string path, byte[] content) =>
        Keyward.Sinks.Files.AtomicFile.Write(Path.GetFullPath(path), content, mode: 0x180);

    /// <summary>The state directory when it is initialised (never one created for the cache), else null.</summary>
    private static string? CacheDirectory(CliContext context, ParseResult parse)
    {
        try
        {
            var state = context.StateDirectory(parse);
            return Store.StateDirectory.IsInitialised(state) ? state : null;
        }
        catch (KeywardException)
        {
            return null; // no state directory to be had: the command says so itself if it needs one
        }
    }
}
