using System.Text;
using System.Text.Json;
using Keyward.Engine.Agenix;

namespace Keyward.Engine.Tests.Agenix;

/// <summary>Keyward's agenix export and import against the real <c>age</c>, <c>ssh-keygen</c> and <c>nix-instantiate</c>.</summary>
[Trait("Category", "Interop")]
public sealed class AgenixInteropTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Export_DecryptsWithRealAge_ForAnAgeIdentityAndAnSshKey(bool armor)
    {
        await using var f = await AgenixFixture.CreateAsync();
        var (ageId, ageRecipient) = f.NewAgeIdentity("operator.txt");
        var (sshKey, sshPub) = f.NewSshKey("host_ed25519");
        var manifest = f.Manifest($"""
            credentials:
              db-password: {"{"} kind: secret, bytes: 48, owner: ops, purpose: db, recipients: ["{ageRecipient}", "{sshPub}"] {"}"}
              cache-key: {"{"} kind: nix-signing-key, keyName: cache-1, owner: ops, purpose: cache, recipients: ["{sshPub}"] {"}"}
            """);
        await f.ApplyAsync(manifest);
        await new AgenixExporter(f.State.Store, f.Options).ExportAsync(manifest, f.ExportDir, armor, Ct);

        var db = Path.Combine(f.ExportDir, "db-password.age");
        Assert.Equal(await f.ActiveValueAsync("db-password"), AgenixFixture.Run("age", ["-d", "-i", ageId, db]));
        Assert.Equal(await f.ActiveValueAsync("db-password"), AgenixFixture.Run("age", ["-d", "-i", sshKey, db]));
        Assert.Equal(await f.ActiveValueAsync("cache-key"), AgenixFixture.Run("age", ["-d", "-i", sshKey, Path.Combine(f.ExportDir, "cache-key.age")]));
    }

    [Fact]
    public async Task SecretsNix_IsValidNix_ListingTheFilesAndTheirKeys()
    {
        await using var f = await AgenixFixture.CreateAsync();
        var (_, ageRecipient) = f.NewAgeIdentity("operator.txt");
        var (_, sshPub) = f.NewSshKey("host_ed25519");
        var manifest = f.Manifest($"""
            credentials:
              db-password: {"{"} kind: secret, bytes: 16, owner: ops, purpose: db, recipients: ["{ageRecipient}", "{sshPub}"] {"}"}
              cache-key: {"{"} kind: nix-signing-key, keyName: cache-1, owner: ops, purpose: cache, recipients: ["{sshPub}"] {"}"}
            """);
        await f.ApplyAsync(manifest);
        await new AgenixExporter(f.State.Store, f.Options).ExportAsync(manifest, f.ExportDir, armor: true, Ct);

        // What agenix's CLI does with the rules: import them and read publicKeys / armor per file.
        var json = AgenixFixture.Run("nix-instantiate", ["--eval", "--strict", "--json", "-E", "import ./secrets.nix"], f.ExportDir);
        using var doc = JsonDocument.Parse(json);
        var root = doc.RootElement;
        Assert.Equal(["cache-key.age", "db-password.age"], root.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal));
        Assert.Equal([ageRecipient, sshPub], root.GetProperty("db-password.age").GetProperty("publicKeys").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal([sshPub], root.GetProperty("cache-key.age").GetProperty("publicKeys").EnumerateArray().Select(e => e.GetString()));
        Assert.True(root.GetProperty("db-password.age").GetProperty("armor").GetBoolean());
    }

    [Fact]
    public async Task Import_FilesEncryptedByRealAge_ToAnAgeRecipientAndAnSshKey()
    {
        await using var f = await AgenixFixture.CreateAsync();
        var (ageId, ageRecipient) = f.NewAgeIdentity("operator.txt");
        var (sshKey, sshPub) = f.NewSshKey("ssh_host_ed25519_key");
        Directory.CreateDirectory(f.ExportDir);
        var plain1 = Path.Combine(f.Root, "p1");
        var plain2 = Path.Combine(f.Root, "p2");
        await File.WriteAllTextAsync(plain1, "hunter2-but-longer\n", Ct);
        await File.WriteAllBytesAsync(plain2, [0, 1, 2, 250, 251], Ct);
        AgenixFixture.Run("age", ["-r", ageRecipient, "-o", Path.Combine(f.ExportDir, "from-age.age"), plain1]);
        AgenixFixture.Run("age", ["-a", "-r", sshPub, "-o", Path.Combine(f.ExportDir, "from-ssh.age"), plain2]);

        // Each file with the identity it was made for; together with both identities.
        var importer = new AgenixImporter(f.State.Store, f.Options);
        var both = Crypto.Age.AgeKeys.ParseIdentities(await File.ReadAllTextAsync(ageId, Ct))
            .Concat(Crypto.Age.AgeKeys.ParseIdentities(await File.ReadAllTextAsync(sshKey, Ct))).ToArray();
        var report = await importer.ImportAsync(f.ExportDir, both, null, false, Ct);
        Assert.All(report.Files, x => Assert.Equal(AgenixImportAction.Imported, x.Action));
        Assert.Equal(Encoding.UTF8.GetBytes("hunter2-but-longer\n"), await f.ActiveValueAsync("from-age"));
        Assert.Equal(new byte[] { 0, 1, 2, 250, 251 }, await f.ActiveValueAsync("from-ssh"));

        // The host's ssh key alone opens its file; the other one is someone else's (--skip-foreign).
        await using var second = await f.NewStateAsync("second");
        var sshOnly = Crypto.Age.AgeKeys.ParseIdentities(await File.ReadAllTextAsync(sshKey, Ct));
        var r2 = await new AgenixImporter(second.Store, f.Options).ImportAsync(f.ExportDir, sshOnly, null, true, Ct);
        Assert.Equal(AgenixImportAction.Imported, r2.Files.Single(x => x.Credential == "from-ssh").Action);
        Assert.Equal(AgenixImportAction.Skipped, r2.Files.Single(x => x.Credential == "from-age").Action);
    }
}
