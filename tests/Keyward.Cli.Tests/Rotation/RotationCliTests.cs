using System.Text.Json;
using Microsoft.Data.Sqlite;

namespace Keyward.Cli.Tests.Rotation;

/// <summary>The rotation commands against the reference manifest (examples/homelab/keyward.yaml).</summary>
public sealed class RotationCliTests : IDisposable
{
    private static readonly string Manifest = Path.Combine(CliHarness.RepoRoot, "examples", "homelab", "keyward.yaml");
    private readonly string _dir = Directory.CreateTempSubdirectory("kw-rotation-cli-").FullName;
    private string State => Path.Combine(_dir, "state");
    private string Root => Path.Combine(_dir, "root");

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task PlanRotate_JwtSecret_ListsEveryTokenItSigned_AndSaysCachePublicKeyUnchanged()
    {
        var cli = new CliHarness();
        var r = await cli.RunAsync("plan", "rotate", "attic-jwt-secret", "-f", Manifest, "--state", State, "--json");
        Assert.True(r.ExitCode == 0, r.ToString());
        using var doc = JsonDocument.Parse(r.Out);
        var root = doc.RootElement;
        var rotation = root.GetProperty("rotations")[0];
        Assert.Equal("signing-secret", rotation.GetProperty("rule").GetString());
        var derived = rotation.GetProperty("derived").EnumerateArray().Select(e => e.GetString()!).ToHashSet();
        // Every attic-token in the example signed by attic-jwt-secret, read from the YAML itself.
        var tokens = TokensSignedBy("attic-jwt-secret");
        Assert.NotEmpty(tokens);
        Assert.Equal(tokens, derived);
        var steps = root.GetProperty("steps").EnumerateArray().ToList();
        foreach (var t in tokens)
            Assert.Contains(steps, s => s.GetProperty("action").GetString() == "re-mint" && s.GetProperty("target").GetString() == t);
        // Every sink carrying one of them (or the secret) is re-rendered.
        var rerendered = steps.Where(s => s.GetProperty("action").GetString() == "re-render").Select(s => s.GetProperty("target").GetString()).ToHashSet();
        Assert.Contains("atticd-env", rerendered);
        Assert.True(rerendered.Count >= tokens.Count - 1);
        Assert.Contains(root.GetProperty("unchanged").EnumerateArray(), u => u.GetString()!.Contains("cache public key", StringComparison.Ordinal) && u.GetString()!.EndsWith("is unchanged", StringComparison.Ordinal));
    }

