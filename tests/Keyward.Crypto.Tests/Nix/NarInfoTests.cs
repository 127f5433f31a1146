using Keyward.Core.Errors;
using Keyward.Core.Secrets;
using Keyward.Crypto.Nix;

namespace Keyward.Crypto.Tests.Nix;

public sealed class NarInfoTests
{
    // Produced by nix 2.8 (Debian nix-bin): `nix-store --generate-binary-cache-key test1 sk pk`, a trivial input-addressed
    // derivation, `nix copy --to file://DIR` and `nix store sign --key-file sk`.
    internal const string NixSignedPublicKey = "test1:tV0LVH6r0Hlmi/AdVERQ21/77Q9kS/v5OM+fpZPKcTU=";
    internal const string NixSigned =
        "StorePath: /nix/store/36fy5ahg48sbws5psh40d6dp82kzsy7l-kwtest\n" +
        "URL: nar/09kxyd68d2nylk7ims23pj3i09s4nnv9p3dv6iij1q9canv42w6d.nar.xz\n" +
        "Compression: xz\n" +
        "FileHash: sha256:09kxyd68d2nylk7ims23pj3i09s4nnv9p3dv6iij1q9canv42w6d\n" +
        "FileSize: 124\n" +
        "NarHash: sha256:1xmr8jicvzszfzpz46g37mlpvbzjl2wpwvl2b05psipssyp1sm8h\n" +
        "NarSize: 120\n" +
        "References: \n" +
        "Deriver: lvi0qkcj10y40p5sp8dj402mglnbgg20-kwtest.drv\n" +
        "Sig: test1:q0AOz+GKGSkY4W/O11vNOfYFvP+ICIfuUQ4Ur8ztuQZ8ZnU/KYh/hZOGKaNAEMS/pCNI1WOCF7zF+RcCK/ZBBA==\n";

    private static readonly NixPublicKey Trusted = NixPublicKey.Parse(NixSignedPublicKey);

    [Fact]
    public void Parse_NixWrittenFile_RoundTripsByteForByte()
    {
        var info = NarInfo.Parse(NixSigned);
        Assert.Equal("/nix/store/36fy5ahg48sbws5psh40d6dp82kzsy7l-kwtest", info.StorePath);
        Assert.Equal("36fy5ahg48sbws5psh40d6dp82kzsy7l", info.HashPart);
        Assert.Equal(120UL, info.NarSize);
        Assert.Empty(info.References);
        Assert.Single(info.Sigs);
        Assert.Equal(NixSigned, info.ToText());
    }

    [Fact]
    public void Fingerprint_HasNixLayout()
    {
        Assert.Equal("1;/nix/store/36fy5ahg48sbws5psh40d6dp82kzsy7l-kwtest;sha256:1xmr8jicvzszfzpz46g37mlpvbzjl2wpwvl2b05psipssyp1sm8h;120;",
            NarInfo.Parse(NixSigned).Fingerprint());
    }

    [Fact]
    public void Verify_NixSignedNarinfo_IsValid()
    {
        var r = NarInfoVerifier.Verify(NarInfo.Parse(NixSigned), [Trusted]);
        Assert.Equal(NarInfoStatus.Valid, r.Status);
        Assert.Equal("test1", r.SignedBy);
    }

    [Fact]
    public void Fingerprint_ReferencesAreFullPathsSortedAndDeduplicated()
    {
        var info = NarInfo.Parse(Unsigned("zzz-b bbb-a zzz-b"));
        Assert.EndsWith(";120;/nix/store/bbb-a,/nix/store/zzz-b", info.Fingerprint(), StringComparison.Ordinal);
    }

    [Fact]
    public void NarHash_OtherEncodings_GiveTheSameFingerprint()
    {
        var bytes = NixBase32.Decode("1xmr8jicvzszfzpz46g37mlpvbzjl2wpwvl2b05psipssyp1sm8h");
        var baseline = NarInfo.Parse(NixSigned).Fingerprint();
        foreach (var form in new[] { "sha256:" + Convert.ToHexStringLower(bytes), "sha256:" + Convert.ToBase64String(bytes), "sha256-" + Convert.ToBase64String(bytes) })
            Assert.Equal(baseline, NarInfo.Parse(NixSigned.Replace("sha256:1xmr8jicvzszfzpz46g37mlpvbzjl2wpwvl2b05psipssyp1sm8h", form, StringComparison.Ordinal)).Fingerprint());
    }

