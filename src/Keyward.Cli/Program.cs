namespace Keyward.Cli;

internal static class Program
{
    public static Task<int> Main(string[] args) => KeywardCli.RunAsync(args, CliConsole.System());
}
