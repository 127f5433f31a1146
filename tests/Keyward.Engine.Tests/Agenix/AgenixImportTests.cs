using System.Text;
using Keyward.Core.Errors;
using Keyward.Core.Secrets;
using Keyward.Crypto.Age;
using Keyward.Crypto.Nix;
using Keyward.Engine.Agenix;
using Keyward.Core.Store;

namespace Keyward.Engine.Tests.Agenix;

public sealed class AgenixImportTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static void Write(string dir, string name, byte[] value, string recipient)
    {
        Directory.CreateDirectory(dir);
        File.WriteAllBytes(Path.Combine(dir, name), AgeFile.EncryptBytes(value, [AgeKeys.ParseRecipient(recipient)]));
    }

    private static IReadOnlyList<IAgeIdentity> Identity(string path) => AgeKeys.ParseIdentities(File.ReadAllText(path));

    [Fact]
    public async Task Import_StoresEachFileAsTheActiveVersion_AndASecondImportStoresNothing()
    {
        await using var f = await AgenixFixture.CreateAsync();
        var (id, r) = f.NewAgeIdentity("host.txt");
        var token = "ghp_" + new string('x', 36);
        Write(f.ExportDir, "github-token.age", Encoding.UTF8.GetBytes(token), r);
        Write(f.ExportDir, "wifi.age", [1, 2, 3, 0, 255], r);
        File.WriteAllText(Path.Combine(f.ExportDir, "secrets.nix"), "{ \"wifi.age\".publicKeys = [ ]; \"gone.age\".publicKeys = [ ]; }");
        var importer = new AgenixImporter(f.State.Store, f.Options);

        var report = await importer.ImportAsync(f.ExportDir, Identity(id), null, false, Ct);

        Assert.All(report.Files, x => Assert.Equal(AgenixImportAction.Imported, x.Action));
        Assert.Equal(Encoding.UTF8.GetBytes(token), await f.ActiveValueAsync("github-token"));
        Assert.Equal(new byte[] { 1, 2, 3, 0, 255 }, await f.ActiveValueAsync("wifi"));
        var active = await f.State.Store.GetActiveAsync("wifi", Ct);
        Assert.Equal(("external", "imported", 1), (active!.Kind, active.Origin, active.Version));
        Assert.Contains(f.Warnings, w => w.Message.Contains("gone.age", StringComparison.Ordinal));
        var audit = (await f.State.Store.ReadAuditAsync(null, Ct)).Where(a => a.Event.Action == "import").ToList();
        Assert.Equal(2, audit.Count);
        Assert.DoesNotContain(audit, a => (a.Event.Detail ?? "").Contains(token, StringComparison.Ordinal));

        var again = await importer.ImportAsync(f.ExportDir, Identity(id), null, false, Ct);
        Assert.All(again.Files, x => Assert.Equal(AgenixImportAction.Unchanged, x.Action));
        Assert.Single(await f.State.Store.GetVersionsAsync("wifi", Ct));
        Assert.Equal(2, (await f.State.Store.ReadAuditAsync(null, Ct)).Count(a => a.Event.Action == "import"));
    }

    [Fact]
    public async Task Import_ChangedValue_BecomesVersionTwo_AndTheOldOneIsPrevious()
    {
        await using var f = await AgenixFixture.CreateAsync();
        var (id, r) = f.NewAgeIdentity("host.txt");
        var importer = new AgenixImporter(f.State.Store, f.Options);
        Write(f.ExportDir, "wifi.age", [1], r);
        await importer.ImportAsync(f.ExportDir, Identity(id), null, false, Ct);
        Write(f.ExportDir, "wifi.age", [2], r);
        var report = await importer.ImportAsync(f.ExportDir, Identity(id), null, false, Ct);
        Assert.Equal(2, Assert.Single(report.Files).Version);
        var versions = await f.State.Store.GetVersionsAsync("wifi", Ct);
        Assert.Equal([VersionState.Previous, VersionState.Active], versions.OrderBy(v => v.Version).Select(v => v.State));
    }

    [Fact]
    public async Task Import_WithManifest_SkipsUndeclared_AndChecksKinds()
    {
        await using var f = await AgenixFixture.CreateAsync();
        var (id, r) = f.NewAgeIdentity("host.txt");
        var manifest = f.Manifest("""
            credentials:
              db-password: { kind: secret, bytes: 4, owner: ops, purpose: db }
              cache-key: { kind: nix-signing-key, keyName: cache-1, owner: ops, purpose: cache }
              gh: { kind: external, provider: github, owner: ops, purpose: gh }
            """);
        using var key = NixSecretKey.Generate("cache-1");
        using var keyText = key.ToSecret();
        Write(f.ExportDir, "db-password.age", [9, 8, 7, 6], r);
        Write(f.ExportDir, "cache-key.age", keyText.Reveal().ToArray(), r);
        Write(f.ExportDir, "gh.age", Encoding.UTF8.GetBytes("glpat-" + new string('a', 20)), r);
        Write(f.ExportDir, "other.age", [1], r);
        Write(f.ExportDir, "Not_A_Name.age", [1], r);

        var report = await new AgenixImporter(f.State.Store, f.Options).ImportAsync(f.ExportDir, Identity(id), manifest, false, Ct);

        var byName = report.Files.ToDictionary(x => x.Credential);
        Assert.Equal(AgenixImportAction.Skipped, byName["other"].Action);
        Assert.Equal(AgenixImportAction.Skipped, byName["Not_A_Name"].Action);
        Assert.Equal(("secret", AgenixImportAction.Imported), (byName["db-password"].Kind, byName["db-password"].Action));
        Assert.Equal("nix-signing-key", byName["cache-key"].Kind);
        var cache = await f.State.Store.GetActiveAsync("cache-key", Ct);
        Assert.Equal(key.PublicKey.ToString(), cache!.Metadata["publicKey"]);
        Assert.Null(await f.State.Store.GetActiveAsync("other", Ct));
        // A GitLab token declared as github: imported, with the recogniser's warning.
        Assert.Equal("external", byName["gh"].Kind);
        Assert.NotEmpty(f.Warnings);

        // apply now sees the imported values as current: nothing to create.
        var plan = await new Keyward.Engine.Apply.ApplyEngine(f.State.Store, f.Options).PlanAsync(manifest, Ct);
        Assert.DoesNotContain(plan.Credentials, c => c.Credential.Name != "gh" && c.Action != Keyward.Engine.Apply.ChangeAction.Unchanged);
    }

    [Theory]
    [InlineData("secret", "bytes: 4", "holds 3 bytes")]
    [InlineData("nix-signing-key", "keyName: cache-1", "not valid")]
    [InlineData("rsa-key", "bits: 2048", "not an unencrypted RSA private key")]
    public async Task Import_ValueNotFittingTheDeclaredKind_FailsWithKW0453_AndStoresNothing(string kind, string field, string expected)
    {
        await using var f = await AgenixFixture.CreateAsync();
        var (id, r) = f.NewAgeIdentity("host.txt");
        var manifest = f.Manifest($"credentials:\n  fine: {{ kind: secret, bytes: 1, owner: o, purpose: p }}\n  x: {{ kind: {kind}, {field}, owner: o, purpose: p }}\n");
        Write(f.ExportDir, "fine.age", [1], r);
        Write(f.ExportDir, "x.age", [0x41, 0x42, 0x43], r);
        var e = await Assert.ThrowsAsync<KeywardException>(() => new AgenixImporter(f.State.Store, f.Options).ImportAsync(f.ExportDir, Identity(id), manifest, false, Ct));
        Assert.Equal(ErrorCodes.AgenixKindMismatch, e.First.Code);
        Assert.Contains(expected, e.First.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("ABC", e.First.Message, StringComparison.Ordinal);
        Assert.Empty(await f.State.Store.ListVersionsAsync(Ct)); // all or nothing: 'fine' is not stored either
    }

    [Fact]
    public async Task Import_BootstrapPlaceholder_IsRefused_NeverStored()
    {
        await using var f = await AgenixFixture.CreateAsync();
        var (id, r) = f.NewAgeIdentity("host.txt");
        Write(f.ExportDir, "coder-admin-token.age", Encoding.UTF8.GetBytes("# keyward-bootstrap-placeholder\n# credential: coder-admin-token\n"), r);
        var e = await Assert.ThrowsAsync<KeywardException>(() => new AgenixImporter(f.State.Store, f.Options).ImportAsync(f.ExportDir, Identity(id), null, false, Ct));
        Assert.Equal(ErrorCodes.AgenixKindMismatch, e.First.Code);
        Assert.Contains("bootstrap placeholder", e.First.Message, StringComparison.Ordinal);
        Assert.Empty(await f.State.Store.ListVersionsAsync(Ct));
    }

    [Fact]
    public async Task Import_NixKeyWithAnotherKeyName_IsRefused()
    {
        await using var f = await AgenixFixture.CreateAsync();
        var (id, r) = f.NewAgeIdentity("host.txt");
        var manifest = f.Manifest("credentials:\n  k: { kind: nix-signing-key, keyName: cache-2, owner: o, purpose: p }\n");
        using var key = NixSecretKey.Generate("cache-1");
        using var text = key.ToSecret();
        Write(f.ExportDir, "k.age", text.Reveal().ToArray(), r);
        var e = await Assert.ThrowsAsync<KeywardException>(() => new AgenixImporter(f.State.Store, f.Options).ImportAsync(f.ExportDir, Identity(id), manifest, false, Ct));
        Assert.Contains("key name is 'cache-1'", e.First.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Import_AtticToken_MustVerifyWithTheActiveSigner()
    {
        await using var f = await AgenixFixture.CreateAsync();
        var (id, r) = f.NewAgeIdentity("host.txt");
        var manifest = f.Manifest("""
            credentials:
              jwt: { kind: secret, bytes: 32, owner: o, purpose: p }
              ci: { kind: attic-token, signedBy: jwt, subject: ci, validity: 30d, owner: o, purpose: p, caches: { main: [pull] } }
            """);
        await f.ApplyAsync(manifest);
        var good = await f.ActiveValueAsync("ci");
        Write(f.ExportDir, "ci.age", good, r);
        // Importing the same token is a no-op; a token signed by another key is refused.
        var report = await new AgenixImporter(f.State.Store, f.Options).ImportAsync(f.ExportDir, Identity(id), manifest, false, Ct);
        Assert.Equal(AgenixImportAction.Unchanged, Assert.Single(report.Files).Action);

        using var other = Crypto.Attic.AtticSigningKey.Hs256(Secret.Random(32));
        var forged = Crypto.Attic.AtticTokens.Mint(new Crypto.Attic.AtticTokenRequest("ci", f.Time.GetUtcNow().AddDays(1), f.Time.GetUtcNow(), []), other);
        Write(f.ExportDir, "ci.age", forged.Jwt.Reveal().ToArray(), r);
        var e = await Assert.ThrowsAsync<KeywardException>(() => new AgenixImporter(f.State.Store, f.Options).ImportAsync(f.ExportDir, Identity(id), manifest, false, Ct));
        Assert.Equal(ErrorCodes.AgenixKindMismatch, e.First.Code);
        Assert.Contains("does not verify with the active version of 'jwt'", e.First.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Import_FileForAnotherHost_FailsWithKW0452_UnlessSkipForeign()
    {
        await using var f = await AgenixFixture.CreateAsync();
        var (id, r) = f.NewAgeIdentity("host.txt");
        var (_, other) = f.NewAgeIdentity("other-host.txt");
        Write(f.ExportDir, "mine.age", [1], r);
        Write(f.ExportDir, "theirs.age", [2], other);
        var importer = new AgenixImporter(f.State.Store, f.Options);
        var e = await Assert.ThrowsAsync<KeywardException>(() => importer.ImportAsync(f.ExportDir, Identity(id), null, false, Ct));
        Assert.Equal(ErrorCodes.AgenixDecrypt, e.First.Code);
        Assert.StartsWith("theirs.age:", e.First.Message, StringComparison.Ordinal);
        Assert.Empty(await f.State.Store.ListVersionsAsync(Ct));

        var report = await importer.ImportAsync(f.ExportDir, Identity(id), null, true, Ct);
        Assert.Equal(AgenixImportAction.Imported, report.Files.Single(x => x.Credential == "mine").Action);
        Assert.Equal(AgenixImportAction.Skipped, report.Files.Single(x => x.Credential == "theirs").Action);
    }

    [Fact]
    public async Task Import_EmptyOrMissingDirectory_IsBadInput()
    {
        await using var f = await AgenixFixture.CreateAsync();
        var (id, _) = f.NewAgeIdentity("host.txt");
        var importer = new AgenixImporter(f.State.Store, f.Options);
        var missing = await Assert.ThrowsAsync<KeywardException>(() => importer.ImportAsync(Path.Combine(f.Root, "nope"), Identity(id), null, false, Ct));
        Assert.Equal(ErrorCodes.AgenixDirectory, missing.First.Code);
        Directory.CreateDirectory(f.ExportDir);
        var empty = await Assert.ThrowsAsync<KeywardException>(() => importer.ImportAsync(f.ExportDir, Identity(id), null, false, Ct));
        Assert.Equal(ErrorCodes.AgenixNothingToImport, empty.First.Code);
    }

    [Fact]
    public async Task ExportThenImport_IntoAFreshStore_GivesTheSameValues()
    {
        await using var f = await AgenixFixture.CreateAsync();
        var (id, r) = f.NewAgeIdentity("op.txt");
        var manifest = f.Manifest($"""
            recipients: ["{r}"]
            credentials:
              jwt: {"{"} kind: secret, bytes: 32, owner: o, purpose: p {"}"}
              rsa: {"{"} kind: rsa-key, bits: 2048, owner: o, purpose: p {"}"}
              key: {"{"} kind: nix-signing-key, keyName: cache-1, owner: o, purpose: p {"}"}
              ci: {"{"} kind: attic-token, signedBy: jwt, subject: ci, validity: 30d, owner: o, purpose: p, caches: {"{"} main: [pull] {"}"} {"}"}
            """);
        await f.ApplyAsync(manifest);
        await new AgenixExporter(f.State.Store, f.Options).ExportAsync(manifest, f.ExportDir, armor: true, Ct);

        await using var fresh = await f.NewStateAsync("fresh");
        var report = await new AgenixImporter(fresh.Store, f.Options).ImportAsync(f.ExportDir, Identity(id), manifest, false, Ct);
        Assert.All(report.Files, x => Assert.Equal(AgenixImportAction.Imported, x.Action));
        foreach (var name in new[] { "jwt", "rsa", "key", "ci" })
            Assert.Equal(await f.ActiveValueAsync(name), await f.ActiveValueAsync(name, fresh));
        Assert.Equal(["rsa-key", "secret"], (await fresh.Store.ListVersionsAsync(Ct)).Where(v => v.Name is "rsa" or "jwt").Select(v => v.Kind).Order());
    }
}
