using System.Text;
using System.Text.Json;
using Keyward.Core.Attic;
using Keyward.Core.Secrets;
using Keyward.Crypto.Attic;
using Keyward.Crypto.Rsa;

namespace Keyward.Cli.Tests;

public sealed class TokenCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("kw-tokencli-").FullName;
    private readonly byte[] _secret = Encoding.UTF8.GetBytes("cli test secret \u00ff bytes");
    private readonly string _secretB64;

    public TokenCommandTests() => _secretB64 = Convert.ToBase64String(_secret);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private Dictionary<string, string> Env => new() { ["ATTIC_SERVER_TOKEN_HS256_SECRET_BASE64"] = _secretB64 };

    [Fact]
    public async Task Mint_WithAtticdEnvironment_IsVerifiableAndHasAtticadmGrantOrder()
    {
        var r = await CliRun.RunAsync(["token", "mint", "--sub", "alice", "--validity", "3 months", "--push", "dev-*", "--pull", "dev-*", "--pull", "prod"], env: Env);
        Assert.True(r.Exit == 0, r.Err);
        var jwt = r.Out.Trim();
        Assert.Equal(r.Out, jwt + Environment.NewLine);
        Assert.Equal("", r.Err);
        using var key = AtticSigningKey.Hs256(Secret.FromBytes(_secret));
        var t = AtticTokens.Verify(jwt, key, TimeProvider.System);
        Assert.Equal("alice", t.Subject);
        // atticadm inserts every --pull first, then --push; the repeated dev-* reuses its entry.
        Assert.Equal(["dev-*", "prod"], t.Grants.Select(g => g.Pattern.Text));
        Assert.Equal([AtticPermission.Pull, AtticPermission.Push], t.Grants[0].Permissions);
        var months = (t.ExpiresAt!.Value - t.NotBefore!.Value).TotalSeconds;
        Assert.Equal(3 * 2_630_016, months); // humantime months
    }

    [Fact]
    public async Task Mint_ShadowedPattern_WarnsOnStderr_TokenOnlyOnStdout()
    {
        var r = await CliRun.RunAsync(["token", "mint", "--sub", "ci", "--validity", "1h", "--pull", "*", "--push", "starlite-*"], env: Env);
        Assert.Equal(0, r.Exit);
        Assert.Contains("warning[KW0613]", r.Err, StringComparison.Ordinal);
        Assert.DoesNotContain(r.Out.Trim(), r.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Mint_Rs256FromSecretBase64File()
    {
        using var pem = RsaKeys.Generate(2048, pkcs8: false);
        var file = Path.Combine(_dir, "rs256.b64");
        File.WriteAllText(file, Convert.ToBase64String(pem.Reveal()) + "\n");
        var r = await CliRun.RunAsync(["token", "mint", "--sub", "root", "--validity", "1d", "--create-cache", "*", "--secret-base64-file", file]);
        Assert.True(r.Exit == 0, r.Err);
        using var pub = AtticSigningKey.Rs256PublicOnly(RsaKeys.PublicPem(pem));
        var t = AtticTokens.Verify(r.Out.Trim(), pub, TimeProvider.System);
        Assert.Equal("RS256", t.Header.Algorithm);
        r.AssertNoLeak(Convert.ToBase64String(pem.Reveal())[..40]);
    }

    [Fact]
    public async Task Mint_Refusals()
    {
        var noKey = await CliRun.RunAsync(["token", "mint", "--sub", "a", "--validity", "1h", "--pull", "x"]);
        Assert.Equal(2, noKey.Exit);
        Assert.Contains("KW0611", noKey.Err, StringComparison.Ordinal);
        var terminal = await CliRun.RunAsync(["token", "mint", "--sub", "a", "--validity", "1h"], env: Env, terminal: true);
        Assert.Equal(2, terminal.Exit);
        Assert.Contains("KW0005", terminal.Err, StringComparison.Ordinal);
        var badPattern = await CliRun.RunAsync(["token", "mint", "--sub", "a", "--validity", "1h", "--pull", "a?b"], env: Env);
        Assert.Equal(2, badPattern.Exit);
        var badValidity = await CliRun.RunAsync(["token", "mint", "--sub", "a", "--validity", "soon"], env: Env);
        Assert.Equal(2, badValidity.Exit);
        Assert.Contains("KW0614", badValidity.Err, StringComparison.Ordinal);
        var badSecret = await CliRun.RunAsync(["token", "mint", "--sub", "a", "--validity", "1h"], env: new Dictionary<string, string> { ["ATTIC_SERVER_TOKEN_HS256_SECRET_BASE64"] = "%%%secret-looking%%%" });
        Assert.Equal(2, badSecret.Exit);
        badSecret.AssertNoLeak("secret-looking");
    }

    [Fact]
    public async Task Inspect_WithKey_VerifiesAndShowsPerCachePermissions()
    {
        var jwt = (await CliRun.RunAsync(["token", "mint", "--sub", "ci", "--validity", "30d", "--push", "main", "--pull", "*"], env: Env)).Out.Trim();
        var r = await CliRun.RunAsync(["token", "inspect", "-", "--cache", "main", "--cache", "other"], jwt, Env);
        Assert.True(r.Exit == 0, r.Err);
        Assert.Contains("subject:     ci", r.Out, StringComparison.Ordinal);
        Assert.Matches(@"expires: .*\(in (29|30) days\)", r.Out);
        // --pull '*' is inserted before --push main (atticadm order), and the exact entry wins without merging.
        Assert.Matches(@"main\s+push\s+\(exact entry\)", r.Out);
        Assert.Matches(@"other\s+pull\s+\(pattern '\*'\)", r.Out);
        Assert.Contains("signature:   verified", r.Out, StringComparison.Ordinal);
        r.AssertNoLeak(jwt);

        var json = await CliRun.RunAsync(["token", "inspect", jwt, "--cache", "main", "--json"]);
        Assert.Equal(0, json.Exit);
        using var doc = JsonDocument.Parse(json.Out);
        Assert.Equal(JsonValueKind.Null, doc.RootElement.GetProperty("verified").ValueKind); // no key given
        Assert.Equal(["push"], doc.RootElement.GetProperty("caches").GetProperty("main").GetProperty("permissions").EnumerateArray().Select(e => e.GetString()));
    }

    [Fact]
    public async Task Inspect_WrongKey_ShowsClaimsButFailsWithSignatureError()
    {
        var jwt = (await CliRun.RunAsync(["token", "mint", "--sub", "ci", "--validity", "1h", "--pull", "main"], env: Env)).Out.Trim();
        var file = Path.Combine(_dir, "other.b64");
        File.WriteAllText(file, Convert.ToBase64String("another secret"u8));
        var r = await CliRun.RunAsync(["token", "inspect", "-", "--secret-base64-file", file], jwt);
        Assert.Equal(1, r.Exit);
        Assert.Contains("subject:     ci", r.Out, StringComparison.Ordinal);
        Assert.Contains("KW0603", r.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Inspect_Malformed_IsBadInput()
    {
        var r = await CliRun.RunAsync(["token", "inspect", "-"], "eyJhbGciOiJub25lIn0.not*base64.");
        Assert.Equal(2, r.Exit);
        Assert.Contains("KW0601", r.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Recognize_DeclaredMismatch_Warns_NeverPrintsTheToken()
    {
        const string token = "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";
        var r = await CliRun.RunAsync(["token", "recognize", "--provider", "gitea", "--json"], token + "\n");
        Assert.Equal(0, r.Exit);
        using var doc = JsonDocument.Parse(r.Out);
        Assert.Equal("GitHubClassicPat", doc.RootElement.GetProperty("type").GetString());
        Assert.True(doc.RootElement.GetProperty("checksumValid").GetBoolean());
        Assert.Equal("KW1101", doc.RootElement.GetProperty("warnings")[0].GetProperty("code").GetString());
        Assert.Contains("warning[KW1101]", r.Err, StringComparison.Ordinal);
        r.AssertNoLeak("zQWBuTSOoRi4A9spHcVY5ncnsDkxkJ0mLq17");

        var bad = await CliRun.RunAsync(["token", "recognize", "--provider", "github"], "ghp_zQWBuTSOoRi4A9spHcVY5ncnsDkxkJ0mLq18");
        Assert.Contains("checksum:  INVALID", bad.Out, StringComparison.Ordinal);
        Assert.Contains("warning[KW1102]", bad.Err, StringComparison.Ordinal);
        bad.AssertNoLeak("zQWBuTSOoRi4A9spHcVY5ncnsDkxkJ0mLq18");
    }
}
