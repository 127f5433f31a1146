using Keyward.Core.Errors;
using Keyward.Core.Inputs;
using Keyward.Core.Manifest;
using Keyward.Core.Time;

namespace Keyward.Core.Tests.Inputs;

/// <summary>Issue 9, "Bad input": limits on what Keyward reads, and the edge cases that were internal errors.</summary>
public sealed class BoundedInputTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("keyward-input-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void TryRead_RegularFileWithinTheLimit_ReturnsItsBytes()
    {
        var path = Path.Combine(_dir, "a");
        File.WriteAllBytes(path, [1, 2, 3]);
        Assert.Equal(InputFileProblem.None, InputFile.TryRead(path, 3, out var bytes, out _));
        Assert.Equal([1, 2, 3], bytes);
        Assert.Equal(InputFileProblem.TooLarge, InputFile.TryRead(path, 2, out _, out _));
    }

    [Fact]
    public void TryRead_FileLongerThanItsStatxSize_IsReadWhole_AndStillBounded()
    {
        // procfs files are regular files of size 0 whose content appears on reading: the read runs past the size statx
        // gave (as for a file that grows meanwhile), to the end or to one byte past the limit.
        var expected = File.ReadAllBytes("/proc/self/cmdline");
        Assert.True(expected.Length > 1);
        Assert.Equal(InputFileProblem.None, InputFile.TryRead("/proc/self/cmdline", 1 << 20, out var bytes, out _));
        Assert.Equal(expected, bytes);
        Assert.Equal(InputFileProblem.None, InputFile.TryRead("/proc/self/cmdline", expected.Length, out bytes, out _));
        Assert.Equal(expected, bytes);
        Assert.Equal(InputFileProblem.TooLarge, InputFile.TryRead("/proc/self/cmdline", expected.Length - 1, out _, out _));
        var empty = Path.Combine(_dir, "empty");
        File.WriteAllBytes(empty, []);
        Assert.Equal(InputFileProblem.None, InputFile.TryRead(empty, 10, out bytes, out _));
        Assert.Empty(bytes);
    }

    [Fact]
    public void TryRead_DevicesDirectoriesAndMissingFiles_AreNamed()
    {
        Assert.Equal(InputFileProblem.NotRegular, InputFile.TryRead("/dev/zero", 10, out _, out var device));
        Assert.Equal("a character device", device);
        Assert.Equal(InputFileProblem.NotRegular, InputFile.TryRead(_dir, 10, out _, out var dir));
        Assert.Equal("a directory", dir);
        Assert.Equal(InputFileProblem.Missing, InputFile.TryRead(Path.Combine(_dir, "nope"), 10, out _, out _));
        Assert.Equal(InputFileProblem.Missing, InputFile.TryRead(Path.Combine(_dir, "nope", "deeper"), 10, out _, out _));
    }

    [Fact]
    public void Yaml_NestedPastTheLimit_IsKW0119AtThePosition_NotAStackOverflow()
    {
        var yaml = "apiVersion: keyward/v1\ncredentials:\n  a: " + new string('[', 20_000) + new string(']', 20_000) + "\n";
        var result = ManifestLoader.Parse(yaml, "deep.yaml");
        var error = Assert.Single(result.Errors);
        Assert.Equal(ErrorCodes.ManifestTooDeep, error.Code);
        Assert.Equal(new SourceLocation("deep.yaml", 3, 68), error.Location);
    }

    [Fact]
    public void Yaml_NestedJustWithinTheLimit_IsNotRefusedForDepth()
    {
        var yaml = "apiVersion: keyward/v1\ncredentials:\n  a: " + new string('[', 60) + new string(']', 60) + "\n";
        Assert.DoesNotContain(ManifestLoader.Parse(yaml, "m.yaml").Errors, e => e.Code == ErrorCodes.ManifestTooDeep);
    }

    [Theory]
    [InlineData("1000y", true)]
    [InlineData("1001y", false)]
    [InlineData("9000000000000000000s", false)]
    public void Duration_IsLimitedTo1000Years(string text, bool ok) => Assert.Equal(ok, HumanDuration.TryParse(text, out _, out _));

    [Theory]
    [InlineData("0001-01-01T00:00:00-14:00")]
    [InlineData("0001-01-01")]
    [InlineData("9999-12-31T23:59:59Z")]
    [InlineData("1969-12-31T23:59:59Z")]
    public void Expires_OutsideTheSupportedYears_IsKW0112WithLocation(string date)
    {
        var yaml = $"apiVersion: keyward/v1\ncredentials:\n  gh: {{ kind: external, provider: github, owner: o, purpose: p, expires: \"{date}\", source: {{ env: GH }} }}\n";
        var error = Assert.Single(ManifestLoader.Parse(yaml, "m.yaml").Errors);
        Assert.Equal(ErrorCodes.ManifestInvalidDate, error.Code);
        Assert.Equal(3, error.Location!.Line);
    }

    [Theory]
    [InlineData(256, 1, false)]
    [InlineData(231, 1, false)] // the file name must leave room for the temporary name beside it (".NAME.<16 hex>.kw-tmp")
    [InlineData(230, 1, true)]
    [InlineData(250, 17, false)] // 17 * 251 + 5 bytes > 4095
    public void SinkPath_ComponentOrTotalLength_IsCheckedAgainstLinuxLimits(int component, int count, bool ok)
    {
        var path = "/run/" + string.Join('/', Enumerable.Repeat(new string('é', component / 2) + (component % 2 == 1 ? "x" : ""), count));
        var yaml = $"apiVersion: keyward/v1\ncredentials:\n  s: {{ kind: secret, owner: o, purpose: p }}\nsinks:\n  out: {{ path: \"{path}\", format: raw, credential: s, mode: \"0600\" }}\n";
        var errors = ManifestLoader.Parse(yaml, "m.yaml").Errors.ToList();
        if (ok) Assert.Empty(errors);
        else Assert.Equal(ErrorCodes.ManifestInvalidPath, Assert.Single(errors).Code);
    }

    [Fact]
    public void Hook_PassEnv_IsReadAndValidated()
    {
        const string Head = "apiVersion: keyward/v1\ncredentials:\n  s: { kind: secret, owner: o, purpose: p }\nsinks:\n  out: { path: /run/x, format: raw, credential: s, mode: \"0600\", onChange: ";
        var ok = ManifestLoader.Parse(Head + "{ restart: a.service, passEnv: [NOTIFY_ME, LC_TIME] } }\n", "m.yaml");
        Assert.Empty(ok.Errors);
        Assert.Equal(["NOTIFY_ME", "LC_TIME"], ok.Manifest!.Sinks.Single().OnChange.Single().PassEnv);
        var bad = ManifestLoader.Parse(Head + "{ command: [x], passEnv: [\"1BAD\"] } }\n", "m.yaml");
        Assert.Equal(ErrorCodes.ManifestInvalidEnvName, Assert.Single(bad.Errors).Code);
    }

    [Theory]
    [InlineData("UnauthorizedAccess_IODenied_Path, /x", "permission denied")]
    public void IoErrorText_NeverShowsAResourceKey(string message, string expected) =>
        Assert.Equal(expected, IoErrorText.Describe(new UnauthorizedAccessException(message)));

    [Fact]
    public void IoErrorText_ErrnoInHResult_IsStrerror() =>
        Assert.Equal("No space left on device", IoErrorText.Describe(new IOException("IO_DiskFull_Path, /x", 28)));
}
