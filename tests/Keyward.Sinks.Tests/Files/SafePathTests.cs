using System.Diagnostics;
using System.Text;
using Keyward.Core.Errors;
using Keyward.Sinks.Files;
using Keyward.Sinks.Tests.Support;

namespace Keyward.Sinks.Tests.Files;

/// <summary>Symlink-safe, policy-safe writes: no link below --root, no other user's link, no world-writable directory,
/// and the declared owner on an existing file whatever its content.</summary>
public sealed class SafePathTests : IDisposable
{
    private readonly TempDir _dir = new();
    private readonly List<string> _warnings = [];

    public void Dispose() => _dir.Dispose();

    private string Root => _dir["root"];

    private AtomicFileWriter Writer(string? root = null) => new(TempDir.Fingerprint(), _warnings.Add) { Root = root };

    private static FileWriteRequest Request(string path, string content, string? owner = null, string? group = null, string? link = null) =>
        new(path, Encoding.UTF8.GetBytes(content), 0x180, 0x1C0, owner, group, link);

    private static void Run(string file, params string[] args)
    {
        using var p = Process.Start(new ProcessStartInfo(file, args) { RedirectStandardError = true })!;
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"{file} {string.Join(' ', args)}: {p.StandardError.ReadToEnd()}");
    }

    [Fact]
    public void Write_UnderRoot_SymlinkedParentOutsideTheRoot_IsRefusedAndNothingIsWrittenThere()
    {
        // The reproduction: ln -s $PWD/v R/etc/nix; keyward apply --root R
        Directory.CreateDirectory(Path.Combine(Root, "etc"));
        var outside = Directory.CreateDirectory(_dir["v"]).FullName;
        File.CreateSymbolicLink(Path.Combine(Root, "etc/nix"), outside);
        var writer = Writer(Root);

        var e = Assert.Throws<KeywardException>(() => writer.Write(Request(Path.Combine(Root, "etc/nix/netrc"), "machine x password secret")));
        Assert.Equal(ErrorCodes.SinkParentIsSymlink, e.First.Code);
        Assert.Contains("etc/nix", e.First.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFileSystemEntries(outside));
        // The dry run says the same, before anything is written.
        Assert.Equal(ErrorCodes.SinkParentIsSymlink, Assert.Throws<KeywardException>(() => writer.Check(Request(Path.Combine(Root, "etc/nix/netrc"), "x"))).First.Code);
    }

    [Fact]
    public void Write_UnderRoot_DirectoryReplacedByALinkAfterAnEarlierWrite_IsStillRefused()
    {
        // The writer remembers directories it has walked; a remembered one swapped for a link is walked again.
        var writer = Writer(Root);
        writer.Write(Request(Path.Combine(Root, "etc/nix/a"), "x"));
        Directory.Delete(Path.Combine(Root, "etc/nix"), recursive: true);
        var outside = Directory.CreateDirectory(_dir["v"]).FullName;
        File.CreateSymbolicLink(Path.Combine(Root, "etc/nix"), outside);
        var e = Assert.Throws<KeywardException>(() => writer.Write(Request(Path.Combine(Root, "etc/nix/b"), "secret")));
        Assert.Equal(ErrorCodes.SinkParentIsSymlink, e.First.Code);
        Assert.Empty(Directory.GetFileSystemEntries(outside));
    }

    [Fact]
    public void Write_RememberedDirectoryReplacedByAWorldWritableOne_IsRefused()
    {
        var writer = Writer();
        writer.Write(Request(_dir["d/a"], "x"));
        Directory.Delete(_dir["d"], recursive: true);
        Directory.CreateDirectory(_dir["d"]);
        File.SetUnixFileMode(_dir["d"], (UnixFileMode)0x1FF);
        Assert.Equal(ErrorCodes.SinkUnsafeDirectory, Assert.Throws<KeywardException>(() => writer.Write(Request(_dir["d/b"], "x"))).First.Code);
    }

    [Fact]
    public void Write_UnderRoot_SymlinkedParentInsideTheRoot_IsRefusedToo()
    {
        // Even a link that stays inside the root is not followed: its meaning depends on where the tree is mounted.
        Directory.CreateDirectory(Path.Combine(Root, "real"));
        File.CreateSymbolicLink(Path.Combine(Root, "etc"), "real");
        var e = Assert.Throws<KeywardException>(() => Writer(Root).Write(Request(Path.Combine(Root, "etc/f"), "x")));
        Assert.Equal(ErrorCodes.SinkParentIsSymlink, e.First.Code);
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(Root, "real")));
    }

    [Fact]
    public void Write_UnderRoot_PersistedSinkWhoseRuntimeDirectoryIsALink_IsRefused()
    {
        var outside = Directory.CreateDirectory(_dir["v"]).FullName;
        Directory.CreateDirectory(Path.Combine(Root, "root"));
        File.CreateSymbolicLink(Path.Combine(Root, "root/.config"), outside);
        var request = Request(Path.Combine(Root, "persist/root/.config/op/token"), "ops", link: Path.Combine(Root, "root/.config/op/token"));
        var e = Assert.Throws<KeywardException>(() => Writer(Root).Write(request));
        Assert.Equal(ErrorCodes.SinkParentIsSymlink, e.First.Code);
        Assert.Empty(Directory.GetFileSystemEntries(outside));
    }

    [Fact]
    public void Write_UnderRoot_TheRootItselfMayBeALink()
    {
        // The root is the caller's choice; only what lies below it is walked without following links.
        Directory.CreateDirectory(_dir["real-root"]);
        File.CreateSymbolicLink(Root, _dir["real-root"]);
        Assert.Equal(FileWriteOutcome.Created, Writer(Root).Write(Request(Path.Combine(Root, "etc/nix/netrc"), "x")));
        Assert.Equal("x", File.ReadAllText(_dir["real-root/etc/nix/netrc"]));
    }

    [Fact]
    public void Write_NoRoot_LinkOwnedByKeywardsUserOrRoot_IsFollowed()
    {
        // /var/run -> /run, /home -> var/home: system links are made by root and are followed.
        Directory.CreateDirectory(_dir["real"]);
        File.CreateSymbolicLink(_dir["alias"], "real");
        Assert.Equal(FileWriteOutcome.Created, Writer().Write(Request(_dir["alias/sub/f"], "x")));
        Assert.Equal("x", File.ReadAllText(_dir["real/sub/f"]));
    }

    [Fact]
    public void Write_NoRoot_LinkOwnedByAnotherUser_IsRefused()
    {
        if (!Posix.IsRoot) Assert.Skip("making a link owned by another user needs root (CI runs the tests as root)");
        Directory.CreateDirectory(_dir["victim"]);
        File.CreateSymbolicLink(_dir["users-link"], _dir["victim"]);
        Run("chown", "-h", "65534:65534", _dir["users-link"]);
        var e = Assert.Throws<KeywardException>(() => Writer().Write(Request(_dir["users-link/f"], "x")));
        Assert.Equal(ErrorCodes.SinkParentIsSymlink, e.First.Code);
        Assert.Contains("uid 65534", e.First.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFileSystemEntries(_dir["victim"]));
    }

    [Fact]
    public void Write_WorldWritableParentWithoutStickyBit_IsRefused()
    {
        Directory.CreateDirectory(_dir["open"]);
        File.SetUnixFileMode(_dir["open"], (UnixFileMode)0x1FF); // 0777
        var e = Assert.Throws<KeywardException>(() => Writer().Write(Request(_dir["open/f"], "secret")));
        Assert.Equal(ErrorCodes.SinkUnsafeDirectory, e.First.Code);
        Assert.Contains("0777", e.First.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFileSystemEntries(_dir["open"]));
    }

    [Fact]
    public void Write_StickySharedDirectory_OwnEntriesAreUsed_AnotherUsersDirectoryIsRefused()
    {
        Directory.CreateDirectory(_dir["tmp"]);
        File.SetUnixFileMode(_dir["tmp"], (UnixFileMode)0x3FF); // 1777, like /tmp
        Assert.Equal(FileWriteOutcome.Created, Writer().Write(Request(_dir["tmp/mine/f"], "x")));
        if (!Posix.IsRoot) return;
        Directory.CreateDirectory(_dir["tmp/planted"]);
        Posix.Chown(_dir["tmp/planted"], 65534, 65534);
        var e = Assert.Throws<KeywardException>(() => Writer().Write(Request(_dir["tmp/planted/f"], "secret")));
        Assert.Equal(ErrorCodes.SinkUnsafeDirectory, e.First.Code);
        Assert.Empty(Directory.GetFileSystemEntries(_dir["tmp/planted"]));
    }

    [Fact]
    public void Write_AsRoot_ExistingFileWithSameContentOwnedByAnotherUser_GetsTheDeclaredOwner()
    {
        if (!Posix.IsRoot) Assert.Skip("ownership needs root (CI runs the tests as root)");
        var request = Request(_dir["f"], "same", owner: "daemon");
        File.WriteAllText(request.Path, "same");
        File.SetUnixFileMode(request.Path, (UnixFileMode)0x180);
        Posix.Chown(request.Path, 65534, 65534);
        var writer = Writer();
        Assert.Equal(FileCheck.Differs, writer.Check(request));
        Assert.Equal(FileWriteOutcome.Updated, writer.Write(request));
        Assert.Equal(Posix.UserId("daemon"), Posix.LStat(request.Path)!.Uid);
        Assert.Equal(FileCheck.Current, writer.Check(request));
    }

    [Fact]
    public void Write_AsRoot_NoDeclaredOwner_ExistingFileOfAnotherUserIsTakenBack()
    {
        // Without an owner a new file belongs to Keyward's user; a matching file of someone else ends the same way,
        // so the owner never depends on whether the content happened to change.
        if (!Posix.IsRoot) Assert.Skip("ownership needs root (CI runs the tests as root)");
        var request = Request(_dir["f"], "same");
        File.WriteAllText(request.Path, "same");
        File.SetUnixFileMode(request.Path, (UnixFileMode)0x180);
        Posix.Chown(request.Path, 65534, 65534);
        Assert.Equal(FileWriteOutcome.Updated, Writer().Write(request));
        Assert.Equal(0u, Posix.LStat(request.Path)!.Uid);
        Assert.Equal(65534u, Posix.LStat(request.Path)!.Gid); // an undeclared group is left alone
    }

    [Fact]
    public void Accounts_UnderRootWithItsOwnPasswd_ResolveFromTheRootOnly()
    {
        Directory.CreateDirectory(Path.Combine(Root, "etc"));
        File.WriteAllText(Path.Combine(Root, "etc/passwd"), "root:x:0:0::/root:/bin/sh\natticd:x:990:990::/var/empty:/bin/false\n");
        File.WriteAllText(Path.Combine(Root, "etc/group"), "root:x:0:\natticd:x:991:\n");
        var accounts = Accounts.For(Root);
        Assert.True(accounts.FromRootFiles);
        Assert.Equal(990u, accounts.UserId("atticd"));
        Assert.Equal(991u, accounts.GroupId("atticd"));
        Assert.Equal(0u, accounts.UserId("root"));
        Assert.Equal(1234u, accounts.UserId("1234"));
        Assert.Null(accounts.UserId("daemon")); // exists on this host, not on the target: never mixed in
        // Without its own /etc/passwd, the running system answers (NSS), as for no root at all.
        Assert.Same(Accounts.System, Accounts.For(_dir["bare"]));
        Assert.Equal(Posix.UserId("daemon"), Accounts.For(_dir["bare"]).UserId("daemon"));
    }

    [Fact]
    public void Write_AsRoot_UnderRoot_OwnerNamesResolveWithTheRootsPasswd()
    {
        if (!Posix.IsRoot) Assert.Skip("ownership needs root (CI runs the tests as root)");
        Directory.CreateDirectory(Path.Combine(Root, "etc"));
        File.WriteAllText(Path.Combine(Root, "etc/passwd"), "root:x:0:0::/root:/bin/sh\natticd:x:990:990::/var/empty:/bin/false\n");
        var request = Request(Path.Combine(Root, "run/atticd.env"), "K=v", owner: "atticd");
        Writer(Root).Write(request);
        Assert.Equal(990u, Posix.LStat(request.Path)!.Uid);
        var e = Assert.Throws<KeywardException>(() => Writer(Root).Write(request with { Owner = "daemon" }));
        Assert.Equal(ErrorCodes.SinkUnknownOwner, e.First.Code);
        Assert.Contains("/etc/passwd", e.First.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AtomicFile_Write_ReplacesAtomicallyWithExactModeAndLeavesNoTemporary()
    {
        var path = _dir["out/conditions.json"];
        AtomicFile.Write(path, Encoding.UTF8.GetBytes("{}"), 0x180, directoryMode: 0x1C0);
        AtomicFile.Write(path, Encoding.UTF8.GetBytes("{\"a\":1}"), 0x1A0);
        Assert.Equal("{\"a\":1}", File.ReadAllText(path));
        Assert.Equal(0x1A0, Posix.LStat(path)!.Permissions);
        Assert.Equal(0x1C0, Posix.LStat(_dir["out"])!.Permissions);
        Assert.Equal(["conditions.json"], Directory.GetFileSystemEntries(_dir["out"]).Select(Path.GetFileName));
        // Without a directory mode a missing directory is an error, not silently made.
        Assert.Throws<DirectoryNotFoundException>(() => AtomicFile.Write(_dir["nope/f"], [1], 0x180));
        Assert.False(Directory.Exists(_dir["nope"]));
    }

    [Fact]
    public void AtomicFile_WriteIfChanged_SameContentAndMode_TouchesNothing()
    {
        var path = _dir["memory.json"];
        Assert.True(AtomicFile.WriteIfChanged(path, Encoding.UTF8.GetBytes("{}"), 0x180));
        var before = Posix.LStat(path)!;
        Assert.False(AtomicFile.WriteIfChanged(path, Encoding.UTF8.GetBytes("{}"), 0x180));
        Assert.Equal(before.Inode, Posix.LStat(path)!.Inode);
        Assert.True(AtomicFile.WriteIfChanged(path, Encoding.UTF8.GetBytes("{}"), 0x1A0)); // a different mode is a change
        Assert.Equal(0x1A0, Posix.LStat(path)!.Permissions);
        Assert.True(AtomicFile.WriteIfChanged(path, Encoding.UTF8.GetBytes("[]"), 0x1A0));
        Assert.Equal("[]", File.ReadAllText(path));
    }

    [Fact]
    public void AtomicFile_Write_LargeStreamInUnevenPieces_ArrivesWhole()
    {
        // Past WritebackStream.Threshold the stream asks for early writeback of what it has written; the bytes, their
        // order and the file's length must be exactly what was written, through both Write overloads.
        var path = _dir["big.bin"];
        var data = new byte[3 * WritebackStream.Threshold + 12345];
        System.Security.Cryptography.RandomNumberGenerator.Fill(data);
        AtomicFile.Write(path, s =>
        {
            var offset = 0;
            var piece = 1;
            while (offset < data.Length)
            {
                var n = Math.Min(piece, data.Length - offset);
                if (piece % 2 == 0) s.Write(data, offset, n);
                else s.Write(data.AsSpan(offset, n));
                offset += n;
                piece = piece * 3 + 1; // 1, 4, 13, … up to pieces larger than the threshold
            }
        }, 0x180);
        Assert.Equal(data, File.ReadAllBytes(path));
        Assert.Equal(0x180, Posix.LStat(path)!.Permissions);
    }

    [Fact]
    public void AtomicFile_Write_StreamThatFails_LeavesTheOldFileAndNoTemporary()
    {
        var path = _dir["f"];
        AtomicFile.Write(path, Encoding.UTF8.GetBytes("old"), 0x180);
        Assert.Throws<InvalidOperationException>(() => AtomicFile.Write(path, s =>
        {
            s.Write("partial"u8);
            throw new InvalidOperationException("injected");
        }, 0x180));
        Assert.Equal("old", File.ReadAllText(path));
        Assert.Equal(["f"], Directory.GetFileSystemEntries(_dir.Path).Select(Path.GetFileName));
    }
}
