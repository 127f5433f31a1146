using System.Text.Json;

namespace Keyward.Cli.Tests;

/// <summary>
/// <see cref="CliJson.WriteLine{T}"/> writes through the generated fast path, which the serializer itself does not use
/// with the CLI's options: its text must be the serializer's to the byte (the --json outputs are a contract), including
/// what the relaxed encoder leaves alone, what it still escapes, left-out nulls, dates and empty lists.
/// </summary>
public sealed class CliJsonWriteTests
{
    private static string Serializer<T>(T value, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> info)
    {
        var o = new StringWriter();
        o.WriteLine(JsonSerializer.Serialize(value, info));
        return o.ToString();
    }

    private static string FastPath<T>(T value, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> info)
    {
        var o = new StringWriter();
        CliJson.WriteLine(o, value, info);
        return o.ToString();
    }

    [Fact]
    public void ApplyJson_IsTheSerializersText()
    {
        Assert.NotNull(CliJson.Context.ApplyJson.SerializeHandler); // else this compares the serializer with itself
        var due = new DateTimeOffset(2026, 12, 23, 6, 40, 10, TimeSpan.FromHours(2));
        var doc = new ApplyJson(
            "/srv/ö/keyward.yaml",
            [
                new ApplyCredentialJson("gh-token", "External", "unchanged", "source <file> & 'quoted' \"text\" — ünïcødé 🔑", 3),
                new ApplyCredentialJson("new", "Secret", "create", "not in the store\tyet\nline two \u0001", null),
            ],
            [new ApplySinkJson("env", "/etc/a b/x.env", "update", "mode 0644, declared 0600\\path")],
            [new ApplyUpcomingJson("ci", due, "expires in 10d")],
            new ApplyAppliedJson(1, 2, [new ApplyHookJson("env", "restart x.service", false, "exit 1: <stderr>")]));
        var expected = Serializer(doc, CliJson.Context.ApplyJson);
        Assert.Equal(expected, FastPath(doc, CliJson.Context.ApplyJson));
        // The cases the comparison is about are really in the text.
        Assert.Contains("\"version\": 3", expected, StringComparison.Ordinal);
        Assert.DoesNotContain("\"version\": null", expected, StringComparison.Ordinal);
        Assert.Contains("<file> & 'quoted' \\\"text\\\" — ünïcødé", expected, StringComparison.Ordinal);
        Assert.Contains("\\u0001", expected, StringComparison.Ordinal);
        Assert.Contains("\"dueAt\": \"2026-12-23T06:40:10+02:00\"", expected, StringComparison.Ordinal);

        var plan = doc with { Upcoming = [], Applied = null };
        var planText = Serializer(plan, CliJson.Context.ApplyJson);
        Assert.Equal(planText, FastPath(plan, CliJson.Context.ApplyJson));
        Assert.DoesNotContain("applied", planText, StringComparison.Ordinal);
        Assert.Contains("\"upcoming\": []", planText, StringComparison.Ordinal);
    }

    [Fact]
    public void ALargeDocument_PassedOnInChunks_IsTheSerializersText()
    {
        // Several times the 64 KiB the writer hands on at once, with 2-, 3- and 4-byte characters at every offset, so
        // chunk boundaries fall inside characters.
        var sinks = Enumerable.Range(0, 3000)
            .Select(i => new ApplySinkJson($"sink-{i}", $"/srv/{new string('x', i % 7)}/ü{i}.env", "unchanged", $"file matches €{i} 🔑"))
            .ToArray();
        var doc = new ApplyJson("keyward.yaml", [], sinks, [], null);
        var expected = Serializer(doc, CliJson.Context.ApplyJson);
        Assert.True(System.Text.Encoding.UTF8.GetByteCount(expected) > 4 * 64 * 1024);
        Assert.Equal(expected, FastPath(doc, CliJson.Context.ApplyJson));
    }

    /// <summary>Counts the writes a <see cref="TextWriter"/> is given (what reaches stdout's buffer, and past 64 KiB a
    /// system call each).</summary>
    private sealed class CountingWriter : StringWriter
    {
        public int Writes { get; private set; }

        public override void Write(char[] buffer, int index, int count)
        {
            Writes++;
            base.Write(buffer, index, count);
        }
    }

    [Fact]
    public void CredentialsWithVersions_AreHandedOnIn64KiBChunks_NotOneWritePerCredential()
    {
        // A credential's version (int?) is written by the serializer's converter path, which flushes the JSON writer
        // after the value: before, each flush went on to stdout as a write of its own (10,043 writes for 10,000).
        var credentials = Enumerable.Range(0, 5000)
            .Select(i => new ApplyCredentialJson($"tok-ü{i}", "AtticToken", "unchanged", $"version {i} is current €", i % 3 == 0 ? null : i))
            .ToArray();
        var doc = new ApplyJson("keyward.yaml", credentials, [], [], null);
        var expected = Serializer(doc, CliJson.Context.ApplyJson);
        var o = new CountingWriter();
        CliJson.WriteLine(o, doc, CliJson.Context.ApplyJson);
        Assert.Equal(expected, o.ToString());
        var chunks = (System.Text.Encoding.UTF8.GetByteCount(expected) / (64 * 1024)) + 1;
        Assert.InRange(o.Writes, chunks, chunks + 2); // the chunks, the last one at Complete, the newline
    }

