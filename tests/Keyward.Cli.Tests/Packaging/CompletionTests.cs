using System.CommandLine;
using System.Text;

namespace Keyward.Cli.Tests.Packaging;

/// <summary>Shell completions and the man page (issue 14): they load in the real shells and man, and they hold every
/// command and option of the command tree, walked here independently of the generator, so a new command cannot be
/// forgotten in them.</summary>
public sealed class CompletionTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("keyward-completion-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>Every command path with its subcommand names and every spelling of its options (its own and its
    /// ancestors' recursive ones), straight from System.CommandLine.</summary>
    private static List<(string Path, string[] Subcommands, string[] Options)> Tree()
    {
        var root = KeywardCli.BuildRoot(new CliContext(new CliConsole { Out = TextWriter.Null, Err = TextWriter.Null, StdIn = Stream.Null, StdOut = Stream.Null, GetEnv = _ => null }));
        var list = new List<(string, string[], string[])>();
        void Visit(Command c, string path, Option[] inherited)
        {
            var options = c.Options.Concat(inherited).Where(o => !o.Hidden).Distinct()
                .SelectMany(o => o.Aliases.Prepend(o.Name)).Where(n => n.StartsWith('-')).Distinct().ToArray();
            list.Add((path, c.Subcommands.Where(s => !s.Hidden).Select(s => s.Name).ToArray(), options));
            var down = inherited.Concat(c.Options.Where(o => o.Recursive)).ToArray();
            foreach (var s in c.Subcommands.Where(s => !s.Hidden)) Visit(s, $"{path} {s.Name}", down);
        }
        Visit(root, "keyward", []);
        return list;
    }

    private async Task<string> Script(string shell)
    {
        var r = await new CliHarness().RunAsync("completion", shell);
        Assert.True(r.ExitCode == 0, r.ToString());
        var path = Path.Combine(_dir, shell == "zsh" ? "_keyward" : $"keyward.{shell}");
        await File.WriteAllTextAsync(path, r.Out, TestContext.Current.CancellationToken);
        return path;
    }

    private static string Q(string s) => "'" + s.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    [Fact]
    public async Task Bash_LoadsTheScript_AndCompleteShowsIt()
    {
        var script = await Script("bash");
        var r = await Tool.RunAsync("bash", ["--norc", "--noprofile", "-c", $"source {Q(script)} && complete -p keyward"]);
        Assert.True(r.ExitCode == 0 && r.Err.Length == 0, r.ToString());
        Assert.Contains("-F _keyward keyward", r.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Bash_CompletesEverySubcommandAndOptionOfTheCommandTree()
    {
        var script = await Script("bash");
        var tree = Tree();
        Assert.Contains(tree, n => n.Path == "keyward plan rotate");
        // One bash run: for every command path, complete "" (subcommands) and "-" (options) after it.
        var b = new StringBuilder($"source {Q(script)}\n");
        b.Append("t() { COMP_WORDS=(\"$@\"); COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 )); _keyward; printf '%s\\n' \"${COMPREPLY[*]}\"; }\n");
        foreach (var (path, subs, _) in tree)
        {
            var words = string.Join(' ', path.Split(' ').Select(Q));
            b.Append($"echo {Q("@" + path)}\n");
            if (subs.Length > 0) b.Append($"t {words} ''\n");
            else b.Append("echo\n");
            b.Append($"t {words} -\n");
        }
        var r = await Tool.RunAsync("bash", ["--norc", "--noprofile", "-s"], stdin: b.ToString(), workingDirectory: _dir);
        Assert.True(r.ExitCode == 0 && r.Err.Length == 0, r.ToString());
        var lines = r.Out.Split('\n');
        foreach (var (path, subs, options) in tree)
        {
            var at = Array.IndexOf(lines, "@" + path);
            Assert.True(at >= 0, $"no output for {path}\n{r.Out}");
            var offeredSubs = lines[at + 1].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            var offeredOptions = lines[at + 2].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            Assert.True(subs.Order().SequenceEqual(offeredSubs.Order()), $"`{path}` subcommands: tree has [{string.Join(' ', subs)}], bash offers [{lines[at + 1]}]");
            Assert.True(options.Order().SequenceEqual(offeredOptions.Order()), $"`{path}` options: tree has [{string.Join(' ', options)}], bash offers [{lines[at + 2]}]");
        }
    }

    [Fact]
    public async Task Bash_SkipsOptionValues_AndOffersFixedValues()
    {
        var script = await Script("bash");
        var r = await Tool.RunAsync("bash", ["--norc", "--noprofile", "-s"], workingDirectory: _dir, stdin: $$"""
            source {{Q(script)}}
            t() { COMP_WORDS=("$@"); COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 )); _keyward; printf '%s\n' "${COMPREPLY[*]}"; }
            t keyward --state plan plan ro
            t keyward graph --format m
            t keyward completion ''
            t keyward pl
            """);
        Assert.True(r.ExitCode == 0, r.ToString());
        // "--state plan": "plan" is the option's value, not the command; the second "plan" is.
        Assert.Equal(["rotate", "mermaid", "bash fish zsh", "plan"], r.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public async Task Zsh_ScriptParses_AndWalksTheTree()
    {
        var script = await Script("zsh");
        var syntax = await Tool.RunAsync("zsh", ["-n", script]);
        Assert.True(syntax.ExitCode == 0 && syntax.Err.Length == 0, syntax.ToString());
        // Outside a completion widget: stub the completion builtins and call the function with words/CURRENT set.
        var r = await Tool.RunAsync("zsh", ["-f", "-s"], workingDirectory: _dir, stdin: $$$"""
            compdef() { :; }
            source {{{Q(script)}}}
            _describe() { local -a arr; arr=("${(@P)4}"); print -r -- "${(j: :)${arr[@]%%:*}}"; }
            compadd() { print -r -- "${(j: :)reply}"; }
            _files() { print -r -- FILES; }
            t() { words=("$@"); CURRENT=${#words}; PREFIX=${words[CURRENT]}; _keyward; }
            t keyward --state x plan ''
            t keyward graph --format ''
            t keyward completion ''
            t keyward encrypt ''
            t keyward plan -
            """);
        Assert.True(r.ExitCode == 0 && r.Err.Length == 0, r.ToString());
        var lines = r.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("rotate exposed", lines[0]);
        Assert.Equal("dot json mermaid svg text", lines[1]);
        Assert.Equal("bash fish zsh", lines[2]);
        Assert.Equal("FILES", lines[3]);
        Assert.Contains("--detailed-exitcode", lines[4].Split(' '));
    }

    [Fact]
    public async Task Fish_ScriptParses_AndCompletesEveryCommandPath()
    {
        var script = await Script("fish");
        var syntax = await Tool.RunAsync("fish", ["-n", script]);
        Assert.True(syntax.ExitCode == 0 && syntax.Err.Length == 0, syntax.ToString());
        var tree = Tree().Where(n => n.Subcommands.Length > 0).ToArray();
        var b = new StringBuilder($"source {Q(script)}\n");
        foreach (var (path, _, _) in tree) b.Append($"echo {Q("@" + path)}\ncomplete -C {Q(path + " ")}\n");
        var r = await Tool.RunAsync("fish", ["--no-config", "-c", b.ToString()], workingDirectory: _dir, env: new Dictionary<string, string> { ["HOME"] = _dir });
        Assert.True(r.ExitCode == 0 && r.Err.Length == 0, r.ToString());
        var blocks = r.Out.Split('@', StringSplitOptions.RemoveEmptyEntries);
        foreach (var (path, subs, _) in tree)
        {
            var block = blocks.Single(x => x.StartsWith(path + "\n", StringComparison.Ordinal));
            var offered = block.Split('\n').Skip(1).Where(l => l.Length > 0).Select(l => l.Split('\t')[0]).ToArray();
            Assert.True(subs.Order().SequenceEqual(offered.Order()), $"`{path}`: tree has [{string.Join(' ', subs)}], fish offers [{string.Join(' ', offered)}]");
        }
    }

    [Fact]
    public async Task ManPage_RendersWithoutWarnings_AndDocumentsEveryCommand()
    {
        var page = Path.Combine(_dir, "keyward.1");
        var gen = await new CliHarness().RunAsync("man", "-o", page);
        Assert.True(gen.ExitCode == 0, gen.ToString());
        var groff = await Tool.RunAsync("groff", ["-man", "-Tutf8", "-ww", "-z", page]);
        Assert.True(groff.ExitCode == 0 && groff.Err.Length == 0, groff.ToString());
        var man = await Tool.RunAsync("man", ["--warnings", "-l", page], env: new Dictionary<string, string> { ["MANWIDTH"] = "80", ["MANPAGER"] = "cat", ["PAGER"] = "cat" });
        Assert.True(man.ExitCode == 0 && man.Err.Length == 0, man.ToString());
        var text = man.Out.Replace('\u2010', '-').Replace('\u2212', '-');
        Assert.Contains("KEYWARD(1)", text, StringComparison.Ordinal);
        foreach (var (path, _, options) in Tree())
        {
            if (path != "keyward") Assert.True(text.Contains(path, StringComparison.Ordinal), $"the man page does not describe `{path}`");
            foreach (var o in options.Where(o => o.StartsWith("--", StringComparison.Ordinal)))
                Assert.True(text.Contains(o, StringComparison.Ordinal), $"the man page does not list {o} (of `{path}`)");
        }
        Assert.Contains("--detailed-exitcode", text, StringComparison.Ordinal);
        Assert.Contains("EXIT STATUS", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Completion_UnknownShell_IsBadInput()
    {
        var r = await new CliHarness().RunAsync("completion", "powershell");
        Assert.True(r.ExitCode == 2, r.ToString());
    }
}
