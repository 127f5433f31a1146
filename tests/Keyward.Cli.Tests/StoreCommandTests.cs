using System.Text.Json;
using Keyward.Core.Secrets;
using Keyward.Crypto.Attic;

namespace Keyward.Cli.Tests;

/// <summary><c>keyward store recipients | add-recipient | recover</c>, and <c>keyward token mint --signed-by</c>.</summary>
public sealed class StoreCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("keyward-store-cli-").FullName;
    private string P(string name) => Path.Combine(_dir, name);
    private string State => P("state");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private async Task<CliHarness> AppliedAsync(string credentials = "  db: { kind: secret, bytes: 32, owner: o, purpose: p }\n")
    {
        File.WriteAllText(P("m.yaml"), "apiVersion: keyward/v1\ncredentials:\n" + credentials);
        var cli = new CliHarness();
        var r = await cli.RunAsync("apply", "-f", P("m.yaml"), "--state", State, "--no-hooks");
        Assert.True(r.ExitCode == 0, r.ToString());
        return cli;
    }

    [Fact]
    public async Task Recover_AfterTheHostIdentityIsLost_WithAnOperatorKeyAddedEarlier_GetWorksAgain()
    {
        var cli = await AppliedAsync();
        var before = (await new CliHarness().RunAsync("get", "db", "--state", State)).StdOutBytes;
        var (operatorKey, operatorRecipient) = AgenixCommandTests.NewIdentity(P("operator.key"));
        var oldHost = File.ReadAllLines(Path.Combine(State, "identity.txt")).First(l => l.StartsWith("# public key: ", StringComparison.Ordinal))["# public key: ".Length..];

        var add = await cli.RunAsync("store", "add-recipient", operatorRecipient, "--state", State);
        Assert.True(add.ExitCode == 0, add.ToString());
        Assert.Contains("1 recipient added", add.Err, StringComparison.Ordinal);
        var list = await cli.RunAsync("store", "recipients", "--state", State);
        Assert.Equal([$"host      {oldHost}", $"operator  {operatorRecipient}"], list.Out.TrimEnd().Split('\n'));
        var same = await cli.RunAsync("store", "add-recipient", operatorRecipient, "--state", State);
        Assert.Contains("nothing changed", same.Err, StringComparison.Ordinal);

        File.Delete(Path.Combine(State, "identity.txt"));
        var lost = await new CliHarness().RunAsync("get", "db", "--state", State);
        Assert.Equal(1, lost.ExitCode);
        Assert.Contains("error[KW030", lost.Err, StringComparison.Ordinal);

        var recover = await cli.RunAsync("store", "recover", "-i", operatorKey, "--state", State, "--json");
        Assert.True(recover.ExitCode == 0, recover.ToString());
        using (var doc = JsonDocument.Parse(recover.Out))
        {
            var recipients = doc.RootElement.GetProperty("recipients").EnumerateArray().Select(e => (e.GetProperty("recipient").GetString(), e.GetProperty("role").GetString())).ToArray();
            Assert.Equal(2, recipients.Length);
            Assert.Equal(("operator"), recipients[1].Item2);
            Assert.Equal(operatorRecipient, recipients[1].Item1);
            Assert.NotEqual(oldHost, recipients[0].Item1);
        }
        Assert.True(File.Exists(Path.Combine(State, "identity.txt")));
        Assert.Equal(before, (await new CliHarness().RunAsync("get", "db", "--state", State)).StdOutBytes);

        var audit = await cli.RunAsync("audit", "--state", State);
        Assert.Contains("add-recipient", audit.Out, StringComparison.Ordinal);
        Assert.Contains("recover", audit.Out, StringComparison.Ordinal);
        Assert.DoesNotContain("AGE-SECRET-KEY", cli.AllOutput.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Recover_WhileTheIdentityStillExists_IsRefused()
    {
        var cli = await AppliedAsync();
        var (key, recipient) = AgenixCommandTests.NewIdentity(P("operator.key"));
        Assert.Equal(0, (await cli.RunAsync("store", "add-recipient", recipient, "--state", State)).ExitCode);
        var r = await cli.RunAsync("store", "recover", "-i", key, "--state", State);
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("error[KW0302]", r.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Recover_WithAKeyTheStoreIsNotWrappedTo_Fails_AndWritesNoIdentity()
    {
        await AppliedAsync();
        var (key, _) = AgenixCommandTests.NewIdentity(P("stranger.key"));
        File.Delete(Path.Combine(State, "identity.txt"));
        var r = await new CliHarness().RunAsync("store", "recover", "-i", key, "--state", State);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("error[KW0305]", r.Err, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(State, "identity.txt")));
    }

    [Fact]
    public async Task AddRecipient_Invalid_ExitsTwo_AndChangesNothing()
    {
        var cli = await AppliedAsync();
        var r = await cli.RunAsync("store", "add-recipient", "not-a-key", "--state", State);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("error[KW0", r.Err, StringComparison.Ordinal);
        var list = await cli.RunAsync("store", "recipients", "--state", State);
        Assert.Single(list.Out.TrimEnd().Split('\n'));
    }

    [Fact]
    public async Task TokenMint_SignedByAStoredSecret_VerifiesWithIt_AndIsRecordedInTheLedgerAndAudit()
    {
        var cli = await AppliedAsync("  jwt: { kind: secret, bytes: 64, owner: o, purpose: p }\n  key: { kind: nix-signing-key, keyName: k-1, owner: o, purpose: p }\n");
        var r = await cli.RunAsync("token", "mint", "--sub", "ci", "--validity", "1d", "--pull", "main", "--push", "main", "--signed-by", "jwt", "--state", State);
        Assert.True(r.ExitCode == 0, r.ToString());
        var jwt = r.Out.Trim();
        var secret = (await new CliHarness().RunAsync("get", "jwt", "--state", State)).StdOutBytes;
        using var key = AtticSigningKey.Hs256(Secret.FromBytes(secret));
        var verified = AtticTokens.Verify(jwt, key, TimeProvider.System);
        Assert.Equal("ci", verified.Subject);

        await using (var state = await Store.StateDirectory.OpenAsync(State, TimeProvider.System, TestContext.Current.CancellationToken))
        {
            var ledger = Assert.Single(await state.Store.ListLedgerAsync(TestContext.Current.CancellationToken));
            Assert.Equal(("jwt", 1, "ci", "main:pull main:push"), (ledger.SignedBy, ledger.SignedByVersion, ledger.Subject, ledger.PermissionsSummary));
            Assert.Equal(state.Store.Fingerprint(System.Text.Encoding.UTF8.GetBytes(jwt)), ledger.Fingerprint);
            var audit = await state.Store.ReadAuditAsync(null, TestContext.Current.CancellationToken);
            var mint = Assert.Single(audit, a => a.Event.Action == "mint" && a.Event.Credential == "(token mint)");
            Assert.Equal(ledger.Fingerprint, mint.Event.Fingerprint);
            Assert.DoesNotContain(jwt, mint.Event.Detail!, StringComparison.Ordinal);
        }

        var wrongKind = await cli.RunAsync("token", "mint", "--sub", "ci", "--validity", "1d", "--pull", "main", "--signed-by", "key", "--state", State);
        Assert.Equal(2, wrongKind.ExitCode);
        Assert.Contains("error[KW0457]", wrongKind.Err, StringComparison.Ordinal);
        var missing = await cli.RunAsync("token", "mint", "--sub", "ci", "--validity", "1d", "--signed-by", "nope", "--state", State);
        Assert.Equal(2, missing.ExitCode);
        Assert.Contains("error[KW0023]", missing.Err, StringComparison.Ordinal);
        File.WriteAllText(P("k.b64"), Convert.ToBase64String(secret));
        var both = await cli.RunAsync("token", "mint", "--sub", "ci", "--validity", "1d", "--signed-by", "jwt", "--secret-base64-file", P("k.b64"), "--state", State);
        Assert.Equal(2, both.ExitCode);
        Assert.Contains("error[KW0457]", both.Err, StringComparison.Ordinal);
        Assert.DoesNotContain(Convert.ToBase64String(secret), cli.AllOutput.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task TokenMint_SignedByAStoredRsaKey_IsRs256()
    {
        var cli = await AppliedAsync("  rsa: { kind: rsa-key, bits: 2048, owner: o, purpose: p }\n");
        var r = await cli.RunAsync("token", "mint", "--sub", "admin", "--validity", "1h", "--pull", "*", "--signed-by", "rsa", "--state", State);
        Assert.True(r.ExitCode == 0, r.ToString());
        var pem = (await new CliHarness().RunAsync("get", "rsa", "--state", State)).StdOutBytes;
        using var key = AtticSigningKey.Rs256(Secret.FromBytes(pem));
        Assert.Equal("RS256", AtticTokens.Verify(r.Out.Trim(), key, TimeProvider.System).Header.Algorithm);
    }
}

/// <summary>Recovery with an operator's SSH key made by the real ssh-keygen.</summary>
[Trait("Category", "Interop")]
public sealed class StoreCommandInteropTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("keyward-store-cli-interop-").FullName;
    private string P(string name) => Path.Combine(_dir, name);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Recover_WithAnSshEd25519OperatorKey()
    {
        AgenixCommandInteropTests.Run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ops@laptop", "-f", P("id_ed25519"));
        var pub = File.ReadAllText(P("id_ed25519.pub")).Trim();
        File.WriteAllText(P("m.yaml"), "apiVersion: keyward/v1\ncredentials:\n  db: { kind: secret, bytes: 32, owner: o, purpose: p }\n");
        var cli = new CliHarness();
        Assert.Equal(0, (await cli.RunAsync("apply", "-f", P("m.yaml"), "--state", P("s"), "--no-hooks")).ExitCode);
        var before = (await new CliHarness().RunAsync("get", "db", "--state", P("s"))).StdOutBytes;
        var add = await cli.RunAsync("store", "add-recipient", pub, "--state", P("s"));
        Assert.True(add.ExitCode == 0, add.ToString());
        Assert.Contains("ssh-ed25519 ", (await cli.RunAsync("store", "recipients", "--state", P("s"))).Out, StringComparison.Ordinal);
        File.Delete(Path.Combine(P("s"), "identity.txt"));
        var r = await cli.RunAsync("store", "recover", "-i", P("id_ed25519"), "--state", P("s"));
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal(before, (await new CliHarness().RunAsync("get", "db", "--state", P("s"))).StdOutBytes);
    }
}
