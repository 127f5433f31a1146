using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Keyward.Core.Secrets;
using Keyward.Crypto.Age;
using Keyward.Crypto.Sops;
using Keyward.Crypto.Tests.Age;

namespace Keyward.Crypto.Tests.Sops;

/// <summary>Keyward's SOPS files decrypted by an implementation no one here wrote: the npm package <c>sops-age</c>
/// (humphd/sops-age), run with node. test.sh installs it under tests/.deps.</summary>
[Trait("Category", "Interop")]
public sealed class SopsAgeInteropTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("keyward-sops-interop-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string Modules => Path.Combine(CctvVectorSource.RepoRoot(), "tests", ".deps", "node_modules");

    private const string Script = """
        const { decryptSops } = require("sops-age");
        const fs = require("node:fs");
        const [file, type] = process.argv.slice(2);
        decryptSops(fs.readFileSync(file, "utf8"), { secretKey: process.env.SOPS_TEST_AGE_KEY, fileType: type })
          .then(out => process.stdout.write(JSON.stringify(out)))
          .catch(e => { process.stderr.write(String((e && e.message) || e) + "\n"); process.exit(1); });
        """;

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void KeywardWrites_SopsAgeDecrypts(bool json)
    {
        var id = X25519Identity.Generate();
        var other = X25519Identity.Generate();
        using var token = Secret.FromUtf8("ghp_" + new string('x', 36));
        using var multiline = Secret.FromUtf8("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEI\n-----END PRIVATE KEY-----\n");
        using var unicode = Secret.FromUtf8("pässwörd \"quoted\" : # not a comment");
        var bytes = SopsFile.Encrypt([new("github-token", token), new("attic/admin_token", multiline), new("attic/db", unicode)],
            [other.Recipient, id.Recipient], DateTimeOffset.UnixEpoch.AddDays(20_000), json);
        var file = Path.Combine(_dir, json ? "secrets.json" : "secrets.yaml");
        File.WriteAllBytes(file, bytes);

        using var key = id.ToSecret();
        var output = RunNode(file, json ? "json" : "yaml", key.RevealString().Trim());
        using var doc = JsonDocument.Parse(output);
        var root = doc.RootElement;
        Assert.Equal(token.RevealString(), root.GetProperty("github-token").GetString());
        Assert.Equal(multiline.RevealString(), root.GetProperty("attic").GetProperty("admin_token").GetString());
        Assert.Equal(unicode.RevealString(), root.GetProperty("attic").GetProperty("db").GetString());
    }

    [Fact]
    public void RealSopsFixture_SopsAgeAndKeywardAgree()
    {
        // The same real-sops file through both readers: a check that the fixture and the harness are sound.
        var fixture = Path.Combine(CctvVectorSource.RepoRoot(), "tests", "Keyward.Crypto.Tests", "Golden", "Sops", "sops-age");
        var keyText = File.ReadAllText(Path.Combine(fixture, "key.txt"));
        var secretKey = keyText.Split('\n').First(l => l.StartsWith("AGE-SECRET-KEY-", StringComparison.Ordinal)).Trim();
        using var doc = JsonDocument.Parse(RunNode(Path.Combine(fixture, "secret.enc.yaml"), "yaml", secretKey));
        using var d = SopsFile.Decrypt(File.ReadAllBytes(Path.Combine(fixture, "secret.enc.yaml")), AgeKeys.ParseIdentities(keyText));
        Assert.Equal(doc.RootElement.GetProperty("secret").GetString(), d.Find("secret")!.Value.RevealString());
        Assert.Equal(doc.RootElement.GetProperty("complex").GetProperty("value").GetString(), d.Find("complex/value")!.Value.RevealString());
    }

    private string RunNode(string file, string type, string secretKey)
    {
        Assert.True(File.Exists("/usr/bin/node"), "/usr/bin/node is missing: install the Debian package 'nodejs' (the test script does)");
        Assert.True(Directory.Exists(Path.Combine(Modules, "sops-age")),
            "the npm package sops-age is not installed: run `npm install --prefix tests/.deps sops-age` in the repository root (test.sh does)");
        var script = Path.Combine(_dir, "decrypt.cjs");
        File.WriteAllText(script, Script);
        var psi = new ProcessStartInfo("/usr/bin/node") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        psi.ArgumentList.Add(script);
        psi.ArgumentList.Add(file);
        psi.ArgumentList.Add(type);
        psi.Environment["NODE_PATH"] = Modules;
        psi.Environment["SOPS_TEST_AGE_KEY"] = secretKey;
        using var p = Process.Start(psi)!;
        p.StandardInput.Close();
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"sops-age could not decrypt {Path.GetFileName(file)} ({p.ExitCode}): {stderr}\n{Encoding.UTF8.GetString(File.ReadAllBytes(file))}");
        return stdout.Result;
    }
}