    [Theory]
    [InlineData("StorePath: /nix/store/36fy5ahg48sbws5psh40d6dp82kzsy7l-kwtest", "StorePath: /nix/store/46fy5ahg48sbws5psh40d6dp82kzsy7l-kwtest")]
    [InlineData("NarHash: sha256:1xmr8", "NarHash: sha256:0xmr8")]
    [InlineData("NarSize: 120", "NarSize: 121")]
    [InlineData("References: ", "References: 36fy5ahg48sbws5psh40d6dp82kzsy7l-kwtest")]
    public void Verify_TamperedFingerprintField_IsBadSignature(string original, string tampered)
    {
        var text = NixSigned.Replace(original, tampered, StringComparison.Ordinal);
        Assert.NotEqual(NixSigned, text);
        Assert.Equal(NarInfoStatus.BadSignature, NarInfoVerifier.Verify(NarInfo.Parse(text), [Trusted]).Status);
    }

    [Fact]
    public void Verify_TamperedNonFingerprintField_StillValid()
    {
        // URL, Compression, FileHash, FileSize and Deriver are not signed: Nix checks them against the NAR instead.
        var text = NixSigned.Replace("FileSize: 124", "FileSize: 999", StringComparison.Ordinal);
        Assert.Equal(NarInfoStatus.Valid, NarInfoVerifier.Verify(NarInfo.Parse(text), [Trusted]).Status);
    }

    [Fact]
    public void Verify_Outcomes_UnsignedUntrustedAndFirstKeyWins()
    {
        Assert.Equal(NarInfoStatus.Unsigned, NarInfoVerifier.Verify(NarInfo.Parse(Unsigned("")), [Trusted]).Status);
        using var other = NixSecretKey.Generate("other-1");
        Assert.Equal(NarInfoStatus.UntrustedKey, NarInfoVerifier.Verify(NarInfo.Parse(NixSigned), [other.PublicKey]).Status);
        // Two keys named test1: the first wins, as in Nix's getDefaultPublicKeys.
        var impostor = new NixPublicKey("test1", other.PublicKey.Key);
        Assert.Equal(NarInfoStatus.BadSignature, NarInfoVerifier.Verify(NarInfo.Parse(NixSigned), [impostor, Trusted]).Status);
        Assert.Equal(NarInfoStatus.Valid, NarInfoVerifier.Verify(NarInfo.Parse(NixSigned), [Trusted, impostor]).Status);
    }

    [Fact]
    public void Sign_AddsOneSigLineAfterExistingOnes_AndVerifies()
    {
        using var key = NixSecretKey.Generate("kw-1");
        var signed = NarInfo.Parse(NixSigned).Sign(key);
        var lines = signed.ToText().Split('\n');
        Assert.StartsWith("Sig: test1:", lines[^3], StringComparison.Ordinal);
        Assert.StartsWith("Sig: kw-1:", lines[^2], StringComparison.Ordinal);
        Assert.Equal(NarInfoStatus.Valid, NarInfoVerifier.Verify(NarInfo.Parse(signed.ToText()), [key.PublicKey]).Status);
        Assert.Equal(signed.ToText(), signed.Sign(key).ToText()); // deterministic Ed25519: not added twice
    }

    [Fact]
    public void Sign_WithReferences_TamperedReferenceFails()
    {
        using var key = NixSecretKey.Generate("kw-1");
        var signed = NarInfo.Parse(Unsigned("aaa-dep bbb-other")).Sign(key).ToText();
        Assert.Equal(NarInfoStatus.Valid, NarInfoVerifier.Verify(NarInfo.Parse(signed), [key.PublicKey]).Status);
        var tampered = signed.Replace("References: aaa-dep bbb-other", "References: aaa-dep", StringComparison.Ordinal);
        Assert.Equal(NarInfoStatus.BadSignature, NarInfoVerifier.Verify(NarInfo.Parse(tampered), [key.PublicKey]).Status);
    }

