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
}
