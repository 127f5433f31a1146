using System.Text;
using Keyward.Server.Metrics;

namespace Keyward.Server.Tests;

/// <summary>A scrape sends prerendered families as the UTF-8 bytes made once, between the pieces rendered at the scrape:
/// the bytes on the wire are exactly the text, in source order.</summary>
public sealed class MetricsWriterTests
{
    private sealed class Source(Action<MetricsWriter> collect) : IMetricsSource
    {
        public void Collect(MetricsWriter writer) => collect(writer);
    }

    [Fact]
    public void Utf8Pieces_AreTheRenderedText_InOrder_WithThePrerenderedBlockAsItsOwnBytes()
    {
        var block = MetricsWriter.Prerender(w =>
        {
            w.Family("keyward_block_total", MetricType.Counter, "a block");
            w.Sample(3, ("credential", "ünïcode \"quoted\" \\ back"));
        });
        var sources = new IMetricsSource[]
        {
            new Source(w => w.Family("keyward_first", MetricType.Gauge, "first").Sample(1)),
            new Source(w => w.Append(block)),
            new Source(w => w.Family("keyward_last", MetricType.Gauge, "last").Sample(2, ("sink", "s"))),
        };
        var pieces = MetricsWriter.RenderUtf8(sources);
        var joined = Encoding.UTF8.GetString(pieces.SelectMany(p => p.ToArray()).ToArray());
        Assert.Equal(MetricsWriter.Render(sources), joined);
        Assert.Equal(
            "# HELP keyward_first first\n# TYPE keyward_first gauge\nkeyward_first 1\n" + block.Text +
            "# HELP keyward_last last\n# TYPE keyward_last gauge\nkeyward_last{sink=\"s\"} 2\n", joined);
        Assert.Contains(pieces, p => p.Equals(block.Utf8)); // sent as made, not copied
        Assert.Contains("credential=\"ünïcode \\\"quoted\\\" \\\\ back\"", joined, StringComparison.Ordinal);
        // A family twice is still refused across a block.
        Assert.Throws<InvalidOperationException>(() => MetricsWriter.RenderUtf8([new Source(w => w.Append(block)), new Source(w => w.Append(block))]));
    }
}