    [Fact]
    public void Sign_BeforeCaLineWhenUnsigned()
    {
        using var key = NixSecretKey.Generate("kw-1");
        var text = Unsigned("") + "CA: fixed:r:sha256:1xmr8jicvzszfzpz46g37mlpvbzjl2wpwvl2b05psipssyp1sm8h\n";
        var lines = NarInfo.Parse(text).Sign(key).ToText().Split('\n');
        Assert.StartsWith("Sig: kw-1:", lines[^3], StringComparison.Ordinal);
        Assert.StartsWith("CA: ", lines[^2], StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("URL: x\nNarHash: sha256:1xmr8jicvzszfzpz46g37mlpvbzjl2wpwvl2b05psipssyp1sm8h\nNarSize: 1\n")] // no StorePath
    [InlineData("StorePath: /nix/store/a-b\nNarHash: sha256:1xmr8jicvzszfzpz46g37mlpvbzjl2wpwvl2b05psipssyp1sm8h\nNarSize: 1\n")] // no URL
    [InlineData("StorePath: /nix/store/a-b\nURL: x\nNarHash: md5:abc\nNarSize: 1\n")]
    [InlineData("StorePath: /nix/store/a-b\nURL: x\nNarHash: sha256:1xmr8jicvzszfzpz46g37mlpvbzjl2wpwvl2b05psipssyp1sm8h\nNarSize: 0\n")]
    [InlineData("StorePath: /nix/store/a-b\nURL: x\nNarHash: sha256:1xmr8jicvzszfzpz46g37mlpvbzjl2wpwvl2b05psipssyp1sm8h\nNarSize: 1\nReferences: \nReferences: \n")]
    [InlineData("garbage\n")]
    public void Parse_Invalid_ThrowsNarInfoInvalid(string text) =>
        Assert.Equal(ErrorCodes.NarInfoInvalid, Assert.Throws<KeywardException>(() => NarInfo.Parse(text)).First.Code);

    [Fact]
    public void Verify_MalformedSigFromTrustedName_IsBadSignature()
    {
        var text = Unsigned("") + "Sig: test1:AAAA\n";
        Assert.Equal(NarInfoStatus.BadSignature, NarInfoVerifier.Verify(NarInfo.Parse(text), [Trusted]).Status);
    }

    private static string Unsigned(string refs) =>
        "StorePath: /nix/store/36fy5ahg48sbws5psh40d6dp82kzsy7l-kwtest\nURL: nar/x.nar.xz\nCompression: xz\n" +
        "NarHash: sha256:1xmr8jicvzszfzpz46g37mlpvbzjl2wpwvl2b05psipssyp1sm8h\nNarSize: 120\nReferences: " + refs + "\n";

    [Theory]
    [InlineData("NarHash", "sha256:0000000000000000000000000000000000000000000000000000")]
    [InlineData("NarSize", "121")]
    [InlineData("StorePath", "/nix/store/36fy5ahg48sbws5psh40d6dp82kzsy7l-other")]
    [InlineData("References", "")]
    [InlineData("URL", "nar/other.nar.xz")]
    [InlineData("Deriver", "x.drv")]
    public void Parse_DuplicatedKey_IsRefused_BecauseNixReadsTheLastOne(string key, string value)
    {
        // Issue 9: with a second NarHash line Keyward verified the first value ("ok") while Nix used the last ("untrusted").
        var at = NixSigned.IndexOf(key + ": ", StringComparison.Ordinal);
        var eol = NixSigned.IndexOf('\n', at) + 1;
        var text = NixSigned[..eol] + key + ": " + value + "\n" + NixSigned[eol..];
        var ex = Assert.Throws<KeywardException>(() => NarInfo.Parse(text));
        Assert.Equal(ErrorCodes.NarInfoInvalid, ex.First.Code);
        Assert.Contains("second " + key, ex.First.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_TwoSigLines_AreBothKept() =>
        Assert.Equal(2, NarInfo.Parse(NixSigned + "Sig: other-1:" + Convert.ToBase64String(new byte[64]) + "\n").Sigs.Count);
}
