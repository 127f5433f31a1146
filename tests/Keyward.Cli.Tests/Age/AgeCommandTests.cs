using System.Text;

namespace Keyward.Cli.Tests.Age;

public sealed class AgeCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("keyward-age-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private async Task<(int Code, string Out, string Err, byte[] Stdout)> Run(byte[] stdin, params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        var stdout = new MemoryStream();
        var console = new CliConsole
        {
            Out = o,
            Err = e,
            StdIn = new MemoryStream(stdin),
            StdOut = stdout,
            GetEnv = _ => null,
            CurrentDirectory = _dir,
        };
        var code = await KeywardCli.RunAsync(args, console, TestContext.Current.CancellationToken);
        return (code, o.ToString(), e.ToString(), stdout.ToArray());
    }

    [Fact]
    public async Task KeygenEncryptDecrypt_RoundTripsThroughStdinAndStdout_WithoutLeakingTheIdentity()
    {
        var keygen = await Run([], "keygen", "-o", "id.txt");
        Assert.Equal(0, keygen.Code);
        var identityText = await File.ReadAllTextAsync(Path.Combine(_dir, "id.txt"), TestContext.Current.CancellationToken);
        var secretLine = identityText.Split('\n').Single(l => l.StartsWith("AGE-SECRET-KEY-1", StringComparison.Ordinal));
        var recipient = identityText.Split('\n').Single(l => l.StartsWith("# public key: ", StringComparison.Ordinal))["# public key: ".Length..];
        Assert.Equal($"Public key: {recipient}\n", keygen.Err.ReplaceLineEndings("\n"));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(_dir, "id.txt")));

        var plaintext = Encoding.UTF8.GetBytes("the plaintext value 0123456789");
        var enc = await Run(plaintext, "encrypt", "-r", recipient, "-a");
        Assert.Equal(0, enc.Code);
        Assert.StartsWith("-----BEGIN AGE ENCRYPTED FILE-----", Encoding.ASCII.GetString(enc.Stdout), StringComparison.Ordinal);

        var dec = await Run(enc.Stdout, "decrypt", "-i", "id.txt");
        Assert.Equal(0, dec.Code);
        Assert.Equal(plaintext, dec.Stdout);

        foreach (var text in new[] { keygen.Out, keygen.Err, enc.Out, enc.Err, dec.Out, dec.Err })
            Assert.DoesNotContain(secretLine, text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Keygen_ToStdout_PrintsLikeAgeKeygen()
    {
        var r = await Run([], "keygen");
        Assert.Equal(0, r.Code);
        var lines = r.Out.TrimEnd('\n').Split('\n');
        Assert.Equal(3, lines.Length);
        Assert.StartsWith("# created: ", lines[0], StringComparison.Ordinal);
        Assert.StartsWith("# public key: age1", lines[1], StringComparison.Ordinal);
        Assert.StartsWith("AGE-SECRET-KEY-1", lines[2], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Decrypt_DamagedFileToOutput_LeavesNoFileBehind()
    {
        await Run([], "keygen", "-o", "id.txt");
        var recipient = File.ReadAllLines(Path.Combine(_dir, "id.txt"))[1]["# public key: ".Length..];
        var enc = await Run(new byte[300_000], "encrypt", "-r", recipient, "-o", "f.age");
        Assert.Equal(0, enc.Code);
        var bytes = await File.ReadAllBytesAsync(Path.Combine(_dir, "f.age"), TestContext.Current.CancellationToken);
        await File.WriteAllBytesAsync(Path.Combine(_dir, "cut.age"), bytes[..^100], TestContext.Current.CancellationToken);

        var dec = await Run([], "decrypt", "-i", "id.txt", "-o", "out.bin", "cut.age");
        Assert.Equal(1, dec.Code);
        Assert.Contains("KW0405", dec.Err, StringComparison.Ordinal);
        Assert.Equal("cut.age,f.age,id.txt", string.Join(",", Directory.GetFiles(_dir).Select(f => Path.GetFileName(f)).Order(StringComparer.Ordinal)));
    }

    [Fact]
    public async Task Encrypt_NoRecipients_IsBadInput()
    {
        var r = await Run([1, 2, 3], "encrypt");
        Assert.Equal(2, r.Code);
        Assert.Contains("KW0409", r.Err, StringComparison.Ordinal);
    }
}
