using System.Security.Cryptography;
using System.Text;
using Keyward.Core.Errors;
using Keyward.Core.Secrets;
using Keyward.Crypto.Age;
using Keyward.Crypto.Sops;
using Keyward.Crypto.Tests.Age;

namespace Keyward.Crypto.Tests.Sops;

/// <summary>The SOPS reader against files written by the real <c>sops</c> binary (humphd/sops-age's test fixtures, see
/// Golden/Sops/sops-age/SOURCE.md), tampering, and round trips through the writer.</summary>
public sealed class SopsFileTests
{
    private static string Fixture(string name) => Path.Combine(CctvVectorSource.RepoRoot(), "tests", "Keyward.Crypto.Tests", "Golden", "Sops", "sops-age", name);

    private static IReadOnlyList<IAgeIdentity> FixtureKey() => AgeKeys.ParseIdentities(File.ReadAllText(Fixture("key.txt")));

    private static string Value(SopsDecrypted d, string key) => d.Find(key)?.Value.RevealString() ?? throw new InvalidOperationException($"no {key}");

    [Theory]
    [InlineData("secret.enc.yaml", "int")]
    [InlineData("secret.enc.json", "float")] // sops 3.9's JSON store typed 7 as a float
    public void RealSopsFile_Decrypts_AndItsMacVerifies(string file, string intType)
    {
        using var d = SopsFile.Decrypt(File.ReadAllBytes(Fixture(file)), FixtureKey());
        Assert.Equal("this is a secret", Value(d, "secret"));
        Assert.Equal("string", Value(d, "string"));
        Assert.Equal("7", Value(d, "int"));
        Assert.Equal(intType, d.Find("int")!.Type);
        Assert.Equal("3.14", Value(d, "float"));
        Assert.Equal("True", Value(d, "boolean"));
        Assert.Equal("bool", d.Find("boolean")!.Type);
        Assert.Equal("this is a secret", Value(d, "complex/value"));
        Assert.Null(d.Find("complex/array")); // list items have no key of their own
        Assert.Equal(3, d.Recipients.Count);
        Assert.Contains("age1je6kjhzuhdjy3fqptpttxjh5k8q46vygzlgtpuq3030c947pc5tqz9dqvr", d.Recipients);
    }

