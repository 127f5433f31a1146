using System.CommandLine;
using System.CommandLine.Completions;

namespace Keyward.Cli.Completion;

/// <summary>One option as completions and the man page show it: every spelling, whether it takes a value, and the
/// values it accepts when they are a fixed list (<c>graph --format</c>).</summary>
internal sealed record OptionInfo(IReadOnlyList<string> Names, string Description, bool TakesValue, string? ValueName, IReadOnlyList<string> Values)
{
    public IEnumerable<string> Long => Names.Where(n => n.StartsWith("--", StringComparison.Ordinal));
    public IEnumerable<string> Short => Names.Where(n => n.Length == 2 && n[0] == '-' && n[1] != '-');
}

/// <summary>One command (the root, a command, a subcommand) with its full path ("keyward plan rotate"), the options
/// that apply to it (its own and the recursive ones of its ancestors), its subcommands and its arguments.</summary>
internal sealed record CommandNode(string Path, string Name, string Description, IReadOnlyList<OptionInfo> Options,
    IReadOnlyList<(string Name, string Description)> Subcommands, IReadOnlyList<(string Name, string Description, bool Many, bool Optional)> Arguments)
{
    /// <summary>The fixed values the command's arguments accept (<c>completion bash|zsh|fish</c>); empty means file names.</summary>
    public IReadOnlyList<string> ArgumentValues { get; init; } = [];

    /// <summary>The command does something itself (`plan`), not only through its subcommands (`nix`).</summary>
    public bool Runnable { get; init; }
}

/// <summary>The command tree as completions and the man page see it, walked from the root System.CommandLine builds, so
/// a new command or option is in every script and the man page without anyone adding it there.</summary>
internal static class CommandTree
{
    public static IReadOnlyList<CommandNode> Walk(RootCommand root)
    {
        var nodes = new List<CommandNode>();
        Visit(root, "keyward", [], nodes);
        return nodes;
    }

    private static void Visit(Command command, string path, IReadOnlyList<Option> inherited, List<CommandNode> nodes)
    {
        var own = command.Options.Where(o => !o.Hidden).ToList();
        var all = own.Concat(inherited.Where(i => !own.Contains(i))).ToList();
        nodes.Add(new CommandNode(path, command.Name, OneLine(command.Description),
            all.Select(Describe).ToArray(),
            command.Subcommands.Where(c => !c.Hidden).Select(c => (c.Name, OneLine(c.Description))).ToArray(),
            command.Arguments.Where(a => !a.Hidden).Select(a => (a.Name, OneLine(a.Description), a.Arity.MaximumNumberOfValues > 1, a.Arity.MinimumNumberOfValues == 0)).ToArray())
        {
            Runnable = command.Action is not null,
            ArgumentValues = command.Arguments.Where(a => !a.Hidden).SelectMany(a => a.GetCompletions(CompletionContext.Empty).Select(c => c.Label)).Distinct(StringComparer.Ordinal).ToArray(),
        });
        var passDown = inherited.Concat(own.Where(o => o.Recursive)).Distinct().ToArray();
        foreach (var sub in command.Subcommands.Where(c => !c.Hidden))
            Visit(sub, $"{path} {sub.Name}", passDown, nodes);
    }

    private static OptionInfo Describe(Option o)
    {
        // "/h" and "/?" are Windows spellings of --help: not offered on a Unix shell.
        var names = o.Aliases.Prepend(o.Name).Where(n => n.StartsWith('-')).Distinct(StringComparer.Ordinal)
            .OrderBy(n => n.StartsWith("--", StringComparison.Ordinal) ? 0 : 1).ThenBy(n => n, StringComparer.Ordinal).ToArray();
        var flag = o.ValueType == typeof(bool) || o.Arity.MaximumNumberOfValues == 0;
        var values = flag ? [] : o.GetCompletions(CompletionContext.Empty).Select(c => c.Label).ToArray();
        var valueName = flag ? null : o.HelpName ?? o.Name.TrimStart('-');
        return new OptionInfo(names, OneLine(o.Description), !flag, valueName, values);
    }

    private static string OneLine(string? text) => (text ?? "").ReplaceLineEndings(" ").Trim();
}
