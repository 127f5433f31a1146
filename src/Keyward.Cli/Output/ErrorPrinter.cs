using Keyward.Core.Errors;

namespace Keyward.Cli;

/// <summary>The one place that turns Keyward errors into text and exit codes for the CLI.</summary>
internal static class ErrorPrinter
{
    public static int Print(CliConsole console, KeywardException ex, bool debug)
    {
        foreach (var e in ex.Errors) Print(console.Err, e, warning: false);
        if (debug) console.Err.WriteLine(ex.ToString());
        return (int)ex.Kind;
    }

    public static void Print(TextWriter err, KeywardError e, bool warning)
    {
        var where = e.Location is null ? "" : $"{e.Location}: ";
        err.WriteLine($"keyward: {(warning ? "warning" : "error")}[{e.Code.Code}]: {where}{e.Message}");
        if (!string.IsNullOrEmpty(e.Hint)) err.WriteLine($"  hint: {e.Hint}");
    }

    public static void Print(TextWriter err, Diagnostic d) => Print(err, d.Error, d.IsWarning);
}
