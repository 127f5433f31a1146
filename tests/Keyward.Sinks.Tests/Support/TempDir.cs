using System.Security.Cryptography;

namespace Keyward.Sinks.Tests.Support;

/// <summary>A private temporary directory removed at the end of the test.</summary>
internal sealed class TempDir : IDisposable
{
    public TempDir()
    {
        Path = Directory.CreateTempSubdirectory("kw-sinks-").FullName;
    }

    public string Path { get; }

    public string this[string relative] => System.IO.Path.Combine(Path, relative);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // best effort
        }
    }

    /// <summary>A keyed fingerprint like the store's (HMAC-SHA-256 under a per-test key).</summary>
    public static Func<ReadOnlySpan<byte>, string> Fingerprint()
    {
        var key = RandomNumberGenerator.GetBytes(32);
        return data => Convert.ToHexStringLower(HMACSHA256.HashData(key, data));
    }
}