    [Fact]
    public void RealSopsFile_WithAChangedValue_FailsAsTampered()
    {
        var text = File.ReadAllText(Fixture("secret.enc.yaml")).Replace("data:ME9a8+qqBCw", "data:ME9a8+qqBCx", StringComparison.Ordinal);
        var e = Assert.Throws<KeywardException>(() => SopsFile.Decrypt(Encoding.UTF8.GetBytes(text), FixtureKey()));
        Assert.Equal(ErrorCodes.SopsTampered, e.First.Code);
        Assert.StartsWith("secret:", e.First.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void RealSopsFile_WithAValueMovedToAnotherKey_FailsAsTampered()
    {
        var lines = File.ReadAllLines(Fixture("secret.enc.yaml"));
        var secret = lines[0]["secret: ".Length..];
        lines[1] = "string: " + secret;
        var e = Assert.Throws<KeywardException>(() => SopsFile.Decrypt(Encoding.UTF8.GetBytes(string.Join('\n', lines)), FixtureKey()));
        Assert.Equal(ErrorCodes.SopsTampered, e.First.Code);
        Assert.StartsWith("string:", e.First.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void RealSopsFile_WithAValueRemoved_FailsTheMac()
    {
        var lines = File.ReadAllLines(Fixture("secret.enc.yaml")).Where(l => !l.StartsWith("string:", StringComparison.Ordinal));
        var e = Assert.Throws<KeywardException>(() => SopsFile.Decrypt(Encoding.UTF8.GetBytes(string.Join('\n', lines)), FixtureKey()));
        Assert.Equal(ErrorCodes.SopsTampered, e.First.Code);
        Assert.Contains("MAC does not match", e.First.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void RealSopsFile_WithAChangedLastModified_FailsTheMac()
    {
        var text = File.ReadAllText(Fixture("secret.enc.yaml")).Replace("2024-03-25T22:08:10Z", "2024-03-25T22:08:11Z", StringComparison.Ordinal);
        var e = Assert.Throws<KeywardException>(() => SopsFile.Decrypt(Encoding.UTF8.GetBytes(text), FixtureKey()));
        Assert.Equal(ErrorCodes.SopsTampered, e.First.Code);
        Assert.Contains("sops.mac", e.First.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void RealSopsFile_WithoutAMac_IsRefused()
    {
        var lines = File.ReadAllLines(Fixture("secret.enc.yaml")).Where(l => !l.TrimStart().StartsWith("mac:", StringComparison.Ordinal));
        var e = Assert.Throws<KeywardException>(() => SopsFile.Decrypt(Encoding.UTF8.GetBytes(string.Join('\n', lines)), FixtureKey()));
        Assert.Equal(ErrorCodes.SopsTampered, e.First.Code);
    }

    [Fact]
    public void RealSopsFile_WithAnotherIdentity_NamesTheFilesRecipients()
    {
        var e = Assert.Throws<KeywardException>(() => SopsFile.Decrypt(File.ReadAllBytes(Fixture("secret.enc.json")), [X25519Identity.Generate()]));
        Assert.Equal(ErrorCodes.SopsNoAgeKey, e.First.Code);
        Assert.Contains("age1je6kjhzuhdjy3fqptpttxjh5k8q46vygzlgtpuq3030c947pc5tqz9dqvr", e.First.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void PlainYaml_IsNotASopsFile()
    {
        var e = Assert.Throws<KeywardException>(() => SopsFile.Decrypt("a: b\n"u8, FixtureKey()));
        Assert.Equal(ErrorCodes.SopsFormat, e.First.Code);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Written_File_ReadsBack_WithNestedKeysInOrder(bool json)
    {
        var id = X25519Identity.Generate();
        using var a = Secret.FromUtf8("ghp_" + new string('a', 36));
        using var b = Secret.FromUtf8("line one\nline \"two\": ü");
        using var empty = Secret.FromUtf8("");
        var bytes = SopsFile.Encrypt([new("github-token", a), new("attic/admin_token", b), new("attic/empty", empty)],
            [id.Recipient], new DateTimeOffset(2026, 12, 2, 5, 0, 0, TimeSpan.Zero), json);
        var text = Encoding.UTF8.GetString(bytes);
        Assert.DoesNotContain("ghp_", text, StringComparison.Ordinal);
        Assert.Contains("2026-12-02T05:00:00Z", text, StringComparison.Ordinal);
        using var d = SopsFile.Decrypt(bytes, [id]);
        Assert.Equal(json, d.Json);
        Assert.Equal(["github-token", "attic/admin_token", "attic/empty"], d.Entries.Select(e => e.Key));
        Assert.Equal(a.RevealString(), Value(d, "github-token"));
        Assert.Equal(b.RevealString(), Value(d, "attic/admin_token"));
        Assert.Equal("", Value(d, "attic/empty"));
    }

    [Fact]
    public void Written_File_IsEncryptedToEveryRecipient()
    {
        var (one, two) = (X25519Identity.Generate(), X25519Identity.Generate());
        using var v = Secret.FromUtf8("value");
        var bytes = SopsFile.Encrypt([new("k", v)], [one.Recipient, two.Recipient], DateTimeOffset.UnixEpoch, json: false);
        using (var d = SopsFile.Decrypt(bytes, [two])) Assert.Equal("value", Value(d, "k"));
        using (var d = SopsFile.Decrypt(bytes, [one])) Assert.Equal([one.Recipient, two.Recipient], d.Recipients);
    }

    [Fact]
    public void Writer_RefusesNonAgeRecipients_AndBinaryValues()
    {
        using var v = Secret.FromUtf8("value");
        Assert.Equal(ErrorCodes.SopsNoRecipients, Assert.Throws<KeywardException>(() =>
            SopsFile.Encrypt([new("k", v)], ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHsKLqeplhpW+uObz5dvMgjz1OxfM/XXUB+VHtZ6isGN"], DateTimeOffset.UnixEpoch, false)).First.Code);
        using var binary = Secret.FromBytes([0xff, 0xfe, 0x00]);
        Assert.Equal(ErrorCodes.SopsFormat, Assert.Throws<KeywardException>(() =>
            SopsFile.Encrypt([new("k", binary)], [X25519Identity.Generate().Recipient], DateTimeOffset.UnixEpoch, false)).First.Code);
    }

    [Theory]
    [InlineData("2024-03-25T22:08:10Z", "2024-03-25T22:08:10Z")]
    [InlineData("2024-03-25T22:08:10.123456Z", "2024-03-25T22:08:10Z")]
    [InlineData("2024-03-25T22:08:10+00:00", "2024-03-25T22:08:10Z")]
    [InlineData("2024-03-25T22:08:10-04:30", "2024-03-25T22:08:10-04:30")]
    public void LastModified_IsReformattedAsGoDoes(string stored, string additionalData) =>
        Assert.Equal(additionalData, SopsFile.GoRfc3339(stored));
}

public sealed class SopsGcmTests
{
    [Fact]
    public void TwelveByteNonce_MatchesDotNetAesGcm()
    {
        for (var i = 0; i < 50; i++)
        {
            var key = RandomNumberGenerator.GetBytes(32);
            var nonce = RandomNumberGenerator.GetBytes(12);
            var aad = RandomNumberGenerator.GetBytes(i % 40);
            var plain = RandomNumberGenerator.GetBytes(i * 7);
            var (c1, t1, c2, t2) = (new byte[plain.Length], new byte[16], new byte[plain.Length], new byte[16]);
            using (var reference = new AesGcm(key, 16)) reference.Encrypt(nonce, plain, c1, t1, aad);
            using (var gcm = new SopsGcm(key)) gcm.Encrypt(nonce, plain, c2, t2, aad);
            Assert.Equal(c1, c2);
            Assert.Equal(t1, t2);
        }
    }

    // McGrew & Viega, "The Galois/Counter Mode of Operation", test case 18: AES-256 with a 60-byte IV.
    [Fact]
    public void LongNonce_MatchesThePublishedTestVector()
    {
        var key = Convert.FromHexString("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308");
        var plain = Convert.FromHexString("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39");
        var aad = Convert.FromHexString("feedfacedeadbeeffeedfacedeadbeefabaddad2");
        var iv = Convert.FromHexString("9313225df88406e555909c5aff5269aa6a7a9538534f7da1e4c303d2a318a728c3c0c95156809539fcf0e2429a6b525416aedbf5a0de6a57a637b39b");
        var (c, t) = (new byte[plain.Length], new byte[16]);
        using var gcm = new SopsGcm(key);
        gcm.Encrypt(iv, plain, c, t, aad);
        Assert.Equal("5a8def2f0c9e53f1f75d7853659e2a20eeb2b22aafde6419a058ab4f6f746bf40fc0c3b780f244452da3ebf1c5d82cdea2418997200ef82e44ae7e3f", Convert.ToHexStringLower(c));
        Assert.Equal("a44a8266ee1c8eb0c8b5d4cf5ae9f19a", Convert.ToHexStringLower(t));
        var back = new byte[c.Length];
        Assert.True(gcm.TryDecrypt(iv, c, t, back, aad));
        Assert.Equal(plain, back);
        t[0] ^= 1;
        Assert.False(gcm.TryDecrypt(iv, c, t, back, aad));
    }
}
