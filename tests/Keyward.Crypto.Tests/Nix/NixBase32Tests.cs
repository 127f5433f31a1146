using System.Security.Cryptography;
using Keyward.Crypto.Nix;

namespace Keyward.Crypto.Tests.Nix;

public sealed class NixBase32Tests
{
    [Fact]
    public void Encode_Sha256OfEmptyString_MatchesNixHash()
    {
        // `nix-hash --type sha256 --to-base32 e3b0c442…b855` (nix 2.8)
        Assert.Equal("0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73", NixBase32.Encode(SHA256.HashData([])));
    }

    [Fact]
    public void Decode_RoundTripsRandomBytes()
    {
        for (var n = 1; n < 70; n++)
        {
            var bytes = RandomNumberGenerator.GetBytes(n);
            var text = NixBase32.Encode(bytes);
            Assert.Equal(NixBase32.EncodedLength(n), text.Length);
            Assert.Equal(bytes, NixBase32.Decode(text));
        }
    }

    [Theory]
    [InlineData("0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c7e")] // 'e' is not in the alphabet
    [InlineData("zmdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73")] // excess high bits
    [InlineData("0mdqa9w1p6c")] // a length no byte count produces
    public void Decode_Invalid_Throws(string text) => Assert.Throws<FormatException>(() => NixBase32.Decode(text));
}
