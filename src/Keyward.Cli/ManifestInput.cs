using System.CommandLine;
using Keyward.Core.Errors;
using Keyward.Core.Manifest;

namespace Keyward.Cli;

/// <summary>Loads the manifest named by -f, prints every diagnostic (warnings too), and stops with exit 2 on errors.</summary>
internal static class ManifestInput
{
    public static KeywardManifest Load(CliContext context, ParseResult parse, Option<string> file)
    {
        var path = context.Console.ResolvePath(parse.GetValue(file) ?? "keyward.yaml");
        var result = ManifestLoader.Load(path);
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
}
