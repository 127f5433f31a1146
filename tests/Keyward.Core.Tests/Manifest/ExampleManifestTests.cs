using Keyward.Core.Manifest;

namespace Keyward.Core.Tests.Manifest;

public sealed class ExampleManifestTests
{
    [Fact]
    public void Example_LoadsWithoutErrorsOrWarnings()
    {
        var result = ManifestLoader.Load(ManifestFiles.Example);
        Assert.True(result.Diagnostics.Count == 0, string.Join("\n", result.Diagnostics.Select(d => d.Error.ToString())));
        Assert.NotNull(result.Manifest);
    }
}
