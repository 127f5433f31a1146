using System.Diagnostics;
using System.Security.Cryptography;
using Keyward.Crypto.Age;

namespace Keyward.Crypto.Tests.Age;

/// <summary>Keyward against the real age and age-keygen (Debian package <c>age</c>) and ssh-keygen
/// (<c>openssh-client</c>), both directions, binary and armored, X25519 and ssh-ed25519.</summary>
[Trait("Category", "Interop")]
public sealed class AgeInteropTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("keyward-age-interop-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    public static TheoryData<int, bool, string> Cases()
    {
        var data = new TheoryData<int, bool, string>();
        // Around a chunk, around a batch of 16 chunks (1 MiB: a larger file's batches are sealed and opened
        // half on a second thread), and several batches plus a batch of 3 chunks (split 1 + 2) ending in 1 byte.
        foreach (var size in new[] { 0, 1, 65535, 65536, 65537, 1 << 20, (1 << 20) + 1, 3 * (1 << 20) + 2 * 65536 + 1, 10 * 1024 * 1024 })
            foreach (var armor in new[] { false, true })
                foreach (var kind in new[] { "x25519", "ssh-ed25519" })
                    data.Add(size, armor, kind);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void RealAgeEncrypts_KeywardDecrypts(int size, bool armor, string kind)
    {
        var (identityFile, recipient) = MakeKey(kind);
        var plain = Path.Combine(_dir, "plain");
        var data = RandomNumberGenerator.GetBytes(size);
        File.WriteAllBytes(plain, data);
        var encrypted = Path.Combine(_dir, "file.age");
        var args = new List<string> { "-e", "-r", recipient, "-o", encrypted };
        if (armor) args.Add("-a");
        args.Add(plain);
        Run("age", args);

        using var input = File.OpenRead(encrypted);
        using var output = new MemoryStream();
        AgeFile.Decrypt(input, output, AgeKeys.ParseIdentities(File.ReadAllText(identityFile)));
        Assert.True(data.AsSpan().SequenceEqual(output.ToArray()), $"{kind} {size} bytes armor={armor}: plaintext differs");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void KeywardEncrypts_RealAgeDecrypts(int size, bool armor, string kind)
    {
        var (identityFile, recipient) = MakeKey(kind);
        var data = RandomNumberGenerator.GetBytes(size);
        var encrypted = Path.Combine(_dir, "file.age");
        using (var output = File.Create(encrypted))
            AgeFile.Encrypt(new MemoryStream(data), output, [AgeKeys.ParseRecipient(recipient)], armor);
        var decrypted = Path.Combine(_dir, "out");
        Run("age", ["-d", "-i", identityFile, "-o", decrypted, encrypted]);
        // age opens -o lazily, on the first byte written: an empty plaintext leaves no file (age exited 0).
        var result = File.Exists(decrypted) ? File.ReadAllBytes(decrypted) : [];
        Assert.True(data.AsSpan().SequenceEqual(result), $"{kind} {size} bytes armor={armor}: plaintext differs");
    }

    [Fact]
    public void KeywardIdentity_IsAcceptedByAgeKeygen_AndAgeKeygenIdentity_ByKeyward()
    {
        var ours = X25519Identity.Generate();
        var file = Path.Combine(_dir, "ours.txt");
        File.WriteAllText(file, $"# test\n{ours.ToSecret().RevealString()}\n");
        Assert.Equal(ours.Recipient, Run("age-keygen", ["-y", file]).Trim());

        var theirs = Path.Combine(_dir, "theirs.txt");
        Run("age-keygen", ["-o", theirs]);
        var line = File.ReadAllLines(theirs).Single(l => l.StartsWith("AGE-SECRET-KEY-1", StringComparison.Ordinal));
        var publicLine = File.ReadAllLines(theirs).Single(l => l.StartsWith("# public key: ", StringComparison.Ordinal));
        Assert.Equal(publicLine["# public key: ".Length..], X25519Identity.Parse(line).Recipient);
    }

    private (string IdentityFile, string Recipient) MakeKey(string kind)
    {
        if (kind == "x25519")
        {
            var identity = X25519Identity.Generate();
            var path = Path.Combine(_dir, "identity.txt");
            File.WriteAllText(path, identity.ToSecret().RevealString() + "\n");
            return (path, identity.Recipient);
        }
        var key = Path.Combine(_dir, "id_ed25519");
        if (File.Exists(key)) File.Delete(key);
        if (File.Exists(key + ".pub")) File.Delete(key + ".pub");
        Run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "interop", "-f", key]);
        return (key, File.ReadAllText(key + ".pub").Trim());
    }

    private static string Run(string tool, IEnumerable<string> args)
    {
        var path = Path.Combine("/usr/bin", tool);
        Assert.True(File.Exists(path), $"{path} is missing: install the Debian package '{(tool == "ssh-keygen" ? "openssh-client" : "age")}' (the test script does)");
        var psi = new ProcessStartInfo(path) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        p.StandardInput.Close();
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"{tool} {string.Join(' ', args)} failed ({p.ExitCode}): {stderr}");
        return stdout.Result;
    }
}
