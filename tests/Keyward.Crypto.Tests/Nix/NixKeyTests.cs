using System.Text;
using Keyward.Core.Errors;
using Keyward.Core.Secrets;
using Keyward.Crypto.Nix;

namespace Keyward.Crypto.Tests.Nix;

public sealed class NixKeyTests
{
    // NixOS/nix src/nix/key-generate-secret.md and key-convert-secret-to-public.md (manual example pair)
    private const string ManualSecret = "cache.example.org-0:E7lAO+MsPwTFfPXsdPtW8GKui/5ho4KQHVcAGnX+Tti1V4dUxoVoqLyWJ4YESuZJwQ67GVIksDt47og+tPVUZw==";
    private const string ManualPublic = "cache.example.org-0:tVeHVMaFaKi8lieGBErmScEOuxlSJLA7eO6IPrT1VGc=";

    [Fact]
    public void Parse_NixManualExample_DerivesItsPublicKey()
    {
        using var key = NixSecretKey.Parse(Secret.FromUtf8(ManualSecret));
        Assert.Equal("cache.example.org-0", key.Name);
        Assert.Equal(ManualPublic, key.PublicKey.ToString());
    }

    [Fact]
    public void Parse_AtticVectorKeypair_DerivesTheListedPublicKey()
    {
        var dir = ToolProcess.VectorsDirectory();
        if (dir is null) { Assert.Skip("the shared vectors folder (<repo>/../shared/vectors) is absent"); return; }
        using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "attic.json")));
        var pair = doc.RootElement.GetProperty("nix_keypair");
        using var key = NixSecretKey.Parse(Secret.FromUtf8(pair.GetProperty("secret").GetString()!));
        Assert.Equal(pair.GetProperty("public").GetString(), key.PublicKey.ToString());
    }

    [Fact]
    public void Parse_TrailingNewline_IsAccepted()
    {
        using var key = NixSecretKey.Parse(Secret.FromUtf8(ManualSecret + "\n"));
        Assert.Equal(ManualPublic, key.PublicKey.ToString());
    }

    [Theory]
    [InlineData("cache.example.org-0:E7lAO+MsPwTFfPXsdPtW8GKui/5ho4KQHVcAGnX+\r\nTti1V4dUxoVoqLyWJ4YESuZJwQ67GVIksDt47og+tPVUZw==")] // CR is not skipped
    [InlineData("cache.example.org-0:E7lAO+MsPwTFfPXsdPtW8GKui/5ho4KQHVcAGnX+ Tti1V4dUxoVoqLyWJ4YESuZJwQ67GVIksDt47og+tPVUZw==")]
    [InlineData(":E7lAO+MsPwTFfPXsdPtW8GKui/5ho4KQHVcAGnX+Tti1V4dUxoVoqLyWJ4YESuZJwQ67GVIksDt47og+tPVUZw==")]
    [InlineData("cache.example.org-0")]
    [InlineData("cache.example.org-0:")]
    [InlineData(ManualPublic)]             // 32 bytes: a public key
    public void Parse_Invalid_ThrowsNixKeyInvalidWithoutTheValue(string text)
    {
        var ex = Assert.Throws<KeywardException>(() => NixSecretKey.Parse(Secret.FromUtf8(text)));
        Assert.Equal(ErrorCodes.NixKeyInvalid, ex.First.Code);
        Assert.DoesNotContain("E7lAO+MsPwTF", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_MismatchedPublicHalf_IsRefused()
    {
        var bytes = Convert.FromBase64String(ManualSecret.Split(':')[1]);
        bytes[40] ^= 1;
        var ex = Assert.Throws<KeywardException>(() => NixSecretKey.Parse(Secret.FromUtf8("k:" + Convert.ToBase64String(bytes))));
        Assert.Contains("does not match", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Generate_SignAndVerify_RoundTripsThroughText()
    {
        using var key = NixSecretKey.Generate("cache.test-1");
        using var text = key.ToSecret();
        Assert.StartsWith("cache.test-1:", text.RevealString(), StringComparison.Ordinal);
        Assert.Equal(Secret.Redacted, text.ToString());
        using var again = NixSecretKey.Parse(text);
        Assert.Equal(key.PublicKey, again.PublicKey);
        var data = Encoding.UTF8.GetBytes("1;/nix/store/x;sha256:0;1;");
        var sig = again.Sign(data);
        Assert.Equal(sig, NixSignature.Parse(sig.ToString()));
        var pub = NixPublicKey.Parse(key.PublicKey.ToString());
        Assert.True(pub.Verify(data, sig));
        data[0] ^= 1;
        Assert.False(pub.Verify(data, sig));
    }

    [Fact]
    public void Verify_SignatureUnderAnotherKeyName_IsRefused()
    {
        using var key = NixSecretKey.Generate("a-1");
        var data = "hello"u8.ToArray();
        var sig = key.Sign(data);
        var renamed = new NixPublicKey("b-1", key.PublicKey.Key);
        Assert.False(renamed.Verify(data, sig));
    }

    [Theory]
    [InlineData("")]
    [InlineData("a:b")]
    [InlineData("a b")]
    public void Generate_BadName_Throws(string name) =>
        Assert.Equal(ErrorCodes.NixKeyInvalid, Assert.Throws<KeywardException>(() => NixSecretKey.Generate(name)).First.Code);

    [Fact]
    public void PublicKeyParse_SecretKey_IsRefusedWithHint()
    {
        var ex = Assert.Throws<KeywardException>(() => NixPublicKey.Parse(ManualSecret));
        Assert.Contains("secret key", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void SignatureParse_WrongLength_Throws() =>
        Assert.Equal(ErrorCodes.NixSignatureInvalid, Assert.Throws<KeywardException>(() => NixSignature.Parse("k:AAAA")).First.Code);

    [Fact]
    public void SecretKey_ToString_DoesNotRevealTheSeed()
    {
        using var key = NixSecretKey.Parse(Secret.FromUtf8(ManualSecret));
        Assert.DoesNotContain("E7lAO", key.ToString(), StringComparison.Ordinal);
    }
}
