namespace Keyward.Cli.Tests;

/// <summary>Seed 003: a 1Password service-account token's structure is checked on import, before anything is stored.</summary>
public sealed class OnePasswordImportTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("keyward-op-").FullName;
    private string P(string name) => Path.Combine(_dir, name);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string Example() => File.ReadAllText(Path.Combine(CliHarness.RepoRoot, "examples", "homelab", "op-token")).Trim();

    private Task<CliResult> ApplyAsync(string token)
    {
        File.WriteAllText(P("op-token"), token);
        File.WriteAllText(P("keyward.yaml"), """
            apiVersion: keyward/v1
            credentials:
              onepassword-token: { kind: external, provider: onepassword, owner: ops, purpose: operator, source: { file: op-token } }
            """);
        return new CliHarness().RunAsync("apply", "-f", P("keyward.yaml"), "--state", P("s"), "--no-hooks");
    }

    [Fact]
    public async Task WellFormedToken_IsImported()
    {
        var r = await ApplyAsync(Example());
        Assert.True(r.ExitCode == 0, r.ToString());
    }

    [Fact]
    public async Task CutOffToken_IsRefused_SayingWhatToCopy_AndNothingIsStored()
    {
        var t = Example();
        var r = await ApplyAsync(t[..(t.Length * 2 / 3)]);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("KW0021", r.Err, StringComparison.Ordinal);
        Assert.Contains("not a 1Password service-account token", r.Err, StringComparison.Ordinal);
        Assert.Contains("copy the whole token", r.Err, StringComparison.Ordinal);
        Assert.DoesNotContain(t[4..30], r.Err + r.Out, StringComparison.Ordinal);
    }
}
