namespace Keyward.Cli.Tests;

/// <summary>The command line builds only the command it names; the registry's names must be the commands' own, or that
/// shortcut would build the wrong command (or none).</summary>
public sealed class CommandRegistryTests
{
    private static CliContext Context() =>
        new(new CliConsole { Out = TextWriter.Null, Err = TextWriter.Null, StdIn = Stream.Null, StdOut = Stream.Null, GetEnv = _ => null });

    [Fact]
    public void EveryEntry_BuildsTheCommandOfItsName()
    {
        foreach (var (name, build) in CommandRegistry.Entries)
            Assert.Equal(name, build(Context()).Name);
        Assert.Equal(CommandRegistry.Entries.Count, CommandRegistry.Entries.Select(e => e.Name).Distinct(StringComparer.Ordinal).Count());
    }

    [Fact]
    public void Only_NamesOneCommand_ButNeverForTheTreeWalkers_OptionsOrTypos()
    {
        Assert.Equal("apply", CommandRegistry.Only(["apply", "-f", "x"])!(Context()).Name);
        Assert.Equal("operator-token", CommandRegistry.Only(["operator-token", "create"])!(Context()).Name);
        Assert.Null(CommandRegistry.Only(["completion", "bash"]));
        Assert.Null(CommandRegistry.Only(["man"]));
        Assert.Null(CommandRegistry.Only(["--state", "/tmp/x", "apply"]));
        Assert.Null(CommandRegistry.Only(["aply"]));
        Assert.Null(CommandRegistry.Only([]));
    }

    [Fact]
    public async Task VersionAlone_BuildsNoCommand_AndStillPrintsTheAssemblysVersion()
    {
        Assert.True(CommandRegistry.IsVersionOnly(["--version"]));
        Assert.False(CommandRegistry.IsVersionOnly(["--version", "--debug"]));
        Assert.False(CommandRegistry.IsVersionOnly(["apply", "--version"]));
        Assert.False(CommandRegistry.IsVersionOnly([]));
        var expected = typeof(KeywardCli).Assembly
            .GetCustomAttributes(typeof(System.Reflection.AssemblyInformationalVersionAttribute), false)
            .Cast<System.Reflection.AssemblyInformationalVersionAttribute>().Single().InformationalVersion;
        var output = new StringWriter();
        var console = new CliConsole { Out = output, Err = TextWriter.Null, StdIn = Stream.Null, StdOut = Stream.Null, GetEnv = _ => null };
        Assert.Equal(0, await KeywardCli.RunAsync(["--version"], console));
        Assert.Equal(expected, output.ToString().Trim());
    }

    [Fact]
    public async Task ATypo_StillGetsItsDidYouMean_AndAnOptionBeforeTheCommandStillWorks()
    {
        var err = new StringWriter();
        var console = new CliConsole { Out = TextWriter.Null, Err = err, StdIn = Stream.Null, StdOut = Stream.Null, GetEnv = _ => null };
        Assert.Equal(2, await KeywardCli.RunAsync(["aply"], console));
        Assert.Contains("apply", err.ToString(), StringComparison.Ordinal);
        var out2 = new StringWriter();
        var console2 = new CliConsole { Out = out2, Err = TextWriter.Null, StdIn = Stream.Null, StdOut = Stream.Null, GetEnv = _ => null };
        Assert.Equal(0, await KeywardCli.RunAsync(["--debug", "errors"], console2));
        Assert.Contains("KW", out2.ToString(), StringComparison.Ordinal);
    }
}
