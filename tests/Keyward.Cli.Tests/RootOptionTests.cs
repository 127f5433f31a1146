namespace Keyward.Cli.Tests;

/// <summary>`--root` means the same in every command: every absolute path of the target system — sink paths and absolute
/// source paths alike — is read and written under it; relative source paths stay relative to the manifest.</summary>
public sealed class RootOptionTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("keyward-rootopt-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task ApplyPlanCheck_UnderRoot_ReadAnAbsoluteSourceFromUnderTheRoot()
    {
        var root = Path.Combine(_dir, "root");
        Directory.CreateDirectory(Path.Combine(root, "persist"));
        // The example's fake service-account token: format-valid, opens nothing.
        var op = File.ReadAllText(Path.Combine(CliHarness.RepoRoot, "examples", "homelab", "op-token")).Trim();
        File.WriteAllText(Path.Combine(root, "persist", "op-token"), op + "\n");
        File.WriteAllText(Path.Combine(_dir, "gitea-token"), "0123456789abcdef0123456789abcdef01234567\n");
        var manifest = Path.Combine(_dir, "keyward.yaml");
        File.WriteAllText(manifest, """
            apiVersion: keyward/v1
            credentials:
              op: { kind: external, provider: onepassword, owner: t, purpose: operator token, source: { file: /persist/op-token } }
              gitea: { kind: external, provider: gitea, host: git.example.org, owner: t, purpose: git, source: { file: gitea-token } }
            sinks:
              op-token: { path: /etc/op/token, format: raw, mode: "0600", credential: op }
              gitea-token: { path: /etc/gitea/token, format: raw, mode: "0600", credential: gitea }
            """);
        var cli = new CliHarness();
        string[] common = ["-f", manifest, "--root", root, "--state", Path.Combine(_dir, "state")];
        var plan = await cli.RunAsync(["plan", .. common]);
        Assert.True(plan.ExitCode == 0, plan.ToString());
        Assert.Contains("import from file /persist/op-token", plan.Out, StringComparison.Ordinal);
        var apply = await cli.RunAsync(["apply", .. common]);
        Assert.True(apply.ExitCode == 0, apply.ToString());
        Assert.Equal(op, File.ReadAllText(Path.Combine(root, "etc/op/token")));
        Assert.Equal("0123456789abcdef0123456789abcdef01234567", File.ReadAllText(Path.Combine(root, "etc/gitea/token")));
        Assert.Contains("0 to create, 0 to update", (await cli.RunAsync(["plan", .. common])).Out, StringComparison.Ordinal);
    }
}
