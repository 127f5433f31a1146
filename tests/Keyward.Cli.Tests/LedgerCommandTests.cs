using System.Text.Json;

namespace Keyward.Cli.Tests;

/// <summary><c>keyward tokens</c> and <c>keyward revoke</c>: the ledger of minted Attic tokens.</summary>
public sealed class LedgerCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("keyward-ledger-cli-").FullName;
    private string P(string name) => Path.Combine(_dir, name);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private async Task<CliHarness> ApplyAsync()
    {
        File.WriteAllText(P("keyward.yaml"), """
            apiVersion: keyward/v1
            credentials:
              jwt: { kind: secret, bytes: 64, owner: ops, purpose: signs }
              ci-token: { kind: attic-token, signedBy: jwt, subject: ci-runner, validity: 30d, caches: { main: [pull, push] }, owner: ops, purpose: ci }
              reader-token: { kind: attic-token, signedBy: jwt, subject: reader, validity: 30d, caches: { "*": [pull] }, owner: ops, purpose: read }
            """);
        var cli = new CliHarness();
        var apply = await cli.RunAsync("apply", "-f", P("keyward.yaml"), "--state", P("s"), "--no-hooks");
        Assert.True(apply.ExitCode == 0, apply.ToString());
        return cli;
    }

    private static JsonElement[] Tokens(CliResult r)
    {
        Assert.True(r.ExitCode == 0, r.ToString());
        using var doc = JsonDocument.Parse(r.Out);
        return doc.RootElement.EnumerateArray().Select(e => e.Clone()).ToArray();
    }

    [Fact]
    public async Task Tokens_ListsEveryMintedToken_WithSubjectGrantsAndExpiry()
    {
        var cli = await ApplyAsync();
        var tokens = Tokens(await cli.RunAsync("tokens", "--state", P("s"), "--json"));
        Assert.Equal(["ci-token", "reader-token"], tokens.Select(t => t.GetProperty("credential").GetString()));
        var ci = tokens[0];
        Assert.Equal("ci-runner", ci.GetProperty("subject").GetString());
        Assert.Contains("push", ci.GetProperty("grants").GetString(), StringComparison.Ordinal);
        Assert.Equal("valid", ci.GetProperty("status").GetString());
        Assert.False(ci.TryGetProperty("revoked", out _));
        Assert.True(ci.GetProperty("expires").GetDateTimeOffset() > DateTimeOffset.UtcNow.AddDays(29));

        var text = await cli.RunAsync("tokens", "reader-token", "--state", P("s"));
        Assert.True(text.ExitCode == 0, text.ToString());
        Assert.Contains("reader-token v1", text.Out, StringComparison.Ordinal);
        Assert.DoesNotContain("ci-token", text.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Revoke_ByCredentialName_MarksItsActiveToken_AndAudits_AndIsIdempotent()
    {
        var cli = await ApplyAsync();
        var revoke = await cli.RunAsync("revoke", "ci-token", "--state", P("s"));
        Assert.True(revoke.ExitCode == 0, revoke.ToString());
        Assert.Contains("revoked token", revoke.Out, StringComparison.Ordinal);
        Assert.Contains("keyward rotate ci-token", revoke.Out, StringComparison.Ordinal);

        var tokens = Tokens(await cli.RunAsync("tokens", "--state", P("s"), "--json"));
        Assert.StartsWith("revoked", tokens.Single(t => t.GetProperty("credential").GetString() == "ci-token").GetProperty("status").GetString(), StringComparison.Ordinal);
        Assert.Equal("valid", tokens.Single(t => t.GetProperty("credential").GetString() == "reader-token").GetProperty("status").GetString());

        var audit = await cli.RunAsync("audit", "--state", P("s"));
        Assert.Contains("revoke", audit.Out, StringComparison.Ordinal);

        var again = await cli.RunAsync("revoke", "ci-token", "--state", P("s"));
        Assert.True(again.ExitCode == 0, again.ToString());
        Assert.Contains("already revoked", again.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Revoke_ByTokenId_MarksThatToken()
    {
        var cli = await ApplyAsync();
        var id = Tokens(await cli.RunAsync("tokens", "reader-token", "--state", P("s"), "--json"))[0].GetProperty("id").GetString()!;
        var revoke = await cli.RunAsync("revoke", id, "--state", P("s"), "--json");
        Assert.True(revoke.ExitCode == 0, revoke.ToString());
        using var doc = JsonDocument.Parse(revoke.Out);
        Assert.Equal("reader-token", doc.RootElement.GetProperty("credential").GetString());
        Assert.False(doc.RootElement.GetProperty("alreadyRevoked").GetBoolean());
    }

    [Fact]
    public async Task Revoke_OfAnUnknownToken_FailsWithKW0313_PointingAtTokens()
    {
        var cli = await ApplyAsync();
        var r = await cli.RunAsync("revoke", "no-such-token", "--state", P("s"));
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("KW0313", r.Err, StringComparison.Ordinal);
        Assert.Contains("keyward tokens", r.Err, StringComparison.Ordinal);
    }
}
