using Keyward.Crypto.Age;

namespace Keyward.Crypto.Tests.Age;

/// <summary>Regression: native X25519 recipients whose bech32 data happens to start with "pq" or "tag" were refused as
/// post-quantum or tagged recipients (about one random key in a thousand), which made store initialisation flaky.</summary>
public sealed class RecipientPrefixRegressionTests
{
    [Fact]
    public void ParseRecipient_NativeKeysWhoseDataStartsWithPqOrTag_AreAccepted()
    {
        var found = new HashSet<string>();
        for (var i = 0; i < 200_000 && found.Count < 2; i++)
        {
            var r = X25519Identity.Generate().Recipient;
            var prefix = r.StartsWith("age1pq", StringComparison.Ordinal) ? "pq" : r.StartsWith("age1tag", StringComparison.Ordinal) ? "tag" : null;
            if (prefix is null || found.Contains(prefix)) continue;
            Assert.NotNull(AgeKeys.ParseRecipient(r));
            found.Add(prefix);
            if (prefix == "tag") found.Add("pq"); // a "tag" key is rare; one of either proves the point
        }
        Assert.NotEmpty(found);
    }

    [Theory]
    [InlineData("age1pq1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq")]
    [InlineData("age1tag1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq")]
    public void ParseRecipient_RealPostQuantumOrTagPrefix_IsUnsupported(string text)
    {
        var ex = Assert.Throws<Keyward.Core.Errors.KeywardException>(() => AgeKeys.ParseRecipient(text));
        Assert.Equal(Keyward.Core.Errors.ErrorCodes.AgeUnsupported, ex.First.Code);
    }
}
