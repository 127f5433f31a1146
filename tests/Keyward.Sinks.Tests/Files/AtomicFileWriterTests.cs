using System.Text;
using Keyward.Core.Errors;
using Keyward.Sinks.Files;
using Keyward.Sinks.Tests.Support;

namespace Keyward.Sinks.Tests.Files;

public sealed class AtomicFileWriterTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly List<string> _warnings = [];
    private readonly AtomicFileWriter _writer;

    public AtomicFileWriterTests()
    {
        _writer = new AtomicFileWriter(TempDir.Fingerprint(), _warnings.Add);
    }

    public void Dispose() => _dir.Dispose();

    private static byte[] Bytes(string s) => Encoding.UTF8.GetBytes(s);

    private FileWriteRequest Request(string relative, string content, int mode = 0x180 /* 0600 */, int dirMode = 0x1C0 /* 0700 */,
        string? owner = null, string? group = null, string? link = null) =>
        new(_dir[relative], Bytes(content), mode, dirMode, owner, group, link is null ? null : _dir[link]);

    private static int ModeOf(string path) => Posix.LStat(path)!.Permissions;

    [Fact]
    public void Write_NewFile_HasExactModeWhateverTheUmask()
    {
        // 0666 and 0775 have group/other write bits any usual umask (022, 027, 077) strips; the result must still be exact.
        Assert.Equal(FileWriteOutcome.Created, _writer.Write(Request("a/b/one", "x", mode: 0x1A0 /* 0640 */)));
        Assert.Equal(FileWriteOutcome.Created, _writer.Write(Request("a/b/two", "y", mode: 0x1B6 /* 0666 */, dirMode: 0x1FD /* 0775 */)));
        Assert.Equal(0x1A0, ModeOf(_dir["a/b/one"]));
        Assert.Equal(0x1B6, ModeOf(_dir["a/b/two"]));
        Assert.Equal("x", File.ReadAllText(_dir["a/b/one"]));
    }

    /// <summary>The real clock moved ahead: files written just now look old to <see cref="AtomicFileWriter.Unchanged"/>.</summary>
    private sealed class Ahead(TimeSpan by) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => System.GetUtcNow() + by;
    }

    [Fact]
    public void Unchanged_FileChangedWithinTheRacyWindow_IsNeverProvedByLstat()
    {
        // Written a moment ago: a change in the same clock tick as the look could keep every field of lstat, so nothing
        // is proved even though nothing changed (the caller reads the file again).
        var request = Request("racy", "value");
        _writer.Write(request);
        var look = _writer.Inspect(request);
        Assert.True(look.IsCurrent);
        Assert.NotNull(look.Target);
        Assert.False(_writer.Unchanged(request.Path, look));
    }

    [Fact]
    public void Unchanged_OldFile_IsProvedByOneLstatUntilItsModeSizeOrInodeChanges()
    {
        var writer = new AtomicFileWriter(TempDir.Fingerprint(), _warnings.Add) { WallClock = new Ahead(TimeSpan.FromHours(1)) };
        var request = Request("old", "value");
        writer.Write(request);
        var look = writer.Inspect(request);
        Assert.True(writer.Unchanged(request.Path, look));

        File.SetUnixFileMode(request.Path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);
        Assert.False(writer.Unchanged(request.Path, look));
        writer.Write(request);
        look = writer.Inspect(request);
        Assert.True(writer.Unchanged(request.Path, look));

        File.AppendAllText(request.Path, "!");
        Assert.False(writer.Unchanged(request.Path, look));
        writer.Write(request);
        look = writer.Inspect(request);
        Assert.True(writer.Unchanged(request.Path, look));

        // The same bytes and mode renamed over it: another inode.
        var other = _dir["old.new"];
        File.WriteAllText(other, "value");
        File.SetUnixFileMode(other, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.Move(other, request.Path, overwrite: true);
        Assert.False(writer.Unchanged(request.Path, look));

        File.Delete(request.Path);
        Assert.False(writer.Unchanged(request.Path, look));
        Assert.False(writer.Unchanged(request.Path, writer.Inspect(request))); // nothing there: no earlier status
    }

    [Fact]
    public void Write_MissingDirectories_AreCreatedWithDirectoryMode()
    {
        _writer.Write(Request("persist/root/.config/op/token", "t", dirMode: 0x1C0));
        Assert.Equal(0x1C0, ModeOf(_dir["persist/root/.config/op"]));
        Assert.Equal(0x1C0, ModeOf(_dir["persist/root"]));
        _writer.Write(Request("other/file", "t", dirMode: 0x1FD /* 0775 */));
        Assert.Equal(0x1FD, ModeOf(_dir["other"]));
    }

    [Fact]
    public void Write_SameContent_TouchesNothing()
    {
        var request = Request("f", "same");
        _writer.Write(request);
        var before = Posix.LStat(request.Path)!;
        Thread.Sleep(20);
        Assert.Equal(FileWriteOutcome.Unchanged, _writer.Write(request with { Content = Bytes("same") }));
        var after = Posix.LStat(request.Path)!;
        Assert.Equal(before.Inode, after.Inode);
        Assert.Equal((before.MtimeSeconds, before.MtimeNanoseconds), (after.MtimeSeconds, after.MtimeNanoseconds));
        Assert.True(_writer.IsCurrent(request));
    }

    [Fact]
    public void Write_ChangedContent_ReplacesTheFileAtomically()
    {
        var request = Request("f", "old");
        _writer.Write(request);
        var before = Posix.LStat(request.Path)!;
        Assert.False(_writer.IsCurrent(request with { Content = Bytes("new") }));
        Assert.Equal(FileWriteOutcome.Updated, _writer.Write(request with { Content = Bytes("new") }));
        Assert.Equal("new", File.ReadAllText(request.Path));
        Assert.NotEqual(before.Inode, Posix.LStat(request.Path)!.Inode); // a new file renamed over the old one
        Assert.Single(Directory.GetFileSystemEntries(_dir.Path)); // no temporary left behind
    }

    [Fact]
    public void Write_SameLengthDifferentContent_IsDetected()
    {
        var request = Request("f", "aaaa");
        _writer.Write(request);
        Assert.Equal(FileWriteOutcome.Updated, _writer.Write(request with { Content = Bytes("bbbb") }));
        Assert.Equal("bbbb", File.ReadAllText(request.Path));
    }

    [Fact]
    public void Write_WrongModeOnly_IsFixedInPlace()
    {
        var request = Request("f", "c");
        _writer.Write(request);
        var inode = Posix.LStat(request.Path)!.Inode;
        File.SetUnixFileMode(request.Path, (UnixFileMode)0x1A4 /* 0644 */);
        Assert.False(_writer.IsCurrent(request));
        Assert.Equal(FileWriteOutcome.Updated, _writer.Write(request));
        Assert.Equal(0x180, ModeOf(request.Path));
        Assert.Equal(inode, Posix.LStat(request.Path)!.Inode);
        Assert.True(_writer.IsCurrent(request));
    }

    [Fact]
    public void Write_FailureBeforeRename_LeavesNoTemporaryAndKeepsTheOldFile()
    {
        var request = Request("d/f", "old");
        _writer.Write(request);
        string? seen = null;
        _writer.BeforeRename = temp =>
        {
            seen = temp;
            Assert.True(File.Exists(temp));
            Assert.Equal(0x180, ModeOf(temp)); // the temporary already has the final mode
            throw new IOException("injected failure");
        };
        var e = Assert.Throws<KeywardException>(() => _writer.Write(request with { Content = Bytes("new") }));
        Assert.Equal(ErrorCodes.SinkWriteFailed, e.First.Code);
        Assert.NotNull(seen);
        Assert.StartsWith(_dir["d/.f."], seen, StringComparison.Ordinal); // same directory, hidden, random suffix
        Assert.False(File.Exists(seen));
        Assert.Equal(["f"], Directory.GetFileSystemEntries(_dir["d"]).Select(Path.GetFileName));
        Assert.Equal("old", File.ReadAllText(request.Path));
    }

    [Fact]
    public void Write_TemporaryNames_AreUnguessable()
    {
        var names = new HashSet<string>();
        _writer.BeforeRename = t => names.Add(t);
        for (var i = 0; i < 5; i++) _writer.Write(Request("f", "v" + i));
        Assert.Equal(5, names.Count);
    }

    [Fact]
    public void Write_TargetIsSymlink_IsRefused()
    {
        File.WriteAllText(_dir["elsewhere"], "victim");
        File.CreateSymbolicLink(_dir["f"], _dir["elsewhere"]);
        var e = Assert.Throws<KeywardException>(() => _writer.Write(Request("f", "secret")));
        Assert.Equal(ErrorCodes.SinkTargetIsSymlink, e.First.Code);
        Assert.Equal("victim", File.ReadAllText(_dir["elsewhere"]));
        Assert.False(_writer.IsCurrent(Request("f", "victim")));
    }

    [Fact]
    public void Write_TargetIsDirectory_IsRefused()
    {
        Directory.CreateDirectory(_dir["f"]);
        Assert.Equal(ErrorCodes.SinkTargetNotFile, Assert.Throws<KeywardException>(() => _writer.Write(Request("f", "x"))).First.Code);
    }

    [Fact]
    public void Write_PersistedSink_RuntimePathLinksToStorage()
    {
        var request = Request("persist/root/.config/op/token", "ops_x", link: "root/.config/op/token");
        Assert.Equal(FileWriteOutcome.Created, _writer.Write(request));
        // Relative, so the link survives building under --root and mounting the tree at /.
        Assert.Equal("../../../persist/root/.config/op/token", new FileInfo(request.SymlinkFrom!).LinkTarget);
        Assert.Equal("ops_x", File.ReadAllText(request.SymlinkFrom!));
        Assert.Equal(0x1C0, ModeOf(_dir["root/.config/op"]));
        Assert.True(_writer.IsCurrent(request));
        Assert.Equal(FileWriteOutcome.Unchanged, _writer.Write(request));
    }

    [Fact]
    public void Write_PersistedSink_WrongLinkOrStaleFile_IsReplaced()
    {
        var request = Request("persist/token", "v", link: "run/token");
        Directory.CreateDirectory(_dir["run"]);
        File.CreateSymbolicLink(_dir["run/token"], _dir["somewhere-else"]);
        _writer.Write(request);
        Assert.Equal("../persist/token", new FileInfo(request.SymlinkFrom!).LinkTarget);

        File.Delete(request.SymlinkFrom!);
        File.WriteAllText(request.SymlinkFrom!, "stale plaintext copy");
        Assert.False(_writer.IsCurrent(request));
        Assert.Equal(FileWriteOutcome.Updated, _writer.Write(request)); // content unchanged, link fixed
        Assert.Equal("../persist/token", new FileInfo(request.SymlinkFrom!).LinkTarget);
        Assert.DoesNotContain(Directory.GetFileSystemEntries(_dir["run"]), p => Path.GetFileName(p).StartsWith('.'));
    }

    [Fact]
    public void Write_PersistedSink_RuntimePathIsDirectory_IsRefused()
    {
        Directory.CreateDirectory(_dir["run/token"]);
        var e = Assert.Throws<KeywardException>(() => _writer.Write(Request("persist/token", "v", link: "run/token")));
        Assert.Equal(ErrorCodes.SinkLinkConflict, e.First.Code);
    }

    [Fact]
    public void Write_AsRoot_AppliesOwnerAndGroupByNameAndId()
    {
        if (!Posix.IsRoot) Assert.Skip("ownership needs root (CI runs the tests as root)");
        var request = Request("owned/f", "x", owner: "daemon", group: "nogroup");
        _writer.Write(request);
        var status = Posix.LStat(request.Path)!;
        Assert.Equal((Posix.UserId("daemon")!.Value, Posix.GroupId("nogroup")!.Value), (status.Uid, status.Gid));
        Assert.Equal(1u, Posix.LStat(_dir["owned"])!.Uid); // created directories belong to the owner too
        Assert.Equal(0x180, status.Permissions);
        Assert.Empty(_warnings);

        // Ownership drift is corrected in place; numeric ids work.
        Posix.Chown(request.Path, 0, 0);
        Assert.False(_writer.IsCurrent(request));
        Assert.Equal(FileWriteOutcome.Updated, _writer.Write(request with { Owner = "1", Group = "65534" }));
        Assert.Equal((1u, 65534u), (Posix.LStat(request.Path)!.Uid, Posix.LStat(request.Path)!.Gid));
        Assert.Equal(FileWriteOutcome.Unchanged, _writer.Write(request));
    }

    [Fact]
    public void Write_UnknownOwner_IsRefused()
    {
        if (!Posix.IsRoot) Assert.Skip("owner lookup happens only as root");
        var e = Assert.Throws<KeywardException>(() => _writer.Write(Request("f", "x", owner: "no-such-user-kw")));
        Assert.Equal(ErrorCodes.SinkUnknownOwner, e.First.Code);
        Assert.False(File.Exists(_dir["f"]));
    }

    [Fact]
    public void Write_NotRoot_WarnsOnceAndSkipsOwnership()
    {
        var warnings = new List<string>();
        var writer = new AtomicFileWriter(TempDir.Fingerprint(), warnings.Add, isRoot: false);
        writer.Write(Request("a", "x", owner: "daemon"));
        writer.Write(Request("b", "y", owner: "daemon", group: "daemon"));
        var warning = Assert.Single(warnings);
        Assert.Contains("not running as root", warning, StringComparison.Ordinal);
        Assert.Equal(FileWriteOutcome.Unchanged, writer.Write(Request("a", "x", owner: "daemon")));
        Assert.True(writer.IsCurrent(Request("a", "x", owner: "daemon")));
    }

    [Fact]
    public void IsCurrent_MissingFile_IsFalseAndWritesNothing()
    {
        Assert.False(_writer.IsCurrent(Request("x/y/z", "v")));
        Assert.Empty(Directory.GetFileSystemEntries(_dir.Path));
    }

    [Fact]
    public void Write_FileContent_IsNeverInExceptionMessages()
    {
        const string secret = "S3cr3t-value-for-leak-check";
        Directory.CreateDirectory(_dir["blocked"]);
        File.WriteAllText(_dir["blocked/f"], "");
        File.SetUnixFileMode(_dir["blocked"], UnixFileMode.UserRead | UnixFileMode.UserExecute);
        _writer.BeforeRename = _ => throw new IOException("injected");
        var e = Assert.Throws<KeywardException>(() => _writer.Write(Request("blocked2/f", secret)));
        Assert.DoesNotContain(secret, e.ToString(), StringComparison.Ordinal);
        File.SetUnixFileMode(_dir["blocked"], (UnixFileMode)0x1C0);
    }
}
