using System.Text;

namespace Keyward.Sinks.Tests.Support;

/// <summary>Compares rendered bytes with <c>Golden/NAME</c>. To (re)create golden files after a deliberate format change,
/// run the tests with <c>KEYWARD_UPDATE_GOLDEN=DIR</c> (the project's Golden folder) and review the diff.</summary>
internal static class Golden
{
    public static void Match(string name, byte[] actual)
    {
        var update = Environment.GetEnvironmentVariable("KEYWARD_UPDATE_GOLDEN");
        if (!string.IsNullOrEmpty(update))
        {
            Directory.CreateDirectory(update);
            File.WriteAllBytes(Path.Combine(update, name), actual);
            return;
        }
        var path = Path.Combine(AppContext.BaseDirectory, "Golden", name);
        Assert.True(File.Exists(path), $"golden file Golden/{name} is missing (set KEYWARD_UPDATE_GOLDEN to the Golden folder to create it)");
        var expected = File.ReadAllBytes(path);
        if (!expected.AsSpan().SequenceEqual(actual))
            Assert.Equal(Encoding.UTF8.GetString(expected), Encoding.UTF8.GetString(actual)); // a readable diff
        Assert.Equal(expected, actual); // and byte-exact (binary raw files)
    }

    public static void Match(string name, string actual) => Match(name, Encoding.UTF8.GetBytes(actual));
}
