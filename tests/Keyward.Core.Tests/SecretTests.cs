using Keyward.Core.Secrets;

namespace Keyward.Core.Tests;

public sealed class SecretTests
{
    [Fact]
    public void ToString_NeverShowsTheValue()
    {
        using var s = Secret.FromUtf8("hunter2-very-secret");
        Assert.Equal("[redacted]", s.ToString());
        Assert.Equal("[redacted]", $"{s}");
        Assert.DoesNotContain("hunter2", s.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void JsonSerialisation_IsRefused()
    {
        var options = new System.Text.Json.JsonSerializerOptions();
        options.Converters.Add(new SecretJsonConverter());
        using var s = Secret.FromUtf8("hunter2");
        Assert.Throws<InvalidOperationException>(() => System.Text.Json.JsonSerializer.Serialize(new { Value = s }, options));
    }

    [Fact]
    public void JsonSerialisation_IsRefused_EvenWithDefaultOptions()
    {
        using var s = Secret.FromUtf8("hunter2");
        Assert.Throws<InvalidOperationException>(() => System.Text.Json.JsonSerializer.Serialize(new { Value = s }));
    }

    [Fact]
    public void Equality_ComparesBytesInConstantTime()
    {
        using var a = Secret.FromUtf8("abc");
        using var b = Secret.FromUtf8("abc");
        using var c = Secret.FromUtf8("abd");
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
    }

    [Fact]
    public void Dispose_ZeroesAndForbidsReveal()
    {
        var s = Secret.FromUtf8("abc");
        s.Dispose();
        Assert.Throws<ObjectDisposedException>(() => s.Reveal().ToArray());
    }
}
