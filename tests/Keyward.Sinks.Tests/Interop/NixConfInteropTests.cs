using Keyward.Core.Manifest;
using Keyward.Sinks.Tests.Support;
using static Keyward.Sinks.Tests.Support.Fixtures;

namespace Keyward.Sinks.Tests.Interop;

/// <summary>The real <c>nix show-config</c> reads Keyward's nix.conf fragment and its <c>!include</c> of the access-tokens file.</summary>
[Trait("Category", "Interop")]
public sealed class NixConfInteropTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private async Task<Dictionary<string, string>> ShowConfigAsync()
    {
        var nix = Tool.Require("nix", "nix-bin");
        var result = await Tool.RunAsync(nix, ["--extra-experimental-features", "nix-command", "show-config"], env: new Dictionary<string, string?>
        {
            ["NIX_CONF_DIR"] = _dir.Path, ["HOME"] = _dir.Path, ["XDG_CONFIG_HOME"] = _dir["xdg"], ["XDG_CONFIG_DIRS"] = _dir["xdg"],
            ["NIX_USER_CONF_FILES"] = null, ["NIX_CONFIG"] = null,
        });
        Assert.True(result.ExitCode == 0, $"nix show-config failed ({result.ExitCode}): {result.Stderr}");
        Assert.DoesNotContain("error", result.Stderr, StringComparison.OrdinalIgnoreCase);
        return result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split(" = ", 2)).Where(p => p.Length == 2).ToDictionary(p => p[0], p => p[1], StringComparer.Ordinal);
    }

    private void WriteNixConf(string includePath)
    {
        var sink = Sink(SinkFormat.NixConf, [], nixConf: new NixConfOptions(
            ["https://cache.example.org/main"],
            ["attic-cache-key", "cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY="],
            _dir["netrc"],
            [includePath]));
        File.WriteAllBytes(_dir["nix.conf"], SinkRenderer.Render(sink, Homelab()));
    }

    [Fact]
    public async Task ShowConfig_SeesAccessTokensAndTrustedKeys()
    {
        var tokens = Sink(SinkFormat.NixAccessTokens, [Entry("", "github-token"), Entry("", "gitlab-token"), Entry("git.example.org", "gitea-token")]);
        File.WriteAllBytes(_dir["access-tokens.conf"], SinkRenderer.Render(tokens, Homelab()));
        WriteNixConf(_dir["access-tokens.conf"]);

        var config = await ShowConfigAsync();

        var accessTokens = config["access-tokens"].Split(' ').ToHashSet(StringComparer.Ordinal);
        Assert.Equal(new HashSet<string>(StringComparer.Ordinal)
        {
            "github.com=" + GitHubToken, "gitlab.com=PAT:" + GitLabToken, "git.example.org=" + GiteaToken,
        }, accessTokens);
        Assert.Equal(new HashSet<string>(StringComparer.Ordinal) { NixPublicKey, "cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY=" },
            config["trusted-public-keys"].Split(' ').ToHashSet(StringComparer.Ordinal));
        Assert.Equal("https://cache.example.org/main", config["substituters"]);
        Assert.Equal(_dir["netrc"], config["netrc-file"]);
    }

    [Fact]
    public async Task ShowConfig_MissingInclude_IsTolerated()
    {
        WriteNixConf(_dir["not-there/access-tokens.conf"]);
        var config = await ShowConfigAsync();
        Assert.Equal("", config.GetValueOrDefault("access-tokens", ""));
        Assert.Contains(NixPublicKey, config["trusted-public-keys"], StringComparison.Ordinal);
    }
}
