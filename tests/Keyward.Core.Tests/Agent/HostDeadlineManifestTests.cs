using Keyward.Core.Manifest;

namespace Keyward.Core.Tests.Agent;

public sealed class HostDeadlineManifestTests
{
    private static ManifestLoadResult Parse(string yaml) => ManifestLoader.Parse(yaml.ReplaceLineEndings("\n"), "keyward.yaml");

    private static string Manifest(string own) => $"""
        apiVersion: keyward/v1
        defaults:
          rotation:
            secret: {"{"} hostDeadline: 5m {"}"}
        credentials:
          a: {"{"} kind: secret, owner: o, purpose: p{own} {"}"}
          b: {"{"} kind: secret, owner: o, purpose: p {"}"}
        """;

    [Fact]
    public void HostDeadline_IsReadAndInheritsTheKindDefault()
    {
        var r = Parse(Manifest(", rotation: { hostDeadline: 90s }"));
        Assert.False(r.HasErrors, string.Join("\n", r.Errors));
        var m = r.Manifest!;
        Assert.Equal(TimeSpan.FromSeconds(90), m.EffectivePolicy(m.FindCredential("a")!).HostDeadline!.Value.Value);
        Assert.Equal(TimeSpan.FromMinutes(5), m.EffectivePolicy(m.FindCredential("b")!).HostDeadline!.Value.Value);
    }

    [Theory]
    [InlineData(", rotation: { hostDeadline: 25h }", "KW1306", 6, 70)]
    [InlineData(", rotation: { hostDeadline: soon }", "KW0110", 6, 70)]
    public void BadHostDeadline_IsReportedWithCodeAndPosition(string own, string code, int line, int column)
    {
        var r = Parse(Manifest(own));
        var e = Assert.Single(r.Errors);
        Assert.Equal(code, e.Code.Code);
        Assert.Equal(line, e.Location!.Line);
        Assert.Equal(column, e.Location.Column);
    }
}
