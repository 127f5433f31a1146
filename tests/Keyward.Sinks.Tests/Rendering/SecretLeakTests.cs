using Keyward.Core.Manifest;
using Keyward.Sinks.Tests.Support;
using static Keyward.Sinks.Tests.Support.Fixtures;

namespace Keyward.Sinks.Tests.Rendering;

/// <summary>Values leave the sink code only as the bytes of the file: never in a ToString, warning or error text.</summary>
public sealed class SecretLeakTests
{
    [Fact]
    public void ResolvedCredential_ToString_IsRedacted()
    {
        var resolved = Resolved(External("github-token", ExternalProvider.GitHub, "github.com"), GitHubToken);
        var text = resolved.ToString();
        Assert.DoesNotContain(GitHubToken, text, StringComparison.Ordinal);
        Assert.Contains("[redacted]", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Writer_WarningsAndErrors_NeverCarryContent()
    {
        using var dir = new TempDir();
        var warnings = new List<string>();
        var writer = new AtomicFileWriter(TempDir.Fingerprint(), warnings.Add, isRoot: false);
        var content = SinkRenderer.Render(Sink(SinkFormat.Env, [Entry("GH", "github-token")]), Homelab());
        writer.Write(new FileWriteRequest(dir["a.env"], content, 0x180, 0x1C0, "nobody", "nogroup", null));
        Directory.CreateDirectory(dir["b.env"]);
        var e = Assert.ThrowsAny<Exception>(() => writer.Write(new FileWriteRequest(dir["b.env"], content, 0x180, 0x1C0, null, null, null)));
        foreach (var text in warnings.Append(e.ToString()))
            Assert.DoesNotContain(GitHubToken, text, StringComparison.Ordinal);
        Assert.Single(warnings);
    }
}
