using System.CommandLine;
using System.CommandLine.Parsing;

namespace Keyward.Cli;

/// <summary>A typo'd command gets a suggestion: the closest subcommand name (edit distance at most a third of the word, at
/// least 1) of the command the parser reached, as a hint that names the full command line to type.</summary>
internal static class DidYouMean
{
    public static string? Hint(ParseResult parse, ParseError error)
    {
        var token = parse.UnmatchedTokens.FirstOrDefault(t => error.Message.Contains($"'{t}'", StringComparison.Ordinal));
        if (token is null || token.StartsWith('-')) return null;
        var command = parse.CommandResult.Command;
        var names = command.Subcommands.Where(c => !c.Hidden).SelectMany(c => c.Aliases.Prepend(c.Name)).ToArray();
        var best = names.Select(n => (Name: n, Distance: Distance(token, n))).OrderBy(x => x.Distance).ThenBy(x => x.Name, StringComparer.Ordinal).FirstOrDefault();
        if (best.Name is null || best.Distance > Math.Max(1, token.Length / 3)) return null;
        var path = new List<string>();
        for (var r = parse.CommandResult; r is not null; r = r.Parent as CommandResult)
            path.Insert(0, r.Parent is null ? "keyward" : r.Command.Name);
        var prefix = string.Join(' ', path);
        return $"did you mean `{prefix} {best.Name}`? (`{prefix} --help` lists the commands)";
    }

    /// <summary>Levenshtein distance (insertions, deletions, substitutions), case-insensitive.</summary>
    internal static int Distance(string a, string b)
    {
        a = a.ToLowerInvariant();
        b = b.ToLowerInvariant();
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++) previous[j] = j;
        for (var i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            (previous, current) = (current, previous);
        }
        return previous[b.Length];
    }
}
