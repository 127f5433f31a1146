namespace Keyward.Cli.Tests.Packaging;

/// <summary>The dotnet tool (issue 14): `dotnet pack -p:PackAsTool=true` makes a package whose command is `keyward`,
/// and it installs and runs. Slow (a Release build of every project: 8 minutes on the busy CI box), so it runs only with
/// KEYWARD_SLOW_TESTS=1.</summary>
public sealed class DotnetToolTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("keyward-tool-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    [Trait("Category", "Slow")]
    public async Task PackedTool_InstallsIntoAToolPath_AndRunsAsKeyward()
    {
        if (Environment.GetEnvironmentVariable("KEYWARD_SLOW_TESTS") != "1")
        {
            Assert.Skip("slow: set KEYWARD_SLOW_TESTS=1 to pack, install and run the dotnet tool");
            return;
        }
        var nupkg = Path.Combine(_dir, "nupkg");
        var pack = await Tool.RunAsync("dotnet", ["pack", Path.Combine(CliHarness.RepoRoot, "src", "Keyward.Cli"), "-c", "Release", "-p:PackAsTool=true",
            "-o", nupkg, "-nologo", "-v", "quiet"], timeout: TimeSpan.FromMinutes(30));
        Assert.True(pack.ExitCode == 0, pack.ToString());
        Assert.Single(Directory.GetFiles(nupkg, "Keyward.Tool.*.nupkg"));

        var bin = Path.Combine(_dir, "bin");
        var install = await Tool.RunAsync("dotnet", ["tool", "install", "Keyward.Tool", "--tool-path", bin, "--add-source", nupkg, "--version", "0.1.0"],
            env: new Dictionary<string, string> { ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1", ["DOTNET_NOLOGO"] = "1" }, timeout: TimeSpan.FromMinutes(10));
        Assert.True(install.ExitCode == 0, install.ToString());
        var version = await Tool.RunAsync(Path.Combine(bin, "keyward"), ["--version"]);
        Assert.True(version.ExitCode == 0, version.ToString());
        Assert.StartsWith("0.1.0", version.Out.Trim(), StringComparison.Ordinal);
    }
}
