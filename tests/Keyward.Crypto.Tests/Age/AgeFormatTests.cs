using System.Security.Cryptography;
using System.Text;
using Keyward.Core.Errors;
using Keyward.Crypto.Age;

namespace Keyward.Crypto.Tests.Age;

public sealed class AgeFormatTests
{
    private static string Golden(string name) =>
        Path.Combine(CctvVectorSource.RepoRoot(), "tests", "Keyward.Crypto.Tests", "Golden", "Age", "agenix", name);

    // The C2SP age spec's example identity and its recipient.
    private const string SpecIdentity = "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX";
    private const string SpecRecipient = "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj";

    [Fact]
    public void X25519Identity_SpecExample_GivesSpecRecipient()
    {
        var identity = X25519Identity.Parse(SpecIdentity);
        Assert.Equal(SpecRecipient, identity.Recipient);
        Assert.Equal(SpecIdentity, identity.ToSecret().RevealString());
        Assert.Equal(SpecRecipient, AgeKeys.ParseRecipient(SpecRecipient).ToString());
    }

    [Fact]
    public void Bech32_RoundTripsAnyLength_AndUpperCasesUpperHrp()
    {
        for (var length = 0; length < 70; length++)
        {
            var data = RandomNumberGenerator.GetBytes(length);
            var lower = Bech32.Encode("age", data);
            Assert.True(Bech32.TryDecode(lower, out var hrp, out var decoded));
            Assert.Equal("age", hrp);
            Assert.Equal(data, decoded);
            var upper = Bech32.Encode("AGE-SECRET-KEY-", data);
            Assert.Equal(upper.ToUpperInvariant(), upper);
            Assert.True(Bech32.TryDecode(upper, out _, out var decodedUpper));
            Assert.Equal(data, decodedUpper);
        }
    }

