using Keyward.Core.Secrets;
using Keyward.Crypto.Nix;

namespace Keyward.Crypto.Tests.Nix;

/// <summary>
/// Builds two input-addressed store paths once (a dependency and a path that references it) with the real nix,
/// offline and without the sandbox, using a private NIX_CONF_DIR. Input-addressed paths matter: content-addressed
/// ones (nix-store --add) are trusted without any signature and would prove nothing.
/// </summary>
public sealed class NixStoreFixture : IDisposable
{
    private readonly TempDir _dir = new();

    public NixStoreFixture()
    {
        var conf = Path.Combine(_dir.Path, "conf");
        Directory.CreateDirectory(conf);
        File.WriteAllText(Path.Combine(conf, "nix.conf"),
            "experimental-features = nix-command\nbuild-users-group =\nsandbox = false\nsubstituters =\nrequire-sigs = true\n");
        Env = new Dictionary<string, string>
        {
            ["NIX_CONF_DIR"] = conf,
            ["XDG_CACHE_HOME"] = Path.Combine(_dir.Path, "cache-home"),
            ["HOME"] = _dir.Path,
        };
        var expr = Path.Combine(_dir.Path, "paths.nix");
        File.WriteAllText(expr, """
            let
              dep = derivation { name = "keyward-interop-dep"; builder = "/bin/sh"; args = [ "-c" "echo dependency > $out" ]; system = builtins.currentSystem; };
            in {
              inherit dep;
              main = derivation { name = "keyward-interop-main"; builder = "/bin/sh"; args = [ "-c" "echo ${dep} > $out" ]; system = builtins.currentSystem; };
            }
            """);
        var built = Nix("/usr/bin/nix-build", "--option", "sandbox", "false", "--no-out-link", expr, "-A", "dep", "-A", "main").EnsureSuccess("nix-build");
        var paths = built.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Dep = paths[0];
        Main = paths[1];
        SecretKeyFile = Path.Combine(_dir.Path, "nix.sk");
        PublicKeyFile = Path.Combine(_dir.Path, "nix.pk");
        Nix("/usr/bin/nix-store", "--generate-binary-cache-key", "nix-made-1", SecretKeyFile, PublicKeyFile).EnsureSuccess("nix-store --generate-binary-cache-key");
    }

    public Dictionary<string, string> Env { get; }
    public string Dep { get; }
    public string Main { get; }
    public string SecretKeyFile { get; }
    public string PublicKeyFile { get; }

    public string NewDir(string name)
    {
        var d = Path.Combine(_dir.Path, name + "-" + Guid.NewGuid().ToString("n")[..8]);
        Directory.CreateDirectory(d);
        return d;
    }

    internal ToolResult Nix(string tool, params string[] args) => ToolProcess.Run(tool, args, env: Env);

    internal ToolResult NixWithStdin(string stdin, params string[] args) => ToolProcess.Run("/usr/bin/nix", args, stdin, Env);

    public void Dispose() => _dir.Dispose();
}

[Trait("Category", "Interop")]
public sealed class NixInteropTests(NixStoreFixture nix) : IClassFixture<NixStoreFixture>
{
    [Fact]
    public void PublicKey_OfNixGeneratedKey_EqualsNixs()
    {
        using var key = NixSecretKey.Parse(Secret.FromBytes(File.ReadAllBytes(nix.SecretKeyFile)));
        var fromNix = nix.NixWithStdin(File.ReadAllText(nix.SecretKeyFile), "key", "convert-secret-to-public").EnsureSuccess("nix key convert-secret-to-public");
        Assert.Equal(fromNix.Stdout.Trim(), key.PublicKey.ToString());
        Assert.Equal(File.ReadAllText(nix.PublicKeyFile).Trim(), key.PublicKey.ToString());
    }

    [Fact]
    public void PublicKey_OfKeywardGeneratedKey_EqualsNixs()
    {
        using var key = NixSecretKey.Generate("keyward-made-1");
        using var text = key.ToSecret();
        var fromNix = nix.NixWithStdin(text.RevealString(), "key", "convert-secret-to-public").EnsureSuccess("nix key convert-secret-to-public");
        Assert.Equal(fromNix.Stdout.Trim(), key.PublicKey.ToString());
    }

    [Fact]
    public void CacheCopiedAndSignedByNix_VerifiesInKeyward()
    {
        var cache = nix.NewDir("nix-signed");
        nix.Nix("/usr/bin/nix", "copy", "--to", $"file://{cache}?secret-key={nix.SecretKeyFile}", nix.Main).EnsureSuccess("nix copy");
        var trusted = NixPublicKey.Parse(File.ReadAllText(nix.PublicKeyFile));
        var infos = Directory.GetFiles(cache, "*.narinfo").Select(f => NarInfo.Parse(File.ReadAllText(f))).ToList();
        Assert.Equal(2, infos.Count); // main and its dependency
        var main = Assert.Single(infos, i => i.StorePath == nix.Main);
        Assert.Contains(Path.GetFileName(nix.Dep), main.References);
        foreach (var info in infos)
            Assert.Equal(NarInfoStatus.Valid, NarInfoVerifier.Verify(info, [trusted]).Status);

        // And every fingerprint field matters, on a narinfo Nix itself signed.
        var mainText = File.ReadAllText(Path.Combine(cache, main.HashPart + ".narinfo"));
        var depName = Path.GetFileName(nix.Dep);
        string[] tampered =
        [
            mainText.Replace("StorePath: " + nix.Main, "StorePath: " + nix.Main + "x", StringComparison.Ordinal),
            mainText.Replace("NarSize: " + main.NarSize, "NarSize: " + (main.NarSize + 1), StringComparison.Ordinal),
            mainText.Replace(main.Get("NarHash")!, "sha256:" + NixBase32.Encode(new byte[32]), StringComparison.Ordinal),
            mainText.Replace("References: " + depName, "References: ", StringComparison.Ordinal),
        ];
        foreach (var t in tampered)
        {
            Assert.NotEqual(mainText, t);
            Assert.Equal(NarInfoStatus.BadSignature, NarInfoVerifier.Verify(NarInfo.Parse(t), [trusted]).Status);
        }
    }

