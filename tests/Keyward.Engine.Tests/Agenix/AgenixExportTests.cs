using Keyward.Core.Errors;
using Keyward.Crypto.Age;
using Keyward.Engine.Agenix;

namespace Keyward.Engine.Tests.Agenix;

public sealed class AgenixExportTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static string Yaml(string r1, string r2) => $"""
        credentials:
          db-password: {"{"} kind: secret, bytes: 32, owner: ops, purpose: database, recipients: ["{r1}", "{r2}"] {"}"}
          cache-key: {"{"} kind: nix-signing-key, keyName: cache-1, owner: ops, purpose: cache, recipients: ["{r2}"] {"}"}
          no-recipients: {"{"} kind: secret, bytes: 16, owner: ops, purpose: stays home {"}"}
        """;

    [Fact]
    public async Task Export_WritesOneFilePerCredentialWithRecipients_EachDecryptsToTheActiveValue()
    {
        await using var f = await AgenixFixture.CreateAsync();
        var (id1, r1) = f.NewAgeIdentity("op1.txt");
        var (id2, r2) = f.NewAgeIdentity("op2.txt");
        var manifest = f.Manifest(Yaml(r1, r2));
        await f.ApplyAsync(manifest);

        var report = await new AgenixExporter(f.State.Store, f.Options).ExportAsync(manifest, f.ExportDir, armor: false, Ct);

        Assert.Equal(["db-password", "cache-key"], report.Files.Select(x => x.Credential));
        Assert.Equal("no-recipients", Assert.Single(report.Skipped).Credential);
        Assert.False(File.Exists(Path.Combine(f.ExportDir, "no-recipients.age")));
        var both = AgeKeys.ParseIdentities(File.ReadAllText(id1));
        var second = AgeKeys.ParseIdentities(File.ReadAllText(id2));
        using (var v = AgeFile.DecryptBytes(File.ReadAllBytes(Path.Combine(f.ExportDir, "db-password.age")), both))
            Assert.Equal(await f.ActiveValueAsync("db-password"), v.Reveal().ToArray());
        using (var v = AgeFile.DecryptBytes(File.ReadAllBytes(Path.Combine(f.ExportDir, "db-password.age")), second))
            Assert.Equal(await f.ActiveValueAsync("db-password"), v.Reveal().ToArray());
        // cache-key is encrypted to r2 only.
        var e = Assert.Throws<KeywardException>(() => AgeFile.DecryptBytes(File.ReadAllBytes(Path.Combine(f.ExportDir, "cache-key.age")), both));
        Assert.Equal(ErrorCodes.AgeNoMatch, e.First.Code);

        var rules = File.ReadAllText(Path.Combine(f.ExportDir, "secrets.nix"));
        Assert.Contains($"\"db-password.age\".publicKeys = [\n    \"{r1}\"\n    \"{r2}\"\n  ];", rules);
        Assert.Contains($"\"cache-key.age\".publicKeys = [\n    \"{r2}\"\n  ];", rules);
        Assert.DoesNotContain("no-recipients", rules);
        Assert.DoesNotContain("armor", rules);

        var audit = await f.State.Store.ReadAuditAsync(null, Ct);
        var exports = audit.Where(a => a.Event.Action == "export").ToList();
        Assert.Equal(["db-password", "cache-key"], exports.Select(a => a.Event.Credential));
        Assert.All(exports, a => Assert.StartsWith("kw1:", a.Event.Fingerprint));
        Assert.Empty(await f.State.Store.VerifyAuditAsync(Ct));
    }

    [Fact]
    public async Task Export_Armored_WritesPemFiles_AndArmorTrueInSecretsNix()
    {
        await using var f = await AgenixFixture.CreateAsync();
        var (id, r) = f.NewAgeIdentity("op.txt");
        var manifest = f.Manifest(Yaml(r, r));
        await f.ApplyAsync(manifest);
        await new AgenixExporter(f.State.Store, f.Options).ExportAsync(manifest, f.ExportDir, armor: true, Ct);
        var text = File.ReadAllText(Path.Combine(f.ExportDir, "db-password.age"));
        Assert.StartsWith("-----BEGIN AGE ENCRYPTED FILE-----", text);
        using var v = AgeFile.DecryptBytes(File.ReadAllBytes(Path.Combine(f.ExportDir, "db-password.age")), AgeKeys.ParseIdentities(File.ReadAllText(id)));
        Assert.Equal(await f.ActiveValueAsync("db-password"), v.Reveal().ToArray());
        Assert.Contains("\"db-password.age\".armor = true;", File.ReadAllText(Path.Combine(f.ExportDir, "secrets.nix")));
    }

    [Fact]
    public async Task Export_WithoutCredentialRecipients_UsesTheTopLevelRecipientsForEveryCredential()
    {
        await using var f = await AgenixFixture.CreateAsync();
        var (_, r) = f.NewAgeIdentity("op.txt");
        var manifest = f.Manifest($"""
            recipients: ["{r}"]
            credentials:
              a: {"{"} kind: secret, bytes: 8, owner: ops, purpose: a {"}"}
              b: {"{"} kind: secret, bytes: 8, owner: ops, purpose: b {"}"}
            """);
        await f.ApplyAsync(manifest);
        var report = await new AgenixExporter(f.State.Store, f.Options).ExportAsync(manifest, f.ExportDir, false, Ct);
        Assert.Equal(["a", "b"], report.Files.Select(x => x.Credential));
        Assert.All(report.Files, x => Assert.Equal([r], x.Recipients));
        Assert.Empty(report.Skipped);
    }

    [Fact]
    public async Task Export_NoRecipientsAnywhere_FailsWithKW0450_AndWritesNothing()
    {
        await using var f = await AgenixFixture.CreateAsync();
        var manifest = f.Manifest("credentials:\n  a: { kind: secret, bytes: 8, owner: ops, purpose: a }\n");
        await f.ApplyAsync(manifest);
        var e = await Assert.ThrowsAsync<KeywardException>(() => new AgenixExporter(f.State.Store, f.Options).ExportAsync(manifest, f.ExportDir, false, Ct));
        Assert.Equal(ErrorCodes.AgenixNoRecipients, e.First.Code);
        Assert.False(Directory.Exists(f.ExportDir));
    }

    [Fact]
    public async Task Export_CredentialWithoutValue_IsSkippedWithANote()
    {
        await using var f = await AgenixFixture.CreateAsync();
        var (_, r) = f.NewAgeIdentity("op.txt");
        var manifest = f.Manifest(Yaml(r, r));
        var report = await new AgenixExporter(f.State.Store, f.Options).ExportAsync(manifest, f.ExportDir, false, Ct);
        Assert.Empty(report.Files);
        Assert.Contains(report.Skipped, s => s.Credential == "db-password" && s.Reason.Contains("no active value", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Export_Twice_LeavesEveryFileUntouched_UntilAValueChanges()
    {
        await using var f = await AgenixFixture.CreateAsync();
        var (_, r) = f.NewAgeIdentity("op.txt");
        var manifest = f.Manifest(Yaml(r, r));
        await f.ApplyAsync(manifest);
        var exporter = new AgenixExporter(f.State.Store, f.Options);
        await exporter.ExportAsync(manifest, f.ExportDir, false, Ct);
        var files = Directory.GetFiles(f.ExportDir).Order(StringComparer.Ordinal).ToArray();
        var before = files.ToDictionary(p => p, p => (File.ReadAllBytes(p), new FileInfo(p).LastWriteTimeUtc.Ticks));

        var again = await exporter.ExportAsync(manifest, f.ExportDir, false, Ct);
        Assert.All(again.Files, x => Assert.False(x.Written));
        Assert.False(again.SecretsNixWritten);
        foreach (var p in files)
        {
            Assert.Equal(before[p].Item1, File.ReadAllBytes(p));
            Assert.Equal(before[p].Ticks, new FileInfo(p).LastWriteTimeUtc.Ticks);
        }
        Assert.Equal(2, (await f.State.Store.ReadAuditAsync(null, Ct)).Count(a => a.Event.Action == "export"));

        // A new value for one credential rewrites that file only; a damaged file is rewritten too.
        await f.State.Store.PutAsync(new Keyward.Core.Store.NewVersion("db-password", "secret", Core.Secrets.Secret.Random(32), Keyward.Core.Store.VersionState.Active,
            f.Time.GetUtcNow(), null, "test", new Dictionary<string, string>()), Ct);
        File.WriteAllText(Path.Combine(f.ExportDir, "cache-key.age"), "damaged");
        var third = await exporter.ExportAsync(manifest, f.ExportDir, false, Ct);
        Assert.All(third.Files, x => Assert.True(x.Written));
        Assert.NotEqual("damaged", File.ReadAllText(Path.Combine(f.ExportDir, "cache-key.age")));
    }

    [Fact]
    public async Task Export_InvalidRecipient_NamesTheCredential_AndWritesNothing()
    {
        await using var f = await AgenixFixture.CreateAsync();
        // Passes the manifest's shape check (ssh-ed25519 + base64) but holds a 16-byte key.
        var bad = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAEAEBAQEBAQEBAQEBAQEBAQE=";
        var manifest = f.Manifest($"credentials:\n  a: {{ kind: secret, bytes: 8, owner: ops, purpose: a, recipients: [\"{bad}\"] }}\n");
        await f.ApplyAsync(manifest);
        var e = await Assert.ThrowsAsync<KeywardException>(() => new AgenixExporter(f.State.Store, f.Options).ExportAsync(manifest, f.ExportDir, false, Ct));
        Assert.Contains("credential 'a', recipient 1", e.First.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(f.ExportDir));
    }

    [Fact]
    public void SecretsNix_QuotesNixStringSyntax()
    {
        Assert.Equal("\"a\\\"b\\\\c\\${d}$e\\n\"", SecretsNix.Quote("a\"b\\c${d}$e\n"));
        var text = SecretsNix.Render([new SecretsNixEntry("x.age", ["ssh-ed25519 AAAA c\"${x}"], true)]);
        Assert.Contains("\"x.age\".publicKeys = [\n    \"ssh-ed25519 AAAA c\\\"\\${x}\"\n  ];\n  \"x.age\".armor = true;\n", text);
        Assert.Equal(["x.age"], SecretsNix.ListedFiles(text));
    }
}
