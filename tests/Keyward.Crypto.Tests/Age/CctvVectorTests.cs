using System.Security.Cryptography;
using Keyward.Core.Errors;
using Keyward.Crypto.Age;

namespace Keyward.Crypto.Tests.Age;

/// <summary>Every vector of the official C2SP CCTV age suite (npm package cctv-age), one test case each.</summary>
public sealed class CctvVectorTests
{
    private const string Missing = "(cctv-age vectors not installed)";

    public static TheoryData<string> VectorNames()
    {
        var data = new TheoryData<string>();
        if (CctvVectorSource.Location is null || CctvVectorSource.Vectors.Count == 0) data.Add(Missing);
        else foreach (var name in CctvVectorSource.Vectors.Keys) data.Add(name);
        return data;
    }

    [Theory]
    [MemberData(nameof(VectorNames))]
    public void Vector_DecryptsOrFailsAsExpected(string name)
    {
        Assert.True(name != Missing, CctvVectorSource.MissingMessage);
        var v = CctvVectorSource.Vectors[name];
        SkipUnsupported(v);

        var identities = v.Identities.Select(i => (IAgeIdentity)X25519Identity.Parse(i)).ToList();
        using var output = new MemoryStream();
        ErrorCode? failure = null;
        var message = "";
        try
        {
            AgeFile.Decrypt(new MemoryStream(v.File), output, identities, armored: v.Armored);
        }
        catch (KeywardException ex)
        {
            failure = ex.First.Code;
            message = ex.First.Message;
        }

        var expected = v.Expect switch
        {
            "success" => null,
            "no match" => ErrorCodes.AgeNoMatch,
            "HMAC failure" => ErrorCodes.AgeHmacMismatch,
            "header failure" => ErrorCodes.AgeHeaderInvalid,
            "payload failure" => ErrorCodes.AgePayloadInvalid,
            "armor failure" => ErrorCodes.AgeArmorInvalid,
            _ => throw new InvalidDataException($"{name}: unknown expect '{v.Expect}'"),
        };
        Assert.True(expected?.Code == failure?.Code,
            $"{name}: expected {expected?.Code ?? "success"} ({v.Expect}), got {failure?.Code ?? "success"} {message}");
        if (v.Expect is "success" or "payload failure")
            Assert.Equal(v.Payload, Convert.ToHexStringLower(SHA256.HashData(output.ToArray())));
    }

    /// <summary>The vectors whose header can be re-encoded: binary, with a valid header and a known file key.</summary>
    public static TheoryData<string> ReEncodableVectorNames()
    {
        var data = new TheoryData<string>();
        if (CctvVectorSource.Location is null || CctvVectorSource.Vectors.Count == 0) data.Add(Missing);
        else
            foreach (var (name, v) in CctvVectorSource.Vectors)
                if (v.Expect is "success" or "payload failure" or "no match" && !v.Armored && v.FileKey is not null)
                    data.Add(name);
        return data;
    }

    /// <summary>Re-encoding the parsed header with the vector's file key reproduces its bytes and MAC:
    /// the writer is canonical in every edge case the suite covers (empty bodies, 48-byte bodies, grease).</summary>
    [Theory]
    [MemberData(nameof(ReEncodableVectorNames))]
    public void Vector_HeaderRoundTrips(string name)
    {
        Assert.True(name != Missing, CctvVectorSource.MissingMessage);
        var v = CctvVectorSource.Vectors[name];
        var input = new AgeInput(new MemoryStream(v.File));
        var header = AgeHeader.Parse(input);
        using var written = new MemoryStream();
        AgeHeader.Write(written, header.Stanzas, Convert.FromHexString(v.FileKey!));
        var headerLength = header.MacInput.Length + 1 + 43 + 1;
        var original = v.File.AsSpan(0, headerLength).ToArray();
        if (v.Expect == "no match" && !header.VerifyMac(Convert.FromHexString(v.FileKey!)))
            Assert.Skip("the vector's file key does not match its MAC");
        Assert.Equal(Convert.ToHexString(original), Convert.ToHexString(written.ToArray()));
    }

    [Fact]
    public void Suite_IsInstalledAndComplete()
    {
        Assert.True(CctvVectorSource.Location is not null, CctvVectorSource.MissingMessage);
        // cctv-age 0.2.0 ships 143 vectors; fewer means the package layout changed and the loader missed some.
        Assert.True(CctvVectorSource.Vectors.Count >= 143, $"only {CctvVectorSource.Vectors.Count} vectors found in {CctvVectorSource.Location}");
    }

    private static void SkipUnsupported(CctvVector v)
    {
        var known = new HashSet<string>(StringComparer.Ordinal) { "expect", "payload", "identity", "passphrase", "armored", "compressed", "file key", "comment" };
        var unknown = v.Fields.Select(f => f.Key).FirstOrDefault(k => !known.Contains(k));
        if (unknown is not null) Assert.Skip($"unknown vector key '{unknown}' (the CCTV README says to ignore such files)");
        if (v.Identities.Any(i => i.StartsWith("AGE-SECRET-KEY-PQ-", StringComparison.Ordinal)))
            Assert.Skip("post-quantum hybrid (ML-KEM-768 + X25519) identities are not supported: the BCL's ML-KEM needs OpenSSL 3.5, Debian ships 3.0");
        if (v.HasPassphrase && !v.Identities.Any())
            Assert.Skip("scrypt (passphrase) recipients are not supported by Keyward");
    }
}
