using System.Diagnostics;

namespace Keyward.Cli.Tests;

/// <summary>Hostile or mistaken inputs from issue 9 ("Bad input", "Leaks and terminals", "Minor"): each ends in a clear
/// code and exit 2 (or a refusal), never a hang, an out-of-memory, KW0001 or a crash.</summary>
public sealed class BoundedInputTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("keyward-bounded-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string State => Path.Combine(_dir, "state");

    private string Write(string name, string text)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    private string Fifo(string name)
    {
        var path = Path.Combine(_dir, name);
        using var p = Process.Start(new ProcessStartInfo("mkfifo", [path]) { UseShellExecute = false })!;
        p.WaitForExit();
        Assert.Equal(0, p.ExitCode);
        return path;
    }

    private string Sparse(string name, long size)
    {
        var path = Path.Combine(_dir, name);
        using var fs = new FileStream(path, FileMode.CreateNew);
        fs.SetLength(size);
        return path;
    }

    private static string External(string source) =>
        "apiVersion: keyward/v1\ncredentials:\n  gh: { kind: external, provider: github, owner: o, purpose: p, host: github.com, source: " + source + " }\n";

    private async Task<CliResult> Plan(string manifest) => await new CliHarness().RunAsync("plan", "-f", manifest, "--state", State);

    private static void AssertCode(CliResult r, string code, int exit = 2)
    {
        Assert.True(r.ExitCode == exit, r.ToString());
        Assert.Contains($"error[{code}]", r.Err, StringComparison.Ordinal);
        Assert.DoesNotContain("KW0001", r.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Plan_SourceFileIsDevZero_IsRefusedAsNotARegularFile_WithItsManifestLocation()
    {
        var r = await Plan(Write("m.yaml", External("{ file: /dev/zero }")));
        AssertCode(r, "KW0010");
        Assert.Matches(@"m\.yaml:3:\d+: credential 'gh': source file /dev/zero is a character device", r.Err);
    }

    [Fact]
    public async Task Plan_SourceFileIsAFifo_IsRefusedWithoutWaitingForAWriter()
    {
        Fifo("token.fifo");
        var r = await Plan(Write("m.yaml", External("{ file: token.fifo }")));
        AssertCode(r, "KW0010");
        Assert.Contains("is a FIFO", r.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Plan_SourceFileOverOneMebibyte_IsRefusedAsTooLarge()
    {
        Sparse("token.txt", (1 << 20) + 1);
        var r = await Plan(Write("m.yaml", External("{ file: token.txt }")));
        AssertCode(r, "KW0011");
    }

    [Fact]
    public async Task Plan_TokensJsonOverOneMebibyte_IsRefusedAsTooLarge()
    {
        Sparse("tokens.json", 4L << 20);
        var r = await Plan(Write("m.yaml", External("{ jsonMap: tokens.json, key: github.com }")));
        AssertCode(r, "KW0011");
        Assert.Contains("JSON map", r.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Plan_TokensJsonIsADirectory_IsRefusedAsNotARegularFile()
    {
        Directory.CreateDirectory(Path.Combine(_dir, "tokens.json"));
        var r = await Plan(Write("m.yaml", External("{ jsonMap: tokens.json, key: github.com }")));
        AssertCode(r, "KW0010");
    }

    [Fact]
    public async Task Plan_ManifestIsAFifoOrADevice_IsRefusedWithoutHanging()
    {
        AssertCode(await Plan(Fifo("m.fifo")), "KW0010");
        AssertCode(await Plan("/dev/zero"), "KW0010");
    }

    [Fact]
    public async Task Plan_ManifestOver16Mebibytes_IsRefusedAsTooLarge() =>
        AssertCode(await Plan(Sparse("huge.yaml", (16L << 20) + 1)), "KW0011");

    [Fact]
    public async Task Plan_ExpiresNearYearOne_IsAnInvalidDateWithLocation_NotAnInternalError()
    {
        var m = Write("m.yaml", "apiVersion: keyward/v1\ncredentials:\n  gh: { kind: external, provider: github, owner: o, purpose: p, expires: \"0001-01-01T00:00:00-14:00\", source: { env: GH } }\n");
        var h = new CliHarness();
        h.Env["GH"] = "ghp_" + new string('a', 36);
        var r = await h.RunAsync("plan", "-f", m, "--state", State);
        AssertCode(r, "KW0112");
        Assert.Contains("m.yaml:3:", r.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Apply_SinkPathPastPathMaxUnderRoot_IsWrittenThroughTheSafeWalk_NotAnInternalError()
    {
        // Each component is legal (203 bytes) and the manifest path is 4086 bytes (under 4095), but --root pushes it past
        // PATH_MAX. The writer opens one component at a time (openat), so the length of the whole never reaches a syscall.
        var path = "/run/" + string.Join('/', Enumerable.Repeat(new string('d', 203), 20)) + "/x";
        Assert.Equal(4086, path.Length);
        var m = Write("m.yaml", $"apiVersion: keyward/v1\ncredentials:\n  s: {{ kind: secret, owner: o, purpose: p }}\nsinks:\n  out: {{ path: {path}, format: raw, credential: s, mode: \"0600\" }}\n");
        var r = await new CliHarness().RunAsync("apply", "-f", m, "--state", State, "--root", Path.Combine(_dir, "root"));
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.DoesNotContain("KW0001", r.Err, StringComparison.Ordinal);
        Assert.Contains("0 to create, 0 to update", (await new CliHarness().RunAsync("plan", "-f", m, "--state", State, "--root", Path.Combine(_dir, "root"))).Out, StringComparison.Ordinal);
        // .NET's recursive delete cannot walk past PATH_MAX either: rm can.
        using var rm = System.Diagnostics.Process.Start("rm", ["-rf", Path.Combine(_dir, "root")])!;
        await rm.WaitForExitAsync(TestContext.Current.CancellationToken);
    }

    /// <summary>A console whose stdout throws: an unexpected exception inside a command, i.e. a KW0001.</summary>
    private sealed class ThrowingWriter : StringWriter
    {
        public override void Write(char value) => throw new InvalidOperationException("boom");
        public override void Write(string? value) => throw new InvalidOperationException("boom");
        public override void WriteLine(string? value) => throw new InvalidOperationException("boom");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task InternalError_ExitsOne_AndWithDebugAlsoPrintsTheTrace_WithoutAnUnhandledException(bool debug)
    {
        var err = new StringWriter();
        var console = new CliConsole { Out = new ThrowingWriter(), Err = err, StdIn = Stream.Null, StdOut = Stream.Null, GetEnv = _ => null };
        string[] args = debug ? ["errors", "--debug"] : ["errors"];
        var code = await KeywardCli.RunAsync(args, console, TestContext.Current.CancellationToken); // threw with --debug before
        Assert.Equal(1, code);
        Assert.Contains("error[KW0001]: unexpected InvalidOperationException", err.ToString(), StringComparison.Ordinal);
        Assert.Equal(debug, err.ToString().Contains("   at ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Decrypt_ToATerminal_IsRefusedWithoutReveal_AndAllowedWithRevealOrOutput()
    {
        var keygen = await new CliHarness { CurrentDirectory = _dir }.RunAsync("keygen", "-o", "id.txt");
        Assert.Equal(0, keygen.ExitCode);
        var recipient = File.ReadAllLines(Path.Combine(_dir, "id.txt")).Single(l => l.StartsWith("# public key: ", StringComparison.Ordinal))[14..];
        Write("plain.txt", "a secret value");
        var enc = await new CliHarness { CurrentDirectory = _dir }.RunAsync("encrypt", "-r", recipient, "-o", "file.age", "plain.txt");
        Assert.Equal(0, enc.ExitCode);

        var tty = new CliHarness { CurrentDirectory = _dir, OutIsTerminal = true };
        var refused = await tty.RunAsync("decrypt", "-i", "id.txt", "file.age");
        AssertCode(refused, "KW0005");
        Assert.DoesNotContain("a secret value", refused.Out, StringComparison.Ordinal);
        var revealed = await tty.RunAsync("decrypt", "-i", "id.txt", "--reveal", "file.age");
        Assert.Equal(0, revealed.ExitCode);
        Assert.Equal("a secret value", revealed.Out);
        var toFile = await tty.RunAsync("decrypt", "-i", "id.txt", "-o", "out.txt", "file.age");
        Assert.Equal(0, toFile.ExitCode);
        Assert.Equal("a secret value", File.ReadAllText(Path.Combine(_dir, "out.txt")));
    }

    [Fact]
    public async Task Keygen_ToATerminal_IsRefusedWithoutReveal_AndAllowedWithRevealOrOutput()
    {
        var tty = new CliHarness { CurrentDirectory = _dir, OutIsTerminal = true };
        var refused = await tty.RunAsync("keygen");
        AssertCode(refused, "KW0005");
        Assert.DoesNotContain("AGE-SECRET-KEY-1", refused.Out + refused.Err, StringComparison.Ordinal);
        var revealed = await tty.RunAsync("keygen", "--reveal");
        Assert.Equal(0, revealed.ExitCode);
        Assert.Contains("AGE-SECRET-KEY-1", revealed.Out, StringComparison.Ordinal);
        Assert.Equal(0, (await tty.RunAsync("keygen", "-o", "k.txt")).ExitCode);
    }
    [Fact]
    public async Task OpeningTheState_TightensAWorldReadableIdentityAndAWorldWritableDirectory_WithWarnings()
    {
        Assert.Equal(0, (await new CliHarness().RunAsync("init", "--state", State)).ExitCode);
        var identity = Path.Combine(State, "identity.txt");
        File.SetUnixFileMode(identity, (UnixFileMode)0x1A4); // 0644
        File.SetUnixFileMode(State, (UnixFileMode)0x1FF);    // 0777
        var r = await new CliHarness().RunAsync("list", "--state", State);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains($"warning[KW0320]: identity file {identity} was mode 0644; changed to 0600", r.Err, StringComparison.Ordinal);
        Assert.Contains($"warning[KW0320]: state directory {State} was mode 0777; changed to 0750", r.Err, StringComparison.Ordinal);
        Assert.Equal((UnixFileMode)0x180, File.GetUnixFileMode(identity));
        Assert.Equal((UnixFileMode)0x1E8, File.GetUnixFileMode(State));
        var again = await new CliHarness().RunAsync("list", "--state", State);
        Assert.DoesNotContain("KW0320", again.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task IdentityThatIsADirectory_IsReportedAsSuch_NotAsMissing()
    {
        Assert.Equal(0, (await new CliHarness().RunAsync("init", "--state", State)).ExitCode);
        var identity = Path.Combine(State, "identity.txt");
        File.Delete(identity);
        Directory.CreateDirectory(identity);
        var r = await new CliHarness().RunAsync("list", "--state", State);
        AssertCode(r, "KW0304");
        Assert.Contains("is a directory, not an identity file", r.Err, StringComparison.Ordinal);
        Assert.DoesNotContain("missing", r.Err, StringComparison.Ordinal);
    }
    [Fact]
    public async Task Apply_NotAsRoot_WarnsWithKW0717AndItsOwnHint_NotKW0008sFreeSpaceHint()
    {
        // Runs the real binary as nobody (setpriv): the not-root path only exists for a non-root process.
        var binary = KeywardProcess.Executable;
        if (!File.Exists("/usr/bin/setpriv") || Environment.UserName != "root" || !File.Exists(binary))
            Assert.Skip("needs root, /usr/bin/setpriv and the keyward binary (native, or the apphost)");
        File.SetUnixFileMode(_dir, (UnixFileMode)0x1FF);
        var m = Write("m.yaml", "apiVersion: keyward/v1\ncredentials:\n  s: { kind: secret, owner: o, purpose: p }\nsinks:\n  out: { path: /run/x, format: raw, credential: s, mode: \"0600\", owner: root, group: root }\n");
        var start = new ProcessStartInfo("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", binary,
            "apply", "-f", m, "--state", State, "--root", Path.Combine(_dir, "root")])
        { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        start.Environment["HOME"] = _dir;
        start.Environment["DOTNET_CLI_HOME"] = _dir;
        using var p = Process.Start(start)!;
        var stdout = p.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var err = await p.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        await p.WaitForExitAsync(TestContext.Current.CancellationToken);
        Assert.True(p.ExitCode == 0, err);
        Assert.Contains("warning[KW0717]: not running as root: sink owner and group are not applied", err, StringComparison.Ordinal);
        Assert.DoesNotContain("KW0008", err, StringComparison.Ordinal);
        Assert.DoesNotContain("free space", err, StringComparison.Ordinal);
        await stdout;
    }
    [Fact]
    public async Task CommandLineFiles_ADirectoryOrAnOversizedFile_AreKW0010AndKW0011()
    {
        Directory.CreateDirectory(Path.Combine(_dir, "id-dir"));
        Sparse("id-big.txt", (1 << 20) + 1);
        Write("in.age", "not age");
        var h = new CliHarness { CurrentDirectory = _dir };
        AssertCode(await h.RunAsync("decrypt", "-i", "id-dir", "in.age"), "KW0010");
        AssertCode(await h.RunAsync("decrypt", "-i", "id-big.txt", "in.age"), "KW0011");
        AssertCode(await h.RunAsync("encrypt", "-R", "id-dir", "in.age"), "KW0010");
    }
}