    [Fact]
    public async Task PlanExposed_CiToken_ProposesThatTokenAlone()
    {
        var cli = new CliHarness();
        var r = await cli.RunAsync("plan", "exposed", "ci-push-token", "-f", Manifest, "--state", State);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("rotate ci-push-token\n", r.Out.Replace("\r", "", StringComparison.Ordinal), StringComparison.Ordinal);
        Assert.DoesNotContain("stage                credential attic-jwt-secret", r.Out, StringComparison.Ordinal);
        Assert.Contains("attic-jwt-secret is unchanged", r.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RotateSecret_ForLeakedToken_IsRefusedUnlessBroad()
    {
        var cli = new CliHarness();
        var r = await cli.RunAsync("plan", "rotate", "attic-jwt-secret", "--exposed", "ci-push-token", "-f", Manifest, "--state", State);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("error[KW0802]", r.Err, StringComparison.Ordinal);
        var broad = await cli.RunAsync("plan", "rotate", "attic-jwt-secret", "--exposed", "ci-push-token", "--broad", "-f", Manifest, "--state", State);
        Assert.True(broad.ExitCode == 0, broad.ToString());
    }

    [Fact]
    public async Task Graph_Focus_ShowsBlastRadiusOnly()
    {
        var cli = new CliHarness();
        var r = await cli.RunAsync("graph", "-f", Manifest, "--state", State, "--format", "json", "--focus", "ci-push-token");
        Assert.True(r.ExitCode == 0, r.ToString());
        using var doc = JsonDocument.Parse(r.Out);
        var names = doc.RootElement.GetProperty("nodes").EnumerateArray().Select(n => n.GetProperty("name").GetString()).ToHashSet();
        Assert.Contains("ci-push-token", names);
        Assert.Contains("attic-jwt-secret", names);
        Assert.DoesNotContain("attic-cache-key", names);
        var dot = await cli.RunAsync("graph", "-f", Manifest, "--state", State, "--format", "dot");
        Assert.StartsWith("digraph keyward {", dot.Out, StringComparison.Ordinal);
    }

    /// <summary>A small manifest without owners (the test host has no atticd user): one secret, one token, one sink.</summary>
    private string SmallManifest()
    {
        var path = Path.Combine(_dir, "keyward.yaml");
        File.WriteAllText(path, """
            apiVersion: keyward/v1
            credentials:
              jwt:
                kind: secret
                bytes: 32
                owner: test
                purpose: signs tokens
              ci:
                kind: attic-token
                signedBy: jwt
                subject: ci
                validity: 30d
                owner: test
                purpose: pushes
                caches: { main: [pull, push] }
            sinks:
              env:
                path: /run/test/test.env
                format: env
                mode: "0600"
                entries:
                  JWT: { credential: jwt, encoding: base64 }
                  TOKEN: { credential: ci }
            """);
        return path;
    }

    [Theory]
    [InlineData("UPDATE audit SET detail = 'edited' WHERE seq = 2;")]
    [InlineData("UPDATE audit SET fingerprint = 'fp-forged' WHERE seq = 1;")]
    [InlineData("DELETE FROM audit WHERE seq = 2;")]
    [InlineData("DELETE FROM audit WHERE seq = (SELECT MAX(seq) FROM audit);")]
    [InlineData("UPDATE audit SET seq = 100 WHERE seq = 1; UPDATE audit SET seq = 1 WHERE seq = 2; UPDATE audit SET seq = 2 WHERE seq = 100;")]
    public async Task AuditVerify_DetectsTampering(string sql)
    {
        var cli = new CliHarness();
        var apply = await cli.RunAsync("apply", "-f", SmallManifest(), "--root", Root, "--state", State, "--no-hooks");
        Assert.True(apply.ExitCode == 0, apply.ToString());
        var list = await cli.RunAsync("audit", "--state", State, "--json");
        Assert.True(list.ExitCode == 0, list.ToString());
        using (var doc = JsonDocument.Parse(list.Out)) Assert.True(doc.RootElement.GetArrayLength() >= 2, list.Out);
        var ok = await cli.RunAsync("audit", "verify", "--state", State);
        Assert.True(ok.ExitCode == 0, ok.ToString());

        using (var conn = new SqliteConnection($"Data Source={Path.Combine(State, "keyward.db")};Pooling=False"))
        {
            conn.Open();
            // An attacker with the file drops the append-only triggers first.
            var triggers = new List<string>();
            using (var q = conn.CreateCommand())
            {
                q.CommandText = "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit';";
                using var reader = q.ExecuteReader();
                while (reader.Read()) triggers.Add(reader.GetString(0));
            }
            foreach (var t in triggers)
            {
                using var drop = conn.CreateCommand();
                drop.CommandText = $"DROP TRIGGER \"{t}\";";
                drop.ExecuteNonQuery();
            }
            using var cmd = conn.CreateCommand();
            cmd.CommandText = sql;
            Assert.True(cmd.ExecuteNonQuery() >= 1);
        }
        var bad = await cli.RunAsync("audit", "verify", "--state", State);
        Assert.Equal(1, bad.ExitCode);
        Assert.Contains("error[KW0811]", bad.Err, StringComparison.Ordinal);
    }

    /// <summary>The review's reproduction: after a rotation, someone who can write keyward.db but holds no key flips the
    /// old (perhaps leaked) version back to active. Every command refuses the store instead of delivering that value.</summary>
    [Fact]
    public async Task RetiredVersionFlippedBackToActive_IsRefusedByApplyAndAuditVerify_AndTheSinkKeepsTheCurrentValue()
    {
        var cli = new CliHarness();
        var common = new[] { "-f", SmallManifest(), "--root", Root, "--state", State };
        Assert.Equal(0, (await cli.RunAsync(["apply", "--no-hooks", .. common])).ExitCode);
        var rotate = await cli.RunAsync(["rotate", "jwt", .. common]);
        Assert.True(rotate.ExitCode == 0, rotate.ToString());
        var env = Path.Combine(Root, "run/test/test.env");
        var delivered = File.ReadAllText(env);
        using (var conn = new SqliteConnection($"Data Source={Path.Combine(State, "keyward.db")};Pooling=False"))
        {
            conn.Open();
            using var cmd = conn.CreateCommand();
            cmd.CommandText = "UPDATE versions SET state = 'retired' WHERE name = 'jwt' AND state = 'active'; UPDATE versions SET state = 'active' WHERE name = 'jwt' AND version = 1;";
            Assert.True(cmd.ExecuteNonQuery() >= 2);
        }
        var apply = await cli.RunAsync(["apply", "--no-hooks", .. common]);
        Assert.Equal(1, apply.ExitCode);
        Assert.Contains("error[KW0310]", apply.Err, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", apply.Err, StringComparison.Ordinal);
        Assert.Equal(delivered, File.ReadAllText(env));
        var verify = await cli.RunAsync("audit", "verify", "--state", State);
        Assert.Equal(1, verify.ExitCode);
        Assert.Contains("error[KW0310]", verify.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Audit_Since_FiltersAndRejectsGarbage()
    {
        var cli = new CliHarness();
        Assert.Equal(0, (await cli.RunAsync("apply", "-f", SmallManifest(), "--root", Root, "--state", State, "--no-hooks")).ExitCode);
        var recent = await cli.RunAsync("audit", "--state", State, "--since", "1h");
        Assert.Contains("mint", recent.Out, StringComparison.Ordinal);
        var future = await cli.RunAsync("audit", "--state", State, "--since", "2999-01-01");
        Assert.Contains("no audit entries", future.Out, StringComparison.Ordinal);
        var garbage = await cli.RunAsync("audit", "--state", State, "--since", "yesterday-ish");
        Assert.Equal(2, garbage.ExitCode);
        Assert.Contains("KW0812", garbage.Err, StringComparison.Ordinal);
    }

    private static HashSet<string> TokensSignedBy(string signer)
    {
        // Minimal reading of the example: credential blocks with kind attic-token and signedBy SIGNER.
        var set = new HashSet<string>(StringComparer.Ordinal);
        string? current = null;
        var inCreds = false;
        string? kind = null, signedBy = null;
        void Flush() { if (current is not null && kind == "attic-token" && signedBy == signer) set.Add(current); }
        foreach (var raw in File.ReadAllLines(Manifest))
        {
            if (raw.StartsWith("credentials:", StringComparison.Ordinal)) { inCreds = true; continue; }
            if (inCreds && raw.Length > 0 && !char.IsWhiteSpace(raw[0]) && !raw.StartsWith('#')) { Flush(); current = null; inCreds = false; continue; }
            if (!inCreds) continue;
            if (raw.StartsWith("  ", StringComparison.Ordinal) && !raw.StartsWith("   ", StringComparison.Ordinal) && raw.TrimEnd().EndsWith(':'))
            {
                Flush();
                current = raw.Trim().TrimEnd(':');
                kind = signedBy = null;
                continue;
            }
            var t = raw.Trim();
            if (t.StartsWith("kind:", StringComparison.Ordinal)) kind = t["kind:".Length..].Trim();
            if (t.StartsWith("signedBy:", StringComparison.Ordinal)) signedBy = t["signedBy:".Length..].Trim();
        }
        Flush();
        return set;
    }
}
