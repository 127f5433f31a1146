using System.Text.RegularExpressions;
using Keyward.Core.Errors;
using Keyward.Core.Manifest;

namespace Keyward.Core.Tests.Manifest;

/// <summary>Each file in tests/data/manifests/invalid starts with <c># expect: KW####</c> (the code it must report),
/// optionally followed by <c># at: LINE:COL</c> (where).</summary>
public sealed partial class InvalidManifestTests
{
    public static TheoryData<string> Files() => [.. ManifestFiles.All("invalid").Select(f => Path.GetFileName(f))];

    [Theory]
    [MemberData(nameof(Files))]
    public void InvalidManifest_ReportsExpectedCodeWithPosition(string name)
    {
        var path = Path.Combine(ManifestFiles.Data("invalid"), name);
        var lines = File.ReadAllLines(path);
        var expect = ExpectRegex().Match(lines[0]);
        Assert.True(expect.Success, $"{name}: the first line must be '# expect: KW####'");
        var code = expect.Groups[1].Value;

        var result = ManifestLoader.Load(path);
        var report = string.Join("\n", result.Diagnostics.Select(d => (d.IsWarning ? "warning " : "") + d.Error));

        Assert.True(result.HasErrors, $"{name}: no errors reported\n{report}");
        Assert.Null(result.Manifest);
        var hits = result.Errors.Where(e => e.Code.Code == code).ToList();
        Assert.True(hits.Count > 0, $"{name}: expected {code}, got:\n{report}");
        foreach (var hit in hits)
        {
            Assert.NotNull(hit.Location);
            Assert.Equal(path, hit.Location.File);
            Assert.True(hit.Location.Line >= 1 && hit.Location.Column >= 1, $"{name}: bad position {hit.Location}");
            Assert.True(hit.Location.Line <= Math.Max(1, lines.Length), $"{name}: line {hit.Location.Line} is past the end of the file");
            Assert.False(string.IsNullOrWhiteSpace(hit.Hint));
        }
        if (lines.Length > 1 && AtRegex().Match(lines[1]) is { Success: true } at)
        {
            var want = (int.Parse(at.Groups[1].Value), int.Parse(at.Groups[2].Value));
            Assert.Contains(want, hits.Select(h => (h.Location!.Line, h.Location.Column)));
        }
    }

    [Fact]
    public void InvalidSet_IsLargeAndCoversEveryManifestErrorCode()
    {
        var expected = ManifestFiles.All("invalid")
            .Select(f => ExpectRegex().Match(File.ReadLines(f).First()).Groups[1].Value)
            .ToHashSet();
        Assert.True(ManifestFiles.All("invalid").Count() >= 30);
        // Warning-only codes are covered by ManifestValidationTests.
        var warningsOnly = new[] { ErrorCodes.ManifestShadowedPattern.Code, ErrorCodes.ManifestIgnoredSetting.Code, ErrorCodes.ManifestLiteralLooksSecret.Code, ErrorCodes.ManifestAtticEnvWithoutPublicKey.Code };
        var missing = ErrorCodes.All
            .Where(c => c.Code.StartsWith("KW01", StringComparison.Ordinal) || c.Code.StartsWith("KW02", StringComparison.Ordinal))
            .Select(c => c.Code)
            .Except(warningsOnly)
            .Where(c => !expected.Contains(c))
            .ToList();
        Assert.True(missing.Count == 0, "no invalid manifest expects: " + string.Join(", ", missing));
    }

    [GeneratedRegex(@"^# expect: (KW[0-9]{4})$")]
    private static partial Regex ExpectRegex();

    [GeneratedRegex(@"^# at: ([0-9]+):([0-9]+)$")]
    private static partial Regex AtRegex();
}
