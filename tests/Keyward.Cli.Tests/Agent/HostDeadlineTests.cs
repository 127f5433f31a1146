namespace Keyward.Cli.Tests.Agent;

/// <summary><c>rotation.hostDeadline</c>: a credential's own wait for its hosts at a deliver step, which
/// <c>rotate --host-deadline</c> overrides. The host's agent never confirms here, so the wait is what decides the outcome.</summary>
public sealed class HostDeadlineTests : IDisposable
{
    private const string KeyA = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOsCyxd30V4V79+Eabrhe6xoLVHQcMm61Yb1xrwCeUem root@r1";
    private readonly string _dir = Directory.CreateTempSubdirectory("keyward-hostdeadline-").FullName;
    private readonly CliHarness _cli = new();
    private string Root => Path.Combine(_dir, "root");
    private string State => Path.Combine(_dir, "state");
    private string Manifest => Path.Combine(_dir, "keyward.yaml");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private void Write(string deadline) => File.WriteAllText(Manifest, $"""
        apiVersion: keyward/v1
        hosts:
          runner-1: {"{"} sshKey: "{KeyA}" {"}"}
        credentials:
          tok: {"{"} kind: secret, owner: o, purpose: p, rotation: {"{"} hostDeadline: {deadline} {"}"} {"}"}
        sinks:
          there: {"{"} format: raw, path: /run/k/there, credential: tok, host: runner-1 {"}"}
        """);

    private Task<CliResult> Rotate(params string[] extra) =>
        _cli.RunAsync(["rotate", "tok", "-f", Manifest, "--state", State, "--root", Root, .. extra]);

    private async Task ApplyAsync()
    {
        var apply = await _cli.RunAsync("apply", "-f", Manifest, "--state", State, "--root", Root);
        Assert.True(apply.ExitCode == 0, apply.ToString());
    }

    [Fact]
    public async Task ManifestDeadline_DecidesHowLongRotateWaits()
    {
        Write("0s");
        await ApplyAsync();
        var rotate = await Rotate();
        Assert.True(rotate.ExitCode == 1, rotate.ToString());
        Assert.Contains("KW0815", rotate.Err, StringComparison.Ordinal);
        Assert.Contains("runner-1 (there) did not confirm the new version within 0s", rotate.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task HostDeadlineOption_OverridesTheManifest()
    {
        Write("1h");
        await ApplyAsync();
        var rotate = await Rotate("--host-deadline", "0s");
        Assert.True(rotate.ExitCode == 1, rotate.ToString());
        Assert.Contains("did not confirm the new version within 0s", rotate.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DeadlineOverADay_IsBadInputWithItsLocation()
    {
        Write("2d");
        var rotate = await Rotate();
        Assert.True(rotate.ExitCode == 2, rotate.ToString());
        Assert.Contains("KW1306", rotate.Err, StringComparison.Ordinal);
        Assert.Contains("keyward.yaml:5:", rotate.Err, StringComparison.Ordinal);
    }
}