    [Fact]
    public void Bech32_BadChecksumMixedCaseAndBadCharacters_AreRejected()
    {
        var flipped = SpecRecipient[..^1] + (SpecRecipient[^1] == 'j' ? 'k' : 'j');
        Assert.False(Bech32.TryDecode(flipped, out _, out _));
        Assert.False(Bech32.TryDecode("age1ZVkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj", out _, out _));
        Assert.False(Bech32.TryDecode(SpecRecipient.Replace('q', 'b'), out _, out _));
        Assert.False(Bech32.TryDecode("age1", out _, out _));
        var ex = Assert.Throws<KeywardException>(() => AgeKeys.ParseRecipient(flipped));
        Assert.Equal(ErrorCodes.AgeRecipientInvalid, ex.First.Code);
        var bad = SpecIdentity[..^1] + "Y";
        var idEx = Assert.Throws<KeywardException>(() => X25519Identity.Parse(bad));
        Assert.Equal(ErrorCodes.AgeIdentityInvalid, idEx.First.Code);
        Assert.DoesNotContain(bad, idEx.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void ParseIdentities_SkipsCommentsAndBlankLines_AcceptsCrlf()
    {
        var a = X25519Identity.Generate();
        var b = X25519Identity.Generate();
        var text = $"# created: 2024-01-01T00:00:00Z\r\n# public key: {a.Recipient}\r\n{a.ToSecret().RevealString()}\r\n\r\n{b.ToSecret().RevealString()}\n";
        var identities = AgeKeys.ParseIdentities(text);
        Assert.Equal(2, identities.Count);
        var file = AgeFile.EncryptBytes("x"u8, [b.ToRecipient()]);
        Assert.Equal("x", AgeFile.DecryptBytes(file, identities).RevealString());
    }

    [Fact]
    public void ParseIdentities_BadLine_NamesTheLineButNotItsContent()
    {
        var secretLooking = "AGE-SECRET-KEY-1NOTREALLYASECRETBUTITMUSTNOTBEPRINTEDANYWAY";
        var ex = Assert.Throws<KeywardException>(() => AgeKeys.ParseIdentities($"# comment\n{secretLooking}\n"));
        Assert.Equal(ErrorCodes.AgeIdentityInvalid, ex.First.Code);
        Assert.Contains("line 2", ex.First.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(secretLooking, ex.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("NOTREALLY", ex.First.Hint + ex.First.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("", "KW0402")]
    [InlineData("# only a comment\n", "KW0402")]
    [InlineData("AGE-SECRET-KEY-PQ-1ABCDEF\n", "KW0408")]
    [InlineData("-----BEGIN RSA PRIVATE KEY-----\nMII\n-----END RSA PRIVATE KEY-----\n", "KW0408")]
    public void ParseIdentities_EmptyOrUnsupported_FailsWithCode(string text, string code)
    {
        var ex = Assert.Throws<KeywardException>(() => AgeKeys.ParseIdentities(text));
        Assert.Equal(code, ex.First.Code.Code);
    }

    [Fact]
    public void ParseRecipientsFile_SkipsComments_ReportsLineOfBadRecipient()
    {
        var a = X25519Identity.Generate();
        var ssh = File.ReadAllText(Golden("user1.pub"));
        var recipients = AgeKeys.ParseRecipientsFile($"# team\n{a.Recipient}\n\n{ssh}");
        Assert.Equal(2, recipients.Count);
        var ex = Assert.Throws<KeywardException>(() => AgeKeys.ParseRecipientsFile($"{a.Recipient}\n# x\nage1nope\n"));
        Assert.Contains("line 3", ex.First.Message, StringComparison.Ordinal);
        Assert.Equal(ErrorCodes.AgeNoRecipients, Assert.Throws<KeywardException>(() => AgeKeys.ParseRecipientsFile("# none\n")).First.Code);
    }

    [Theory]
    [InlineData("age1pq1whatever")]
    [InlineData("age1yubikey1qwt50d05nh5vutpdzmlg5wn80xq5negm4uj9ghv0snvdd3yysf5yw3rhl3t")]
    [InlineData("ssh-dss AAAAB3NzaC1kc3MAAACBAP")]
    public void ParseRecipient_UnsupportedTypes_FailWithUnsupported(string text)
    {
        Assert.Equal(ErrorCodes.AgeUnsupported, Assert.Throws<KeywardException>(() => AgeKeys.ParseRecipient(text)).First.Code);
    }

    [Fact]
    public void Encrypt_ToLowOrderRecipient_IsRefused()
    {
        var zero = Bech32.Encode("age", new byte[32]);
        var recipient = AgeKeys.ParseRecipient(zero);
        var ex = Assert.Throws<KeywardException>(() => AgeFile.EncryptBytes("x"u8, [recipient]));
        Assert.Equal(ErrorCodes.AgeRecipientInvalid, ex.First.Code);
    }

    [Theory]
    [InlineData("secret1.age", "user1", "hello\n")]
    [InlineData("secret1.age", "system1", "hello\n")]
    [InlineData("secret2.age", "user1", "world!\n")]
    [InlineData("armored-secret.age", "user1", "Hello World!\n")]
    public void AgenixFiles_DecryptWithTheirSshEd25519Keys(string file, string key, string expected)
    {
        var identities = AgeKeys.ParseIdentities(File.ReadAllText(Golden(key)));
        Assert.Equal(expected, AgeFile.DecryptBytes(File.ReadAllBytes(Golden(file)), identities).RevealString());
    }

    [Fact]
    public void AgenixFileWithGreaseStanza_Decrypts()
    {
        var identities = AgeKeys.ParseIdentities(File.ReadAllText(Golden("user1")));
        Assert.StartsWith("$6$", AgeFile.DecryptBytes(File.ReadAllBytes(Golden("passwordfile-user1.age")), identities).RevealString(), StringComparison.Ordinal);
    }

    [Fact]
    public void AgenixSecret2_WithSystem1Key_IsNoMatch()
    {
        var identities = AgeKeys.ParseIdentities(File.ReadAllText(Golden("system1")));
        var ex = Assert.Throws<KeywardException>(() => AgeFile.DecryptBytes(File.ReadAllBytes(Golden("secret2.age")), identities));
        Assert.Equal(ErrorCodes.AgeNoMatch, ex.First.Code);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void SshEd25519_RoundTrip_ToAgenixPublicKey(bool armor)
    {
        var recipient = AgeKeys.ParseRecipient(File.ReadAllText(Golden("user1.pub")));
        var file = AgeFile.EncryptBytes("to user1"u8, [recipient], armor);
        var identities = AgeKeys.ParseIdentities(File.ReadAllText(Golden("user1")));
        Assert.Equal("to user1", AgeFile.DecryptBytes(file, identities).RevealString());
        Assert.Contains("-> ssh-ed25519 V3XmEA ", Encoding.ASCII.GetString(armor ? Unarmor(file) : file), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(47)]
    [InlineData(48)]
    [InlineData(49)]
    [InlineData(65535)]
    [InlineData(65536)]
    [InlineData(65537)]
    [InlineData(3 * 65536)]
    public void X25519_RoundTrip_BinaryAndArmored(int size)
    {
        var identity = X25519Identity.Generate();
        var data = RandomNumberGenerator.GetBytes(size);
        foreach (var armor in new[] { false, true })
        {
            var file = AgeFile.EncryptBytes(data, [identity.ToRecipient()], armor);
            Assert.Equal(data, AgeFile.DecryptBytes(file, [identity]).Reveal().ToArray());
            if (armor) AssertCanonicalArmor(file);
        }
    }

    [Fact]
    public void Armor_CrlfConverted_StillDecrypts_ButInnerWhitespaceIsRejected()
    {
        var identity = X25519Identity.Generate();
        var file = AgeFile.EncryptBytes(new byte[500], [identity.ToRecipient()], armor: true);
        var text = Encoding.ASCII.GetString(file);
        var crlf = Encoding.ASCII.GetBytes("\n  \t" + text.Replace("\n", "\r\n", StringComparison.Ordinal) + "\r\n\n");
        Assert.Equal(500, AgeFile.DecryptBytes(crlf, [identity]).Length);

        var lines = text.Split('\n');
        lines[2] = lines[2] + " ";
        var spaced = Encoding.ASCII.GetBytes(string.Join('\n', lines));
        Assert.Equal(ErrorCodes.AgeArmorInvalid, Assert.Throws<KeywardException>(() => AgeFile.DecryptBytes(spaced, [identity])).First.Code);

        var garbage = Encoding.ASCII.GetBytes(text + "trailing\n");
        Assert.Equal(ErrorCodes.AgeArmorInvalid, Assert.Throws<KeywardException>(() => AgeFile.DecryptBytes(garbage, [identity])).First.Code);
    }

    [Fact]
    public void Header_TamperedRecipientLine_FailsHmacNotPayload()
    {
        var a = X25519Identity.Generate();
        var file = AgeFile.EncryptBytes("data"u8, [a.ToRecipient(), X25519Identity.Generate().ToRecipient()]);
        // Swap the order of the two stanzas: both still parse and ours still unwraps, but the MAC covers the order.
        var text = Encoding.Latin1.GetString(file);
        var lines = text.Split('\n');
        (lines[1], lines[2], lines[3], lines[4]) = (lines[3], lines[4], lines[1], lines[2]);
        var swapped = Encoding.Latin1.GetBytes(string.Join('\n', lines));
        Assert.Equal(ErrorCodes.AgeHmacMismatch, Assert.Throws<KeywardException>(() => AgeFile.DecryptBytes(swapped, [a])).First.Code);
    }

    [Fact]
    public void Decrypt_TruncatedPayload_WritesOnlyAuthenticatedPrefix()
    {
        var identity = X25519Identity.Generate();
        var data = RandomNumberGenerator.GetBytes(3 * 65536 + 10);
        var file = AgeFile.EncryptBytes(data, [identity.ToRecipient()]);
        using var output = new MemoryStream();
        var ex = Assert.Throws<KeywardException>(() => AgeFile.Decrypt(new MemoryStream(file[..^126]), output, [identity]));
        Assert.Equal(ErrorCodes.AgePayloadInvalid, ex.First.Code);
        Assert.Equal(data[..(2 * 65536)], output.ToArray());
    }

    [Fact]
    public void IdentityAndErrors_NeverPrintTheSecretKey()
    {
        var identity = X25519Identity.Generate();
        var secret = identity.ToSecret().RevealString();
        Assert.DoesNotContain(secret, identity.ToString()!, StringComparison.Ordinal);
        Assert.Equal("[redacted]", identity.ToSecret().ToString());
        var other = X25519Identity.Generate();
        var file = AgeFile.EncryptBytes("x"u8, [other.ToRecipient()]);
        var ex = Assert.Throws<KeywardException>(() => AgeFile.DecryptBytes(file, [identity]));
        Assert.DoesNotContain(secret, ex.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(secret[15..], ex.First.Message + ex.First.Hint, StringComparison.Ordinal);
    }

    private static byte[] Unarmor(byte[] armored)
    {
        var lines = Encoding.ASCII.GetString(armored).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        return Convert.FromBase64String(string.Concat(lines[1..^1]));
    }

    private static void AssertCanonicalArmor(byte[] file)
    {
        var text = Encoding.ASCII.GetString(file);
        Assert.StartsWith("-----BEGIN AGE ENCRYPTED FILE-----\n", text, StringComparison.Ordinal);
        Assert.EndsWith("\n-----END AGE ENCRYPTED FILE-----\n", text, StringComparison.Ordinal);
        var body = text.Split('\n')[1..^2];
        for (var i = 0; i < body.Length; i++)
        {
            if (i < body.Length - 1) Assert.Equal(64, body[i].Length);
            else Assert.InRange(body[i].Length, 1, 64);
        }
    }
}
