using System.Text.Json;
using Microsoft.Extensions.Time.Testing;

namespace Keyward.Cli.Tests;

/// <summary>apply and rotation policies: what is due is rotated through the journal, overlaps keep the old cache key
/// trusted, and an open rotation stops apply.</summary>
public sealed class ApplyPolicyTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("keyward-policy-").FullName;
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
    private string Root => Path.Combine(_dir, "root");
    private string State => Path.Combine(_dir, "state");
    private string Manifest => Path.Combine(_dir, "keyward.yaml");

    public ApplyPolicyTests() => File.WriteAllText(Manifest, """
        apiVersion: keyward/v1
        credentials:
          jwt:
            kind: secret
            bytes: 32
            owner: test
            purpose: signer
            rotation: { maxAge: 30d }
          ci:
            kind: attic-token
            signedBy: jwt
            subject: ci
            validity: 90d
            owner: test
            purpose: token
            caches: { main: [pull] }
          cache-key:
            kind: nix-signing-key
            keyName: main-1
            owner: test
            purpose: cache key
            rotation: { overlap: 7d, autoContinue: true }
        sinks:
          token:
            path: /srv/ci.token
            format: raw
            mode: "0600"
            credential: ci
          nixconf:
            path: /etc/nix/keyward.conf
            format: nix-conf
            mode: "0644"
            substituters: ["https://cache.example.org/main"]
            trustedPublicKeys: [cache-key]
        """);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private CliHarness Cli() => new() { Time = _time };

    private Task<CliResult> Apply(CliHarness cli, params string[] extra) =>
        cli.RunAsync(["apply", "-f", Manifest, "--root", Root, "--state", State, .. extra]);

    private async Task<Dictionary<string, int>> ActiveVersions(CliHarness cli)
    {
        var list = await cli.RunAsync("list", "--state", State, "--json");
        using var doc = JsonDocument.Parse(list.Out);
        return doc.RootElement.EnumerateArray().ToDictionary(e => e.GetProperty("name").GetString()!, e => e.GetProperty("version").GetInt32());
    }

    [Fact]
    public async Task Apply_AfterMaxAge_RotatesTheSecretAndReMintsItsTokens_ThenIsIdempotent()
    {
        var cli = Cli();
        Assert.Equal(0, (await Apply(cli)).ExitCode);
        var tokenBefore = File.ReadAllText(Path.Combine(Root, "srv/ci.token"));
        _time.Advance(TimeSpan.FromDays(31));

        var plan = await cli.RunAsync("plan", "-f", Manifest, "--root", Root, "--state", State);
        Assert.Contains("jwt", plan.Out, StringComparison.Ordinal);
        Assert.Contains("due:", plan.Out, StringComparison.Ordinal);

        var r = await Apply(cli);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("rotated what policy says is due: jwt", r.Out, StringComparison.Ordinal);
        var versions = await ActiveVersions(cli);
        Assert.Equal(2, versions["jwt"]);
        Assert.Equal(2, versions["ci"]);
        Assert.NotEqual(tokenBefore, File.ReadAllText(Path.Combine(Root, "srv/ci.token")));

        var again = await Apply(cli, "--json");
        using var doc = JsonDocument.Parse(again.Out);
        Assert.Equal(0, doc.RootElement.GetProperty("applied").GetProperty("filesWritten").GetInt32());
        Assert.Equal(0, doc.RootElement.GetProperty("applied").GetProperty("credentialsWritten").GetInt32());
    }

    [Fact]
    public async Task Apply_DuringOverlap_KeepsTheOldCacheKeyTrusted_AndDropsItAfterwards()
    {
        var cli = Cli();
        Assert.Equal(0, (await Apply(cli)).ExitCode);
        var conf = Path.Combine(Root, "etc/nix/keyward.conf");
        var oldKey = (await cli.RunAsync("get", "cache-key", "--public", "--state", State)).Out.Trim();
        var rotate = await cli.RunAsync("rotate", "cache-key", "-f", Manifest, "--root", Root, "--state", State);
        Assert.True(rotate.ExitCode == 0, rotate.ToString());
        var newKey = (await cli.RunAsync("get", "cache-key", "--public", "--state", State)).Out.Trim();
        Assert.NotEqual(oldKey, newKey);

        // Inside the overlap: apply keeps both keys (and so writes nothing).
        var during = await Apply(cli, "--json");
        Assert.True(during.ExitCode == 0, during.ToString());
        var text = File.ReadAllText(conf);
        Assert.Contains(oldKey.Split(':')[1], text, StringComparison.Ordinal);
        Assert.Contains(newKey.Split(':')[1], text, StringComparison.Ordinal);

        // After it: the old key leaves the trust list.
        _time.Advance(TimeSpan.FromDays(8));
        Assert.Equal(0, (await Apply(cli)).ExitCode);
        text = File.ReadAllText(conf);
        Assert.DoesNotContain(oldKey.Split(':')[1], text, StringComparison.Ordinal);
        Assert.Contains(newKey.Split(':')[1], text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Apply_WhileARotationIsOpen_RefusesWithAHint_AndAbortLetsItRun()
    {
        var cli = Cli();
        Assert.Equal(0, (await Apply(cli)).ExitCode);
        var crashing = new CliHarness { Time = _time, Faults = new FaultAt("step-2-before") };
        var crashed = await crashing.RunAsync("rotate", "jwt", "-f", Manifest, "--root", Root, "--state", State);
        Assert.NotEqual(0, crashed.ExitCode);

        var refused = await Apply(cli);
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains("KW0029", refused.Err, StringComparison.Ordinal);
        Assert.Contains("--abort", refused.Err, StringComparison.Ordinal);

        Assert.Equal(0, (await cli.RunAsync("rotate", "--abort", "-f", Manifest, "--root", Root, "--state", State)).ExitCode);
        Assert.Equal(0, (await Apply(cli)).ExitCode);
    }

    [Fact]
    public async Task Apply_RecipientAddedToTheManifest_RewrapsTheDataKeyForIt()
    {
        var cli = Cli();
        Assert.Equal(0, (await Apply(cli)).ExitCode);
        var operatorKey = Path.Combine(_dir, "operator.txt");
        var keygen = await cli.RunAsync("keygen", "-o", operatorKey);
        Assert.Equal(0, keygen.ExitCode);
        var recipient = File.ReadAllLines(operatorKey).First(l => l.StartsWith("# public key: ", StringComparison.Ordinal))["# public key: ".Length..];
        File.WriteAllText(Manifest, File.ReadAllText(Manifest).Replace("credentials:", $"recipients: [\"{recipient}\"]\ncredentials:", StringComparison.Ordinal));

        var r = await Apply(cli);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("re-wrapped to 2 recipients", r.Out, StringComparison.Ordinal);
        var list = await cli.RunAsync("store", "recipients", "--state", State);
        Assert.Contains(recipient, list.Out, StringComparison.Ordinal);
        Assert.DoesNotContain("re-wrapped", (await Apply(cli)).Out, StringComparison.Ordinal);
    }

    /// <summary>Throws at one crash point, as a killed process would stop there.</summary>
    private sealed class FaultAt(string point) : Engine.Rotation.IFaultInjector
    {
        public void At(string p)
        {
            if (p == point) throw new Engine.Rotation.InjectedFaultException(p);
        }
    }
}
