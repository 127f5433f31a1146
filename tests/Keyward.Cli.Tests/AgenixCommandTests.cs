using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Keyward.Crypto.Age;

namespace Keyward.Cli.Tests;

/// <summary><c>keyward export agenix</c> and <c>keyward import agenix</c> run in-process.</summary>
public sealed class AgenixCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("keyward-agenix-cli-").FullName;
    private string P(string name) => Path.Combine(_dir, name);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    internal static (string Path, string Recipient) NewIdentity(string path)
    {
        var id = X25519Identity.Generate();
        using var s = id.ToSecret();
        File.WriteAllText(path, $"# public key: {id.Recipient}\n{s.RevealString()}\n");
        return (path, id.Recipient);
    }

    private string Manifest(string recipient)
    {
        File.WriteAllText(P("keyward.yaml"), $"""
            apiVersion: keyward/v1
            credentials:
              db-password: {"{"} kind: secret, bytes: 32, encoding: alphanumeric, owner: ops, purpose: db, recipients: ["{recipient}"] {"}"}
              jwt: {"{"} kind: secret, bytes: 64, owner: ops, purpose: signs, recipients: ["{recipient}"] {"}"}
              cache-key: {"{"} kind: nix-signing-key, keyName: cache-1, owner: ops, purpose: cache, recipients: ["{recipient}"] {"}"}
              local-only: {"{"} kind: secret, bytes: 16, owner: ops, purpose: not exported {"}"}
            """);
        return P("keyward.yaml");
    }

    private static async Task<byte[]> Get(string state, string name)
    {
        var r = await new CliHarness().RunAsync("get", name, "--state", state);
        Assert.True(r.ExitCode == 0, r.ToString());
        return r.StdOutBytes;
    }

    private static void AssertNoLeak(string output, IEnumerable<byte[]> values)
    {
        foreach (var v in values)
        {
            foreach (var form in new[] { Convert.ToBase64String(v), Convert.ToHexString(v), Convert.ToHexStringLower(v) })
                Assert.DoesNotContain(form, output, StringComparison.Ordinal);
            var text = Encoding.UTF8.GetString(v);
            if (text.Length >= 8 && !text.Contains('\uFFFD', StringComparison.Ordinal))
                Assert.DoesNotContain(text.Trim(), output, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task ExportThenImport_IntoAFreshState_GetReturnsTheSameValues_AndNothingLeaks()
    {
        var (id, recipient) = NewIdentity(P("operator.txt"));
        var manifest = Manifest(recipient);
        var cli = new CliHarness();
        var apply = await cli.RunAsync("apply", "-f", manifest, "--state", P("s1"), "--no-hooks");
        Assert.True(apply.ExitCode == 0, apply.ToString());

        var export = await cli.RunAsync("export", "agenix", P("secrets"), "-f", manifest, "--state", P("s1"));
        Assert.True(export.ExitCode == 0, export.ToString());
        Assert.Contains("exported   db-password v1", export.Out, StringComparison.Ordinal);
        Assert.Contains("skipped    local-only: declares no recipients", export.Out, StringComparison.Ordinal);
        Assert.Equal(["cache-key.age", "db-password.age", "jwt.age", "secrets.nix"],
            Directory.GetFiles(P("secrets")).Select(Path.GetFileName).Order(StringComparer.Ordinal));

        var again = await cli.RunAsync("export", "agenix", P("secrets"), "-f", manifest, "--state", P("s1"), "--json");
        Assert.True(again.ExitCode == 0, again.ToString());
        using (var doc = JsonDocument.Parse(again.Out))
        {
            Assert.All(doc.RootElement.GetProperty("files").EnumerateArray(), f => Assert.False(f.GetProperty("written").GetBoolean()));
            Assert.Equal("local-only", doc.RootElement.GetProperty("skipped")[0].GetProperty("credential").GetString());
        }

        Assert.Equal(0, (await cli.RunAsync("init", "--state", P("s2"))).ExitCode);
        var import = await cli.RunAsync("import", "agenix", P("secrets"), "-i", id, "-f", manifest, "--state", P("s2"));
        Assert.True(import.ExitCode == 0, import.ToString());
        Assert.Contains("imported   db-password v1 (secret, kw1:", import.Out, StringComparison.Ordinal);
        Assert.Contains("imported   cache-key v1 (nix-signing-key", import.Out, StringComparison.Ordinal);

        var second = await cli.RunAsync("import", "agenix", P("secrets"), "-i", id, "--state", P("s2"), "--json");
        Assert.True(second.ExitCode == 0, second.ToString());
        using (var doc = JsonDocument.Parse(second.Out))
            Assert.All(doc.RootElement.GetProperty("files").EnumerateArray(), f => Assert.Equal("unchanged", f.GetProperty("action").GetString()));

        var values = new List<byte[]>();
        foreach (var name in new[] { "db-password", "jwt", "cache-key" })
        {
            var v1 = await Get(P("s1"), name);
            Assert.Equal(v1, await Get(P("s2"), name));
            values.Add(v1);
        }
        AssertNoLeak(cli.AllOutput.ToString(), values);
        var audit = await cli.RunAsync("audit", "--state", P("s2"));
        Assert.Contains("import", audit.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Import_ValueOfTheWrongLength_ExitsTwoWithKW0453_AndStoresNothing()
    {
        var (id, recipient) = NewIdentity(P("host.txt"));
        var manifest = Manifest(recipient);
        Directory.CreateDirectory(P("in"));
        var wrong = Encoding.UTF8.GetBytes("short-but-secret-value");
        File.WriteAllBytes(P("in/db-password.age"), AgeFile.EncryptBytes(wrong, [AgeKeys.ParseRecipient(recipient)]));
        var cli = new CliHarness();
        Assert.Equal(0, (await cli.RunAsync("init", "--state", P("s"))).ExitCode);
        var r = await cli.RunAsync("import", "agenix", P("in"), "-i", id, "-f", manifest, "--state", P("s"));
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("error[KW0453]", r.Err, StringComparison.Ordinal);
        Assert.Contains("holds 22 bytes, the manifest declares bytes: 32", r.Err, StringComparison.Ordinal);
        AssertNoLeak(cli.AllOutput.ToString(), [wrong]);
        var list = await cli.RunAsync("list", "--state", P("s"), "--json");
        Assert.Equal("[]", list.Out.Trim().Replace("\n", "", StringComparison.Ordinal).Replace(" ", "", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Import_WithAnIdentityTheFileWasNotMadeFor_ExitsOneWithKW0452()
    {
        var (_, recipient) = NewIdentity(P("host.txt"));
        var (otherId, _) = NewIdentity(P("other.txt"));
        Directory.CreateDirectory(P("in"));
        File.WriteAllBytes(P("in/x.age"), AgeFile.EncryptBytes([1, 2, 3], [AgeKeys.ParseRecipient(recipient)]));
        var cli = new CliHarness();
        Assert.Equal(0, (await cli.RunAsync("init", "--state", P("s"))).ExitCode);
        var r = await cli.RunAsync("import", "agenix", P("in"), "-i", otherId, "--state", P("s"));
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("error[KW0452]: x.age:", r.Err, StringComparison.Ordinal);
        Assert.Contains("hint:", r.Err, StringComparison.Ordinal);
        Assert.DoesNotContain("AGE-SECRET-KEY", cli.AllOutput.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Export_WithoutAnyRecipients_ExitsTwoWithKW0450()
    {
        File.WriteAllText(P("m.yaml"), "apiVersion: keyward/v1\ncredentials:\n  a: { kind: secret, bytes: 8, owner: o, purpose: p }\n");
        var cli = new CliHarness();
        Assert.Equal(0, (await cli.RunAsync("apply", "-f", P("m.yaml"), "--state", P("s"), "--no-hooks")).ExitCode);
        var r = await cli.RunAsync("export", "agenix", P("out"), "-f", P("m.yaml"), "--state", P("s"));
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("error[KW0450]", r.Err, StringComparison.Ordinal);
    }
}

/// <summary>The agenix commands with files made by the real <c>age</c> and keys made by <c>ssh-keygen</c>, as on an agenix host.</summary>
[Trait("Category", "Interop")]
public sealed class AgenixCommandInteropTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("keyward-agenix-cli-interop-").FullName;
    private string P(string name) => Path.Combine(_dir, name);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    internal static byte[] Run(string tool, params string[] args)
    {
        var path = Path.Combine("/usr/bin", tool);
        Assert.True(File.Exists(path), $"{path} is missing: install the Debian package '{(tool == "ssh-keygen" ? "openssh-client" : "age")}' (the test script does)");
        var psi = new ProcessStartInfo(path) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        p.StandardInput.Close();
        using var stdout = new MemoryStream();
        var err = p.StandardError.ReadToEndAsync();
        p.StandardOutput.BaseStream.CopyTo(stdout);
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"{tool} {string.Join(' ', args)} failed ({p.ExitCode}): {err.Result}");
        return stdout.ToArray();
    }

    [Fact]
    public async Task Import_FilesMadeByRealAge_WithTheHostSshKey_ThenGetReturnsTheValue()
    {
        Run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "host", "-f", P("ssh_host_ed25519_key"));
        var pub = File.ReadAllText(P("ssh_host_ed25519_key.pub")).Trim();
        Directory.CreateDirectory(P("secrets"));
        File.WriteAllText(P("plain"), "gitea-token-0123456789abcdef0123456789abcdef");
        Run("age", "-r", pub, "-o", P("secrets/gitea-token.age"), P("plain"));
        Run("age", "-a", "-r", pub, "-o", P("secrets/cache-password.age"), P("plain"));

        var cli = new CliHarness();
        Assert.Equal(0, (await cli.RunAsync("init", "--state", P("s"))).ExitCode);
        var r = await cli.RunAsync("import", "agenix", P("secrets"), "-i", P("ssh_host_ed25519_key"), "--state", P("s"));
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.DoesNotContain("gitea-token-0123", cli.AllOutput.ToString(), StringComparison.Ordinal);
        var get = await new CliHarness().RunAsync("get", "gitea-token", "--state", P("s"));
        Assert.Equal("gitea-token-0123456789abcdef0123456789abcdef", Encoding.UTF8.GetString(get.StdOutBytes));
        var get2 = await new CliHarness().RunAsync("get", "cache-password", "--state", P("s"));
        Assert.Equal(get.StdOutBytes, get2.StdOutBytes);
    }

    [Fact]
    public async Task Export_ThroughTheCli_DecryptsWithRealAgeAndTheSshKey()
    {
        Run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "host", "-f", P("key"));
        var pub = File.ReadAllText(P("key.pub")).Trim();
        File.WriteAllText(P("m.yaml"), $"apiVersion: keyward/v1\nrecipients: [\"{pub}\"]\ncredentials:\n  a: {{ kind: secret, bytes: 24, owner: o, purpose: p }}\n");
        var cli = new CliHarness();
        Assert.Equal(0, (await cli.RunAsync("apply", "-f", P("m.yaml"), "--state", P("s"), "--no-hooks")).ExitCode);
        var r = await cli.RunAsync("export", "agenix", P("out"), "-f", P("m.yaml"), "--state", P("s"), "--armor");
        Assert.True(r.ExitCode == 0, r.ToString());
        var value = (await new CliHarness().RunAsync("get", "a", "--state", P("s"))).StdOutBytes;
        Assert.Equal(24, value.Length);
        Assert.Equal(value, Run("age", "-d", "-i", P("key"), P("out/a.age")));
    }
}
