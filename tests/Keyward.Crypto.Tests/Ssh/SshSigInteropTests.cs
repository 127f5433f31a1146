using System.Diagnostics;
using System.Text;
using Keyward.Core.Errors;
using Keyward.Core.Manifest;
using Keyward.Crypto.Ssh;

namespace Keyward.Crypto.Tests.Ssh;

/// <summary>SSHSIG against the real <c>ssh-keygen -Y sign/verify</c> (openssh-client), both directions, plus the refusals
/// the agent's authentication depends on.</summary>
[Trait("Category", "Interop")]
public sealed class SshSigInteropTests : IDisposable
{
    private const string Ns = "keyward-agent@v1";
    private readonly string _dir = Directory.CreateTempSubdirectory("keyward-sshsig-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private (string Private, HostKey Public) NewKey(string name)
    {
        var key = Path.Combine(_dir, name);
        Run(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f", key]);
        Assert.True(HostKey.TryParse(File.ReadAllText(key + ".pub"), out var pub, out var error), error);
        return (key, pub!);
    }

    [Fact]
    public void OurSignature_VerifiesWithSshKeygen()
    {
        var (priv, pub) = NewKey("host");
        using var identity = HostIdentity.Parse(File.ReadAllText(priv));
        Assert.Equal(pub, identity.SshKey);
        var message = Encoding.UTF8.GetBytes("keyward-agent@v1 challenge\nhost runner-1\n");
        File.WriteAllBytes(Path.Combine(_dir, "msg"), message);
        File.WriteAllText(Path.Combine(_dir, "msg.sig"), identity.Sign(Ns, message));
        File.WriteAllText(Path.Combine(_dir, "allowed"), $"runner-1 namespaces=\"{Ns}\" {pub}\n");
        var output = Run(["-Y", "verify", "-f", Path.Combine(_dir, "allowed"), "-I", "runner-1", "-n", Ns, "-s", Path.Combine(_dir, "msg.sig")], Path.Combine(_dir, "msg"));
        Assert.Contains($"Good \"{Ns}\" signature for runner-1", output, StringComparison.Ordinal);
    }

    [Fact]
    public void SshKeygenSignature_VerifiesInOurs_AndNotForAnotherMessageNamespaceOrKey()
    {
        var (priv, pub) = NewKey("host");
        var (_, other) = NewKey("other");
        var message = Encoding.UTF8.GetBytes("nonce 1234\n");
        var file = Path.Combine(_dir, "challenge");
        File.WriteAllBytes(file, message);
        Run(["-Y", "sign", "-f", priv, "-n", Ns, file]);
        var sig = File.ReadAllText(file + ".sig");

        SshSig.Verify(pub, Ns, message, sig);
        Assert.Equal(ErrorCodes.SshSignatureInvalid, Assert.Throws<KeywardException>(() => SshSig.Verify(pub, Ns, "nonce 1235\n"u8, sig)).First.Code);
        Assert.Contains("namespace", Assert.Throws<KeywardException>(() => SshSig.Verify(pub, "file", message, sig)).First.Message, StringComparison.Ordinal);
        Assert.Contains("another key", Assert.Throws<KeywardException>(() => SshSig.Verify(other, Ns, message, sig)).First.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TamperedSignatureBytes_DoNotVerify()
    {
        var (priv, pub) = NewKey("host");
        using var identity = HostIdentity.Parse(File.ReadAllText(priv));
        var sig = identity.Sign(Ns, "m"u8);
        var body = sig.Split('\n')[1..^2];
        var blob = Convert.FromBase64String(string.Concat(body));
        blob[^5] ^= 1; // inside the 64-byte Ed25519 signature
        var tampered = $"-----BEGIN SSH SIGNATURE-----\n{Convert.ToBase64String(blob)}\n-----END SSH SIGNATURE-----\n";
        Assert.Contains("does not verify", Assert.Throws<KeywardException>(() => SshSig.Verify(pub, Ns, "m"u8, tampered)).First.Message, StringComparison.Ordinal);
    }

    private static string Run(IEnumerable<string> args, string? stdinFile = null)
    {
        const string path = "/usr/bin/ssh-keygen";
        Assert.True(File.Exists(path), $"{path} is missing: install the Debian package 'openssh-client' (the test script does)");
        var psi = new ProcessStartInfo(path) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        if (stdinFile is not null) p.StandardInput.BaseStream.Write(File.ReadAllBytes(stdinFile));
        p.StandardInput.Close();
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEnd();
        Assert.True(p.WaitForExit(60_000), "ssh-keygen did not finish");
        Assert.True(p.ExitCode == 0, $"ssh-keygen {string.Join(' ', args)} failed ({p.ExitCode}): {stderr}");
        return stdout.Result + stderr;
    }
}
