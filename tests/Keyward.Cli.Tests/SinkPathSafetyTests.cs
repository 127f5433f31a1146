namespace Keyward.Cli.Tests;

/// <summary>apply --root never writes outside the root, whatever links the tree holds, and refuses unsafe modes before
/// anything is minted.</summary>
public sealed class SinkPathSafetyTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("keyward-paths-").FullName;
    private string Root => Path.Combine(_dir, "root");
    private string State => Path.Combine(_dir, "state");
    private string Manifest => Path.Combine(_dir, "keyward.yaml");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private const string Tokens = """
        apiVersion: keyward/v1
        credentials:
          github:
            kind: external
            provider: github
            host: github.com
            owner: test
            purpose: pat
            source: { env: KW_TEST_GITHUB_TOKEN }
        sinks:
          access-tokens:
            path: /etc/nix/access-tokens.conf
            format: nix-access-tokens
            tokens: [github]
          netrc:
            path: /etc/nix/netrc
            format: netrc
            tokens: [github]
        """;

    [Fact]
    public async Task Apply_UnderRoot_SymlinkedEtcNixPointingOutside_FailsWithKW0715AndWritesNothingOutside()
    {
        // The reproduction from the issue: ln -s $PWD/v R/etc/nix; keyward apply --root R
        File.WriteAllText(Manifest, Tokens);
        Directory.CreateDirectory(Path.Combine(Root, "etc"));
        var outside = Directory.CreateDirectory(Path.Combine(_dir, "v")).FullName;
        File.CreateSymbolicLink(Path.Combine(Root, "etc/nix"), outside);
        var cli = new CliHarness();
        var token = "ghp_" + new string('a', 36);
        cli.Env["KW_TEST_GITHUB_TOKEN"] = token;

        var r = await cli.RunAsync("apply", "-f", Manifest, "--root", Root, "--state", State);

        Assert.True(r.ExitCode == 1, r.ToString());
        Assert.Contains("KW0715", r.Out + r.Err, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFileSystemEntries(outside));
        Assert.DoesNotContain(token, r.Out + r.Err, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("mode: \"0622\"", "KW0214")]
    [InlineData("directoryMode: \"0777\"", "KW0228")]
    public async Task Plan_WorldWritableSecretSink_IsRefusedWithPosition(string setting, string code)
    {
        File.WriteAllText(Manifest, $$"""
            apiVersion: keyward/v1
            credentials:
              jwt: { kind: secret, owner: o, purpose: p }
            sinks:
              atticd-env:
                path: /run/keyward/atticd.env
                format: env
                entries: { ATTIC_SERVER_TOKEN_HS256_SECRET_BASE64: { credential: jwt, encoding: base64 } }
                {{setting}}
            """);
        var r = await new CliHarness().RunAsync("plan", "-f", Manifest, "--root", Root, "--state", State);
        Assert.True(r.ExitCode == 2, r.ToString());
        Assert.Contains(code, r.Out + r.Err, StringComparison.Ordinal);
        Assert.Contains("keyward.yaml:9:", r.Out + r.Err, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Root));
    }
}
