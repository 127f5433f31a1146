using System.Text;
using System.Text.Json;
using Keyward.Core.Attic;
using Keyward.Core.Secrets;
using Keyward.Crypto.Attic;
using Keyward.Crypto.Tests.Nix;
using Microsoft.Extensions.Time.Testing;

namespace Keyward.Crypto.Tests.Attic;

/// <summary>Keyward's tokens against python3-jwt (PyJWT, Debian python3-jwt) in both directions, with RSA keys made by openssl.</summary>
[Trait("Category", "Interop")]
public sealed class AtticJwtInteropTests
{
    private const string Python = "/usr/bin/python3";

    // PyJWT verifies against the real clock; Keyward's tokens in these tests are valid around the real now.
    private static readonly TimeProvider RealTime = TimeProvider.System;

    private static AtticTokenRequest Request() => new("ci-runner", RealTime.GetUtcNow().AddHours(1), RealTime.GetUtcNow().AddSeconds(-5),
        [new AtticGrant(CacheNamePattern.Parse("main"), [AtticPermission.Pull, AtticPermission.Push]), new AtticGrant(CacheNamePattern.Parse("team-*"), [AtticPermission.Pull])],
        Issuer: "keyward", Audiences: ["attic"]);

    private const string PyVerify = """
        import sys, json, jwt
        key = open(sys.argv[2], 'rb').read()
        claims = jwt.decode(sys.stdin.read().strip(), key, algorithms=[sys.argv[1]], audience='attic', issuer='keyward')
        print(json.dumps(claims, separators=(',', ':')))
        """;

    private const string PyMint = """
        import sys, time, jwt
        key = open(sys.argv[2], 'rb').read()
        now = int(time.time())
        claims = {'sub': 'py', 'exp': now + 3600, 'nbf': now - 5,
                  'https://jwt.attic.rs/v1': {'caches': {'cache-ro': {'r': 1}, 'dev-*': {'r': 1, 'w': 1}}}}
        sys.stdout.write(jwt.encode(claims, key, algorithm=sys.argv[1]))
        """;

    [Fact]
    public void Hs256_KeywardMints_PythonVerifies_AndTheReverse()
    {
        using var dir = new TempDir();
        var secret = Secret.Random(48);
        File.WriteAllBytes(dir.File("k"), secret.Reveal().ToArray());
        using var key = AtticSigningKey.Hs256(secret);
        CheckBothWays(dir, key, "HS256", dir.File("k"), dir.File("k"));
    }

    [Theory]
    [InlineData("genrsa")]   // openssl genrsa -traditional: PKCS#1 "BEGIN RSA PRIVATE KEY", as Attic's NixOS docs
    [InlineData("genpkey")]  // openssl genpkey -algorithm RSA: PKCS#8 "BEGIN PRIVATE KEY"
    public void Rs256_OpensslKeys_KeywardMints_PythonVerifies_AndTheReverse(string how)
    {
        using var dir = new TempDir();
        var pemFile = dir.File("key.pem");
        var args = how == "genrsa"
            ? new[] { "genrsa", "-traditional", "-out", pemFile, "2048" }
            : new[] { "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", pemFile };
        ToolProcess.Run("/usr/bin/openssl", args).EnsureSuccess("openssl " + how);
        var pem = File.ReadAllText(pemFile);
        Assert.Contains(how == "genrsa" ? "BEGIN RSA PRIVATE KEY" : "BEGIN PRIVATE KEY", pem, StringComparison.Ordinal);
        ToolProcess.Run("/usr/bin/openssl", ["rsa", "-in", pemFile, "-pubout", "-out", dir.File("pub.pem")]).EnsureSuccess("openssl rsa -pubout");

        // As atticd reads it: base64 of the PEM in ATTIC_SERVER_TOKEN_RS256_SECRET_BASE64.
        var b64 = Convert.ToBase64String(Encoding.UTF8.GetBytes(pem));
        using var key = AtticSigningKey.FromEnvironment(n => n == AtticSigningKey.Rs256SecretVariable ? b64 : null);
        Assert.Equal("RS256", key.Algorithm);
        CheckBothWays(dir, key, "RS256", pemFile, dir.File("pub.pem"));

        // The public key alone verifies, as atticd's token-rs256-pubkey-base64.
        var pyToken = ToolProcess.Run(Python, ["-c", PyMint, "RS256", pemFile]).EnsureSuccess("python jwt.encode").Stdout;
        using var pubOnly = AtticSigningKey.Rs256PublicOnly(File.ReadAllText(dir.File("pub.pem")));
        Assert.Equal("py", AtticTokens.Verify(pyToken, pubOnly, RealTime).Subject);
    }

    private static void CheckBothWays(TempDir dir, AtticSigningKey key, string alg, string pySignKey, string pyVerifyKey)
    {
        // Keyward → PyJWT
        var minted = AtticTokens.Mint(Request(), key).Jwt.RevealString();
        var verified = ToolProcess.Run(Python, ["-c", PyVerify, alg, pyVerifyKey], minted);
        Assert.True(verified.ExitCode == 0, "python3-jwt refused Keyward's token: " + verified.Stderr);
        using var claims = JsonDocument.Parse(verified.Stdout);
        Assert.Equal("ci-runner", claims.RootElement.GetProperty("sub").GetString());
        Assert.Equal(1, claims.RootElement.GetProperty("https://jwt.attic.rs/v1").GetProperty("caches").GetProperty("main").GetProperty("w").GetInt32());

        // A tampered Keyward token is refused by PyJWT too (so the check above is meaningful).
        var tampered = minted[..^2] + (minted[^2] == 'A' ? "B" : "A") + minted[^1];
        Assert.NotEqual(0, ToolProcess.Run(Python, ["-c", PyVerify, alg, pyVerifyKey], tampered).ExitCode);

        // PyJWT → Keyward
        var pyToken = ToolProcess.Run(Python, ["-c", PyMint, alg, pySignKey]).EnsureSuccess("python jwt.encode").Stdout.Trim();
        var t = AtticTokens.Verify(pyToken, key, RealTime);
        Assert.Equal("py", t.Subject);
        Assert.True(t.PermissionsFor("dev-x").Can(AtticPermission.Push));
        Assert.False(t.PermissionsFor("cache-ro").Can(AtticPermission.Push));
        // And it is refused once expired, with zero skew.
        var later = new FakeTimeProvider(RealTime.GetUtcNow().AddHours(2));
        Assert.Throws<Keyward.Core.Errors.KeywardException>(() => AtticTokens.Verify(pyToken, key, later));
        _ = dir;
    }
}
