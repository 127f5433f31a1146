using System.Text;
using System.Text.Json;
using Microsoft.Data.Sqlite;

namespace Keyward.Cli.Tests;

/// <summary>
/// Planning a manifest with many sink credentials decrypts their active values on a second core while it decides the
/// credentials' changes, for every credential a sink carries. A value that does not decrypt must still matter only when
/// planning compares a sink with it: a token that is being re-minted anyway is never read, and does not fail the plan;
/// an unchanged credential's value that does not decrypt fails it with KW0310, naming that credential.
/// </summary>
public sealed class PlanEarlyRevealTests : IDisposable
{
    private const int Secrets = 300; // above the early reveal's threshold
    private readonly string _dir = Directory.CreateTempSubdirectory("kw-early-reveal-").FullName;
    private string State => Path.Combine(_dir, "state");
    private string Root => Path.Combine(_dir, "root");

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    private string Manifest(string subject)
    {
        var yaml = new StringBuilder("apiVersion: keyward/v1\ncredentials:\n");
        yaml.Append("  signer: { kind: secret, bytes: 32, owner: test, purpose: signs tokens }\n");
        yaml.Append($"  tok: {{ kind: attic-token, signedBy: signer, subject: {subject}, validity: 30d, owner: test, purpose: pushes, caches: {{ main: [pull, push] }} }}\n");
        for (var i = 0; i < Secrets; i++) yaml.Append($"  s{i}: {{ kind: secret, bytes: 16, owner: test, purpose: bulk }}\n");
        yaml.Append("sinks:\n");
        yaml.Append("  tok:\n    path: /run/t/tok.env\n    format: env\n    mode: \"0600\"\n    entries:\n      TOKEN: { credential: tok }\n");
        for (var i = 0; i < Secrets; i++)
            yaml.Append($"  s{i}:\n    path: /run/t/s{i}.env\n    format: env\n    mode: \"0600\"\n    entries:\n      VALUE: {{ credential: s{i}, encoding: base64 }}\n");
        var path = Path.Combine(_dir, "keyward.yaml");
        File.WriteAllText(path, yaml.ToString());
        return path;
    }

    private void Corrupt(string name)
    {
        using var conn = new SqliteConnection($"Data Source={Path.Combine(State, "keyward.db")};Pooling=False");
        conn.Open();
        using var cmd = conn.CreateCommand();
        // The ciphertext is not under the state seal (its AEAD tag covers it): only decrypting it can tell.
        cmd.CommandText = "UPDATE versions SET ciphertext = zeroblob(length(ciphertext)) WHERE name = $name AND state = 'active';";
        cmd.Parameters.AddWithValue("$name", name);
        Assert.Equal(1, cmd.ExecuteNonQuery());
    }

    [Fact]
    public async Task AnUndecryptableValue_FailsThePlanOnlyWhenASinkIsComparedWithIt()
    {
        var cli = new CliHarness();
        var apply = await cli.RunAsync("apply", "--no-hooks", "-f", Manifest("ci"), "--root", Root, "--state", State);
        Assert.True(apply.ExitCode == 0, apply.ToString());

        // The token's claims change, so it is re-minted: its stored value is never compared with its sink.
        Corrupt("tok");
        var plan = await cli.RunAsync("plan", "-f", Manifest("ci-renamed"), "--root", Root, "--state", State, "--json");
        Assert.True(plan.ExitCode == 0, plan.ToString());
        using (var doc = JsonDocument.Parse(plan.Out))
        {
            var actions = doc.RootElement.GetProperty("credentials").EnumerateArray()
                .ToDictionary(c => c.GetProperty("name").GetString()!, c => c.GetProperty("action").GetString());
            Assert.Equal("update", actions["tok"]);
            Assert.Equal(Secrets + 1, actions.Values.Count(a => a == "unchanged"));
            var sinks = doc.RootElement.GetProperty("sinks").EnumerateArray()
                .ToDictionary(s => s.GetProperty("name").GetString()!, s => s.GetProperty("action").GetString());
            Assert.Equal("update", sinks["tok"]);
            Assert.Equal(Secrets, sinks.Values.Count(a => a == "unchanged"));
        }

        // An unchanged credential's value is compared with its sink: the same plan now fails, naming it.
        Corrupt("s123");
        var failed = await cli.RunAsync("plan", "-f", Manifest("ci-renamed"), "--root", Root, "--state", State);
        Assert.Equal(1, failed.ExitCode);
        Assert.Contains("error[KW0310]", failed.Err, StringComparison.Ordinal);
        Assert.Contains("'s123'", failed.Err, StringComparison.Ordinal);
        Assert.DoesNotContain("'tok'", failed.Err, StringComparison.Ordinal);
    }
}
