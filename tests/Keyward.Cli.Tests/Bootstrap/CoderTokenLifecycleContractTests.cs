using Keyward.Services.Tests.ContractServers;
using Microsoft.Extensions.Time.Testing;

namespace Keyward.Cli.Tests.Bootstrap;

/// <summary>The Coder admin token's whole life through the CLI against the stateful Coder contract server:
/// fresh → no-token → (pasted) valid → rotated → expiring-soon → rotated, with the audit log showing each step and no
/// token value anywhere in what Keyward prints or records.</summary>
public sealed class CoderTokenLifecycleContractTests : IAsyncDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("keyward-coder-").FullName;
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 23, 12, 0, 0, TimeSpan.Zero));
    private readonly CoderContractServer _coder = new() { HasFirstUser = false, MaxLifetimeNs = 30L * 24 * 3600 * 1_000_000_000 };
    private string Manifest => Path.Combine(_dir, "keyward.yaml");
    private string Root => Path.Combine(_dir, "root");
    private string State => Path.Combine(_dir, "state");
    private string SinkFile => Path.Combine(Root, "run/keyward/coder-token");

    public CoderTokenLifecycleContractTests()
    {
        _coder.Time = _time;
    }

    public async ValueTask DisposeAsync()
    {
        await _coder.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    private void WriteManifest(string source) => File.WriteAllText(Manifest, $$"""
        apiVersion: keyward/v1
        credentials:
          coder-admin-token:
            kind: external
            provider: coder
            owner: platform
            purpose: admin API token
            rotation: { maxAge: 30d }
        {{source}}
        sinks:
          coder-token:
            path: /run/keyward/coder-token
            format: raw
            mode: "0600"
            credential: coder-admin-token
        services:
          coder:
            kind: coder
            url: "{{_coder.Url.AbsoluteUri}}"
            token: coder-admin-token
        """);

    private CliHarness Cli() => new() { Time = _time };

    private Task<CliResult> Run(CliHarness cli, params string[] args) =>
        cli.RunAsync([.. args, "-f", Manifest, "--state", State, .. (args[0] is "bootstrap" or "apply" or "rotate" or "plan" ? new[] { "--root", Root } : [])]);

    [Fact]
    public async Task CoderToken_FreshNoTokenPastedValidRotatedExpiringSoonRotated_AuditedWithoutValues()
    {
        WriteManifest("    source: { file: ctok }");   // relative to the manifest (bug 4: crashed with KW0001)
        var cli = Cli();
        var tokenFile = Path.Combine(_dir, "ctok");

        var fresh = await Run(cli, "bootstrap", "coder", "coder");
        Assert.True(fresh.ExitCode != 0 && fresh.Err.Contains("KW1002", StringComparison.Ordinal), fresh.ToString());
        Assert.Contains("coder: unknown -> fresh", fresh.Out, StringComparison.Ordinal);
        Assert.Contains($"keyward bootstrap coder coder -f {Manifest}", File.ReadAllText(tokenFile), StringComparison.Ordinal);

        // Bug 2: apply imported the placeholder as a token and rendered it into the sink.
        var apply = await Run(cli, "apply");
        Assert.True(apply.ExitCode == 0, apply.ToString());
        Assert.DoesNotContain("imported coder-admin-token", apply.Out, StringComparison.Ordinal);
        Assert.False(File.Exists(SinkFile), "the placeholder must never reach a sink");
        Assert.Contains("keyward bootstrap coder coder", apply.Out, StringComparison.Ordinal);

        // A sink that waits for a bootstrap token: `check` points at bootstrap, not at apply (which cannot help).
        var checkFresh = await Run(cli, "check");
        Assert.Contains("run `keyward bootstrap coder coder`", checkFresh.Out, StringComparison.Ordinal);

        _coder.HasFirstUser = true;
        var noToken = await Run(cli, "bootstrap", "coder", "coder");
        Assert.Contains("coder: fresh -> no-token", noToken.Out, StringComparison.Ordinal);

        var pasted = _coder.NewToken(TimeSpan.FromDays(30), name: "pasted-by-a-human");
        File.WriteAllText(tokenFile, pasted + "\n");
        var valid = await Run(cli, "bootstrap", "coder", "coder");
        Assert.True(valid.ExitCode == 0, valid.ToString());
        Assert.Contains("coder: no-token -> valid", valid.Out, StringComparison.Ordinal);
        Assert.Equal(pasted, File.ReadAllText(SinkFile));

        var plan = await Run(cli, "plan");
        Assert.True(plan.ExitCode == 0, plan.ToString());
        Assert.DoesNotContain("import", plan.Out.Split('\n').Where(l => l.Contains("coder-admin-token", StringComparison.Ordinal)).FirstOrDefault() ?? "", StringComparison.Ordinal);

        // Bug 3: rotate said "committed" without calling Coder. Now: create with the current token, deliver, delete the old.
        var rotated = await Run(cli, "rotate", "coder-admin-token");
        Assert.True(rotated.ExitCode == 0, rotated.ToString());
        var first = File.ReadAllText(SinkFile);
        Assert.NotEqual(pasted, first);
        Assert.Contains(first, _coder.ValidTokens.Keys);
        Assert.DoesNotContain(pasted, _coder.ValidTokens.Keys);                 // the old token is deleted at Coder
        Assert.Equal([pasted[..10]], _coder.Deleted);
        Assert.Equal(30L * 24 * 3600 * 1_000_000_000, Assert.Single(_coder.CreatedLifetimes));

        // The source file still holds the pasted (now deleted) token: apply must not import it back.
        var afterRotate = await Run(cli, "apply");
        Assert.True(afterRotate.ExitCode == 0, afterRotate.ToString());
        Assert.Equal(first, File.ReadAllText(SinkFile));

        var check = await Run(cli, "check", "coder-admin-token");
        Assert.DoesNotContain("ExpiresSoon=True", check.Out.Replace(" ", "", StringComparison.Ordinal), StringComparison.Ordinal);

        _time.Advance(TimeSpan.FromDays(24));                                   // 6 days left of 30
        var soon = await Run(cli, "check", "coder-admin-token", "--json");
        Assert.Contains("\"ExpiresSoon\"", soon.Out, StringComparison.Ordinal);
        Assert.Contains("expires at 2026-12-23", soon.Out, StringComparison.Ordinal);

        // The policy renewal: inside the renew window (a third of the 30-day lifetime), apply rotates it through the API.
        var again = await Run(cli, "apply");
        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.True(again.Out.Contains("rotated what policy says is due: coder-admin-token (Committed)", StringComparison.Ordinal), again.ToString());
        var second = File.ReadAllText(SinkFile);
        Assert.NotEqual(first, second);
        Assert.Equal([pasted[..10], first[..10]], _coder.Deleted);

        var audit = await cli.RunAsync("audit", "--state", State);
        Assert.True(audit.ExitCode == 0, audit.ToString());
        foreach (var step in new[] { "bootstrap.fresh", "bootstrap.no-token", "bootstrap.store", "bootstrap.valid", "create", "rotate", "service.use", "retire" })
            Assert.Contains(step, audit.Out, StringComparison.Ordinal);
        // Each use of a stored token against Coder is there as service.use: bootstrap's, check's, both rotations' calls.
        var uses = audit.Out.Split('\n').Where(l => l.Contains("service.use", StringComparison.Ordinal)).ToArray();
        Assert.Contains(uses, l => l.Contains("coder: validate (GET /api/v2/users/me) (check) -> Valid", StringComparison.Ordinal));
        Assert.Equal(2, uses.Count(l => l.Contains("coder: POST /api/v2/users/me/keys/tokens", StringComparison.Ordinal) && l.Contains("-> created key", StringComparison.Ordinal)));
        Assert.Contains(uses, l => l.Contains($"coder: DELETE /api/v2/users/me/keys/{pasted[..10]} (the retired token) with the new token -> deleted", StringComparison.Ordinal));
        Assert.Contains(uses, l => l.Contains($"coder: DELETE /api/v2/users/me/keys/{first[..10]} (the retired token) with the new token -> deleted", StringComparison.Ordinal));
        var everything = cli.AllOutput.ToString();
        foreach (var token in new[] { pasted, first, second })
            Assert.DoesNotContain(token, everything, StringComparison.Ordinal);
        // Nor anywhere in the state directory (the store encrypts values; conditions, placeholders and heads hold none).
        foreach (var file in Directory.EnumerateFiles(State, "*", SearchOption.AllDirectories))
        {
            var bytes = System.Text.Encoding.Latin1.GetString(File.ReadAllBytes(file));
            foreach (var token in new[] { pasted, first, second })
                Assert.False(bytes.Contains(token, StringComparison.Ordinal), $"{file} holds a token value");
        }
    }
}