    /// <summary>Every other --json document goes through the same writer: each is compared with the serializer's text, with
    /// its optional fields both set and left out, so a type whose generated code differs cannot slip in.</summary>
    [Fact]
    public void EveryOtherDocument_IsTheSerializersText()
    {
        var at = new DateTimeOffset(2026, 12, 3, 8, 15, 0, TimeSpan.Zero);
        const string odd = "a <b> & 'c' \"d\" — ünï 🔑\t\u0002";
        var compared = 0;
        void Same<T>(T value, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> info)
        {
            Assert.NotNull(info.SerializeHandler);
            Assert.Equal(Serializer(value, info), FastPath(value, info));
            compared++;
        }

        Same(new CheckJson(1, [new CheckReportJson("sink", odd, true,
            [new CheckConditionJson("Ready", "False", "ContentDiffers", odd, at, null), new CheckConditionJson("Verified", "True", "Ok", "", at, at)])]),
            CliJson.Context.CheckJson);
        Same([new ListRowJson(odd, "AtticToken", 2, "active", at, null, "fp", "minted", []),
            new ListRowJson("b", "NixSigningKey", 1, "retired", at, at.AddDays(30), "fp2", "imported", ["s1", odd])], CliJson.Context.ListRowJsonArray);
        Same([new TaxonomyRowJson(odd, "Secret", "ops", "p", "secret", ["x"], "30d", "Policy", "d", null),
            new TaxonomyRowJson("t", "Secret", "ops", "p", "secret", [], "never", "Manual", "d", "3")], CliJson.Context.TaxonomyRowJsonArray);
        Same([new AuditRowJson(1, at, "cli", "credential.create", odd, null, null, null, "h1"),
            new AuditRowJson(2, at, "serve", "service.use", "c", 4, "fp", odd, "h2")], CliJson.Context.AuditRowJsonArray);
        Same([new TokenJson("jti", odd, 1, "ci", "push:main", at, at.AddHours(1), null, "active", "attic-jwt", 2, "fp"),
            new TokenJson("j2", "c", 1, "ci", "", at, at, at, "revoked", "attic-jwt", 1, "fp")], CliJson.Context.TokenJsonArray);
        Same(new RevokeJson("jti", odd, 1, "ci", null, true), CliJson.Context.RevokeJson);
        Same(new RevokeJson("jti", "c", 1, "ci", at, false), CliJson.Context.RevokeJson);
        Same(new RotationPlanJson(at, odd, null, true, [new RotationJson("k", "NixSigningKey", "TwoPhase", odd, ["d"])],
            [new RotationStepJson(1, "1", "stage", "key", "k", odd)], [], ["n"], [new RotationHostJson("h", ["s"])]), CliJson.Context.RotationPlanJson);
        Same(new RotationPlanJson(at, "r", ["leaked"], false, [], [], ["u"], [], []), CliJson.Context.RotationPlanJson);
        Same(new RotateJson(7, "Completed", [odd, "b"]), CliJson.Context.RotateJson);
        Same([new ReconcileJson("attic", "main", "update", [new DriftJson("isPublic", "true", odd)], [odd])], CliJson.Context.ReconcileJsonArray);
        Same(new StoreRecipientsJson(odd, [new StoreRecipientJson("age1x", "host")]), CliJson.Context.StoreRecipientsJson);
        Same(new AgenixExportJson(odd, "secrets.nix", true, [new AgenixExportFileJson("c", "c.age", 1, "fp", ["age1"], false)],
            [new SkippedJson("d", odd)]), CliJson.Context.AgenixExportJson);
        Same(new AgenixImportJson(odd, [new AgenixImportFileJson("f.age", "c", "skip", null, null, null, odd),
            new AgenixImportFileJson("g.age", "d", "import", "Secret", 2, "fp", "")]), CliJson.Context.AgenixImportJson);
        Same(new SopsExportJson(odd, false, ["age1"], [new SopsExportKeyJson("c", "K", 1, "fp")], [odd]), CliJson.Context.SopsExportJson);
        Same(new SopsImportJson(odd, [], [new SopsImportKeyJson("K", null, "skip", null, null, null, odd),
            new SopsImportKeyJson("L", "c", "import", "Secret", 3, "fp", "")]), CliJson.Context.SopsImportJson);
        Assert.Equal(16, compared);
    }
}
