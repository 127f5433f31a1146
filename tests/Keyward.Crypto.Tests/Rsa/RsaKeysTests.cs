using System.Security.Cryptography;
using Keyward.Crypto.Rsa;

namespace Keyward.Crypto.Tests.Rsa;

public sealed class RsaKeysTests
{
    [Theory]
    [InlineData(false, "-----BEGIN RSA PRIVATE KEY-----")]
    [InlineData(true, "-----BEGIN PRIVATE KEY-----")]
    public void Generate_WritesTheRequestedPemAndItsPublicKeyMatches(bool pkcs8, string begin)
    {
        using var pem = RsaKeys.Generate(2048, pkcs8);
        var text = pem.RevealString();
        Assert.StartsWith(begin, text, StringComparison.Ordinal);
        Assert.EndsWith("-----\n", text, StringComparison.Ordinal);
        var pub = RsaKeys.PublicPem(pem);
        Assert.StartsWith("-----BEGIN PUBLIC KEY-----", pub, StringComparison.Ordinal);
        using var priv = RSA.Create();
        priv.ImportFromPem(text);
        using var verifier = RSA.Create();
        verifier.ImportFromPem(pub);
        var sig = priv.SignData("x"u8, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        Assert.True(verifier.VerifyData("x"u8, sig, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1));
        Assert.Equal(2048, verifier.KeySize);
    }

    [Fact]
    public void Generate_TooSmall_IsRefused() =>
        Assert.Throws<Keyward.Core.Errors.KeywardException>(() => RsaKeys.Generate(1024, false));
}
