using System.Text.Json;

namespace Keyward.Cli.Tests.Rotation;

/// <summary>During a cache-key rollover every place that carries the key's public half — nix.conf's trusted-public-keys and
/// an env sink's ATTIC_PUBLIC_KEY alike — trusts the old and the new key; after the rollover, what rotation wrote is
/// byte-identical to what apply would write (no spurious drift).</summary>
public sealed class RolloverTrustTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("keyward-trust-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Rollover_EnvPublicKeyCarriesOldAndNew_AndAfterCommitPlanSeesNoDrift()
    {
        var manifest = Path.Combine(_dir, "keyward.yaml");
        File.WriteAllText(manifest, """
            apiVersion: keyward/v1
            credentials:
              cache-key:
                kind: nix-signing-key
                keyName: main-1
                owner: t
                purpose: signs the main cache
                rotation: { overlap: 30d, autoContinue: false }
            sinks:
              runner-nix-conf:
                path: /etc/nix/keyward.conf
                format: nix-conf
                mode: "0644"
                substituters: ["https://cache.example.org/main"]
                trustedPublicKeys: [cache-key]
              runner-env:
                path: /etc/ci/runner.env
                format: env
                mode: "0644"
                entries:
                  ATTIC_PUBLIC_KEY: { credential: cache-key, public: true }
            """);
        var root = Path.Combine(_dir, "root");
        var state = Path.Combine(_dir, "state");
        var cli = new CliHarness();
        Assert.Equal(0, (await cli.RunAsync("apply", "-f", manifest, "--root", root, "--state", state)).ExitCode);
        var env = Path.Combine(root, "etc/ci/runner.env");
        var conf = Path.Combine(root, "etc/nix/keyward.conf");
        Assert.StartsWith("ATTIC_PUBLIC_KEY=main-1:", File.ReadAllText(env), StringComparison.Ordinal);

        var phaseOne = await cli.RunAsync("rotate", "cache-key", "-f", manifest, "--root", root, "--state", state);
        Assert.True(phaseOne.ExitCode == 0, phaseOne.ToString());
        var envText = File.ReadAllText(env);
        Assert.Matches("^ATTIC_PUBLIC_KEY=\"main-1:[^ ]+ main-2:[^ ]+\"\n$", envText);
        Assert.Matches("trusted-public-keys = main-1:[^ ]+ main-2:[^ ]+\n", File.ReadAllText(conf));

        var phaseTwo = await cli.RunAsync("rotate", "--continue", "-f", manifest, "--root", root, "--state", state);
        Assert.True(phaseTwo.ExitCode == 0, phaseTwo.ToString());
        // Inside the 30-day overlap both keys stay trusted, oldest first, in both files.
        Assert.Matches("^ATTIC_PUBLIC_KEY=\"main-1:[^ ]+ main-2:[^ ]+\"\n$", File.ReadAllText(env));

        var plan = await cli.RunAsync("plan", "-f", manifest, "--root", root, "--state", state, "--json");
        using var doc = JsonDocument.Parse(plan.Out);
        foreach (var sink in doc.RootElement.GetProperty("sinks").EnumerateArray())
            Assert.True(sink.GetProperty("action").GetString() == "unchanged", $"{sink.GetProperty("name")}: {sink.GetProperty("reason")}");
        var check = await cli.RunAsync("check", "-f", manifest, "--root", root, "--state", state);
        Assert.DoesNotContain("FAIL sink/", check.Out, StringComparison.Ordinal);
    }
}
