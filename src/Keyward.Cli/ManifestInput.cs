using System.CommandLine;
using Keyward.Core.Errors;
using Keyward.Core.Manifest;

namespace Keyward.Cli;

/// <summary>Loads the manifest named by -f, prints every diagnostic (warnings too), and stops with exit 2 on errors.</summary>
internal static class ManifestInput
{
    /// <param name="cache">Keep the parsed YAML tree in the state directory for the next run (apply: a writer). Every
    /// command uses a tree kept there; see <c>YamlTreeCache</c>.</param>
    public static KeywardManifest Load(CliContext context, ParseResult parse, Option<string> file, bool cache = false)
    {
        var path = context.Console.ResolvePath(parse.GetValue(file) ?? "keyward.yaml");
        var result = ManifestLoader.Load(path, CacheDirectory(context, parse), writeCache: cache);
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
