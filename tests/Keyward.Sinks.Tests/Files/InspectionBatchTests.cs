using System.Text;
using Keyward.Core.Errors;
using Keyward.Sinks.Files;
using Keyward.Sinks.Tests.Support;

namespace Keyward.Sinks.Tests.Files;

/// <summary>Inspections that share one walk per directory (<see cref="InspectionBatch"/>) give every answer a walk of
/// their own gives: each kind of drift in one directory, a link or world-writable directory refused for every file in it,
/// a missing directory missing.</summary>
public sealed class InspectionBatchTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Root => _dir["root"];

    private AtomicFileWriter Writer() => new(TempDir.Fingerprint(), _ => { }) { Root = Root };

    private string At(string relative) => Path.Combine(Root, relative);

    private static FileWriteRequest Request(string path, string content, int mode = 0x180) =>
        new(path, Encoding.UTF8.GetBytes(content), mode, 0x1C0, null, null, null);

    [Fact]
    public void EveryKindOfDriftInOneDirectory_IsFoundAsWithoutTheBatch()
    {
        var writer = Writer();
        string[] names = ["same", "edited", "longer", "mode", "gone", "link", "dir", "big-same", "big-edited"];
        var big = new string('x', 5000); // past the stack buffer: read into an array
        foreach (var n in names) writer.Write(Request(At($"srv/s/{n}"), n.StartsWith("big", StringComparison.Ordinal) ? big : "value-" + n));
        File.WriteAllText(At("srv/s/edited"), "VALUE-edited"); // same length, other bytes
        File.WriteAllText(At("srv/s/longer"), "value-longer and more");
        File.SetUnixFileMode(At("srv/s/mode"), (UnixFileMode)0x1A4);
        File.Delete(At("srv/s/gone"));
        File.Delete(At("srv/s/link"));
        File.WriteAllText(_dir["elsewhere"], "value-link");
        File.CreateSymbolicLink(At("srv/s/link"), _dir["elsewhere"]);
        File.Delete(At("srv/s/dir"));
        Directory.CreateDirectory(At("srv/s/dir"));
        File.WriteAllText(At("srv/s/big-edited"), new string('y', 5000));

        var requests = names.Select(n => Request(At($"srv/s/{n}"), n.StartsWith("big", StringComparison.Ordinal) ? big : "value-" + n)).ToArray();
        var alone = requests.Select(r => Writer().Inspect(r)).ToArray();
        FileInspection[] batched;
        using (var batch = writer.BeginInspections()) batched = requests.Select(r => writer.Inspect(r, batch)).ToArray();

        for (var i = 0; i < names.Length; i++)
        {
            Assert.Equal(alone[i].Differences, batched[i].Differences);
            Assert.Equal(alone[i].Mode, batched[i].Mode);
        }
        var found = names.Zip(batched, (n, f) => (n, f.Differences)).ToDictionary(x => x.n, x => x.Differences);
        Assert.Equal(FileDifferences.None, found["same"]);
        Assert.Equal(FileDifferences.None, found["big-same"]);
        Assert.Equal(FileDifferences.Content, found["edited"]);
        Assert.Equal(FileDifferences.Content, found["big-edited"]);
        Assert.Equal(FileDifferences.Content, found["longer"]);
        Assert.Equal(FileDifferences.Mode, found["mode"]);
        Assert.Equal(FileDifferences.Missing, found["gone"]);
        Assert.True(found["link"].HasFlag(FileDifferences.NotRegularFile));
        Assert.True(found["dir"].HasFlag(FileDifferences.NotRegularFile));
    }

    [Fact]
    public void ADirectoryThatIsALinkUnderTheRoot_IsRefusedForEveryFileInIt()
    {
        var writer = Writer();
        writer.Write(Request(At("srv/ok/a"), "x"));
        var outside = Directory.CreateDirectory(_dir["outside"]).FullName;
        File.WriteAllText(Path.Combine(outside, "a"), "x");
        File.WriteAllText(Path.Combine(outside, "b"), "x");
        File.CreateSymbolicLink(At("srv/linked"), outside);
        using var batch = writer.BeginInspections();
        Assert.True(writer.Inspect(Request(At("srv/ok/a"), "x"), batch).IsCurrent);
        foreach (var n in new[] { "a", "b", "a" })
        {
            var e = Assert.Throws<KeywardException>(() => writer.Inspect(Request(At($"srv/linked/{n}"), "x"), batch));
            Assert.Equal(ErrorCodes.SinkParentIsSymlink, e.First.Code);
        }
    }

    [Fact]
    public void AWorldWritableDirectory_IsRefusedForEveryFileInIt()
    {
        var writer = Writer();
        writer.Write(Request(At("srv/open/a"), "x"));
        File.SetUnixFileMode(At("srv/open"), (UnixFileMode)0x1FF);
        using var batch = writer.BeginInspections();
        for (var i = 0; i < 2; i++)
            Assert.Equal(ErrorCodes.SinkUnsafeDirectory,
                Assert.Throws<KeywardException>(() => writer.Inspect(Request(At("srv/open/a"), "x"), batch)).First.Code);
    }

    [Fact]
    public void AMissingDirectory_MakesItsFilesMissing_AndADisposedBatchIsNotUsed()
    {
        var writer = Writer();
        writer.Write(Request(At("srv/here/a"), "x"));
        var batch = writer.BeginInspections();
        Assert.Equal(FileDifferences.Missing, writer.Inspect(Request(At("srv/nowhere/a"), "x"), batch).Differences);
        Assert.Equal(FileDifferences.Missing, writer.Inspect(Request(At("srv/nowhere/b"), "x"), batch).Differences);
        Assert.True(writer.Inspect(Request(At("srv/here/a"), "x"), batch).IsCurrent);
        batch.Dispose();
        Assert.Throws<ObjectDisposedException>(() => writer.Inspect(Request(At("srv/here/a"), "x"), batch));
    }

    [Fact]
    public void MoreDirectoriesThanItHolds_AreWalkedPerFile_WithTheSameAnswers()
    {
        var writer = Writer();
        var requests = new List<FileWriteRequest>();
        for (var d = 0; d < 6; d++)
        {
            for (var f = 0; f < 3; f++)
            {
                var request = Request(At($"srv/d{d}/f{f}"), $"value-{d}-{f}");
                writer.Write(request);
                requests.Add(request);
            }
        }
        File.WriteAllText(At("srv/d5/f1"), "value-5-X");
        File.Delete(At("srv/d4/f2"));
        using var batch = writer.BeginInspections(capacity: 2);
        var found = requests.Select(r => writer.Inspect(r, batch).Differences).ToArray();
        Assert.Equal(2, batch.OpenCount);
        for (var i = 0; i < requests.Count; i++)
        {
            var expected = requests[i].Path.EndsWith("d5/f1", StringComparison.Ordinal) ? FileDifferences.Content
                : requests[i].Path.EndsWith("d4/f2", StringComparison.Ordinal) ? FileDifferences.Missing
                : FileDifferences.None;
            Assert.Equal(expected, found[i]);
        }
        // A directory beyond the two held is still checked at every file: made a link, each of its files is refused.
        Directory.Move(At("srv/d3"), _dir["moved"]);
        File.CreateSymbolicLink(At("srv/d3"), _dir["moved"]);
        Assert.Equal(ErrorCodes.SinkParentIsSymlink,
            Assert.Throws<KeywardException>(() => writer.Inspect(Request(At("srv/d3/f0"), "value-3-0"), batch)).First.Code);
    }

    [Theory]
    [InlineData("/a/b", true)]
    [InlineData("/a", true)]
    [InlineData("/a//b", false)]
    [InlineData("/a/./b", false)]
    [InlineData("/a/../b", false)]
    [InlineData("/a/b/", false)]
    [InlineData("/a/b/.", false)]
    [InlineData("/a/..", false)]
    [InlineData("/a/.b/..c", true)]
    [InlineData("/a/b\0", false)]
    public void PathsAreNormalisedAsBefore(string path, bool normalised)
    {
        Assert.Equal(normalised, AtomicFileWriter.Normalised(path));
        Assert.Equal(!path.Contains('\0', StringComparison.Ordinal) && !path.Split('/').Skip(1).Any(c => c is "" or "." or ".."), normalised);
    }
}
