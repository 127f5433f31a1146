using Keyward.Core.Manifest;
using Keyward.Sinks.Tests.Support;
using static Keyward.Sinks.Tests.Support.Fixtures;

namespace Keyward.Sinks.Tests.Interop;

/// <summary>The real <c>git credential fill</c> with <c>credential.helper 'store --file F'</c> reads Keyward's file.</summary>
[Trait("Category", "Interop")]
public sealed class GitCredentialsInteropTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private const string OddToken = "p@ss:w/rd?#&=+ ~%é\"'\\";
    private const string OddUser = "us er@corp:x";

    private string WriteFile()
    {
        var values = Homelab();
        values["odd"] = Resolved(External("odd", ExternalProvider.Generic, "odd.example.org"), OddToken);
        var sink = Sink(SinkFormat.GitCredentials, [
            Entry("", "github-token"), Entry("", "gitlab-token"), Entry("", "gitea-token"),
            Entry("", "odd", username: OddUser), Entry("git.example.org:8443", "odd", username: OddUser),
            Entry("scoped.example.org/org/repo.git", "gitea-token", username: "scoped"),
        ]);
        var path = _dir["git-credentials"];
        File.WriteAllBytes(path, SinkRenderer.Render(sink, values));
        return path;
    }

    private async Task<Dictionary<string, string>> FillAsync(string file, string request, params string[] extraConfig)
    {
        var git = Tool.Require("git", "git");
        string[] args = ["-c", "credential.helper=", "-c", $"credential.helper=store --file {file}", .. extraConfig, "credential", "fill"];
        var result = await Tool.RunAsync(git, args, request, new Dictionary<string, string?>
        {
            ["HOME"] = _dir.Path, ["XDG_CONFIG_HOME"] = _dir.Path, ["GIT_CONFIG_NOSYSTEM"] = "1",
            ["GIT_TERMINAL_PROMPT"] = "0", ["GIT_ASKPASS"] = "/bin/false", ["SSH_ASKPASS"] = null,
        });
        Assert.True(result.ExitCode == 0, $"git credential fill failed ({result.ExitCode}): {result.Stderr}");
        return result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split('=', 2)).ToDictionary(p => p[0], p => p[1], StringComparer.Ordinal);
    }

    [Theory]
    [InlineData("github.com", "x-access-token", GitHubToken)]
    [InlineData("gitlab.com", "oauth2", GitLabToken)]
    [InlineData("git.example.org", "deploy", GiteaToken)]
    [InlineData("odd.example.org", OddUser, OddToken)]
    [InlineData("git.example.org:8443", OddUser, OddToken)]
    public async Task Fill_ReturnsKeywardsTokenForEachHost(string host, string user, string token)
    {
        var file = WriteFile();
        var answer = await FillAsync(file, $"protocol=https\nhost={host}\n\n");
        Assert.Equal(user, answer["username"]);
        Assert.Equal(token, answer["password"]);
    }

    [Fact]
    public async Task Fill_WithUsername_MatchesThatLine()
    {
        var file = WriteFile();
        var answer = await FillAsync(file, $"protocol=https\nhost=git.example.org:8443\nusername={OddUser}\n\n");
        Assert.Equal(OddToken, answer["password"]);
    }

    [Fact]
    public async Task Fill_WithHttpPath_MatchesThePathLine()
    {
        var file = WriteFile();
        var answer = await FillAsync(file, "protocol=https\nhost=scoped.example.org\npath=org/repo.git\n\n", "-c", "credential.useHttpPath=true");
        Assert.Equal(("scoped", GiteaToken), (answer["username"], answer["password"]));
    }
}