    [Fact]
    public void CacheSignedByNixStoreSign_VerifiesInKeyward()
    {
        var cache = nix.NewDir("store-sign");
        nix.Nix("/usr/bin/nix", "copy", "--to", $"file://{cache}", nix.Dep).EnsureSuccess("nix copy");
        nix.Nix("/usr/bin/nix", "store", "sign", "--key-file", nix.SecretKeyFile, "--store", $"file://{cache}", nix.Dep).EnsureSuccess("nix store sign");
        var info = NarInfo.Parse(File.ReadAllText(Directory.GetFiles(cache, "*.narinfo").Single()));
        Assert.Equal(NarInfoStatus.Valid, NarInfoVerifier.Verify(info, [NixPublicKey.Parse(File.ReadAllText(nix.PublicKeyFile))]).Status);
    }

    [Fact]
    public void NarinfoSignedByKeyward_IsAcceptedByNixStoreVerify_AndTamperingIsRejected()
    {
        var cache = nix.NewDir("keyward-signed");
        nix.Nix("/usr/bin/nix", "copy", "--to", $"file://{cache}", nix.Main).EnsureSuccess("nix copy");
        using var key = NixSecretKey.Generate("keyward-cache-1");
        var pub = key.PublicKey.ToString();

        // Unsigned first: Nix must refuse, or the positive check below would prove nothing.
        var before = nix.Nix("/usr/bin/nix", "store", "verify", "--store", $"file://{cache}", "--no-contents", "--trusted-public-keys", pub, nix.Main);
        Assert.NotEqual(0, before.ExitCode);

        foreach (var file in Directory.GetFiles(cache, "*.narinfo"))
            File.WriteAllText(file, NarInfo.Parse(File.ReadAllText(file)).Sign(key).ToText());
        var after = nix.Nix("/usr/bin/nix", "store", "verify", "--store", $"file://{cache}", "--no-contents", "--trusted-public-keys", pub, nix.Main, nix.Dep);
        Assert.True(after.ExitCode == 0, "nix store verify refused Keyward's signatures: " + after.Stderr);

        // A different trusted key: Nix refuses.
        using var other = NixSecretKey.Generate("keyward-cache-1");
        var wrong = nix.Nix("/usr/bin/nix", "store", "verify", "--store", $"file://{cache}", "--no-contents", "--trusted-public-keys", other.PublicKey.ToString(), nix.Main);
        Assert.NotEqual(0, wrong.ExitCode);

        // Tampering with the signed NarSize: both Nix and Keyward refuse.
        var mainFile = Directory.GetFiles(cache, "*.narinfo").Single(f => NarInfo.Parse(File.ReadAllText(f)).StorePath == nix.Main);
        var info = NarInfo.Parse(File.ReadAllText(mainFile));
        File.WriteAllText(mainFile, info.ToText().Replace("NarSize: " + info.NarSize, "NarSize: " + (info.NarSize + 8), StringComparison.Ordinal));
        var tampered = nix.Nix("/usr/bin/nix", "store", "verify", "--store", $"file://{cache}", "--no-contents", "--trusted-public-keys", pub, nix.Main);
        Assert.NotEqual(0, tampered.ExitCode);
        Assert.Equal(NarInfoStatus.BadSignature, NarInfoVerifier.Verify(NarInfo.Parse(File.ReadAllText(mainFile)), [key.PublicKey]).Status);
    }
    [Fact]
    public void DuplicatedNarHash_NixSaysUntrusted_AndKeywardRefusesToParse()
    {
        var cache = nix.NewDir("duplicate-narhash");
        nix.Nix("/usr/bin/nix", "copy", "--to", $"file://{cache}", nix.Dep).EnsureSuccess("nix copy");
        using var key = NixSecretKey.Generate("keyward-dup-1");
        var pub = key.PublicKey.ToString();
        var file = Directory.GetFiles(cache, "*.narinfo").Single();
        var signed = NarInfo.Parse(File.ReadAllText(file)).Sign(key).ToText();
        File.WriteAllText(file, signed);
        Assert.Equal(0, nix.Nix("/usr/bin/nix", "store", "verify", "--store", $"file://{cache}", "--no-contents", "--trusted-public-keys", pub, nix.Dep).ExitCode);

        // A second NarHash after the signed one: Nix keeps the last, so the signature no longer matches.
        var narHash = "NarHash: " + NarInfo.Parse(signed).Get("NarHash");
        var duplicated = signed.Replace(narHash + "\n", narHash + "\nNarHash: sha256:" + NixBase32.Encode(new byte[32]) + "\n", StringComparison.Ordinal);
        Assert.NotEqual(signed, duplicated);
        File.WriteAllText(file, duplicated);
        Assert.NotEqual(0, nix.Nix("/usr/bin/nix", "store", "verify", "--store", $"file://{cache}", "--no-contents", "--trusted-public-keys", pub, nix.Dep).ExitCode);
        Assert.Throws<Keyward.Core.Errors.KeywardException>(() => NarInfo.Parse(duplicated));
    }
}
