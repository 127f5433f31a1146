using System.Globalization;
using System.Text;

namespace Keyward.Server.Metrics;

/// <summary>The kind of a metric family in the Prometheus text format.</summary>
public enum MetricType
{
    Gauge,
    Counter,
}

/// <summary>
/// Writes the Prometheus text exposition format (version 0.0.4): <c># HELP</c>, <c># TYPE</c>, then one line per sample,
/// label values escaped (<c>\\</c>, <c>\"</c>, <c>\n</c>). Hand-written rather than a library: see docs/design.md
/// ("Metrics") — no reflection, so it is AOT-safe, and <c>promtool check metrics</c> validates its output in the tests.
/// </summary>
public sealed class MetricsWriter
{
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    private readonly StringBuilder _out;
    private readonly HashSet<string> _families = new(StringComparer.Ordinal);
    private string? _current;

    /// <summary>When rendering a response: the text so far, cut where a prerendered block was added (kept as its
    /// UTF-8 bytes, so a scrape neither copies nor encodes the 3 MB of per-credential families again).</summary>
    private List<ReadOnlyMemory<byte>>? _segments;

    public MetricsWriter(StringBuilder output) => _out = output ?? throw new ArgumentNullException(nameof(output));

    /// <summary>Starts a family; every following <see cref="Sample(double, (string, string)[])"/> belongs to it.</summary>
    public MetricsWriter Family(string name, MetricType type, string help)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(help);
        if (!ValidName(name)) throw new ArgumentException($"'{name}' is not a valid metric name", nameof(name));
        if (!_families.Add(name)) throw new InvalidOperationException($"metric family {name} is written twice");
        _current = name;
        _out.Append("# HELP ").Append(name).Append(' ').Append(help.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal)).Append('\n');
        _out.Append("# TYPE ").Append(name).Append(' ').Append(type == MetricType.Counter ? "counter" : "gauge").Append('\n');
        return this;
    }

    /// <summary>One sample of the current family.</summary>
    public MetricsWriter Sample(double value, params (string Name, string Value)[] labels)
    {
        ArgumentNullException.ThrowIfNull(labels);
        var name = _current ?? throw new InvalidOperationException("Sample before Family");
        _out.Append(name);
        if (labels.Length > 0)
        {
            _out.Append('{');
            for (var i = 0; i < labels.Length; i++)
            {
                if (i > 0) _out.Append(',');
                _out.Append(labels[i].Name).Append("=\"");
                foreach (var c in labels[i].Value)
                {
                    switch (c)
                    {
                        case '\\': _out.Append("\\\\"); break;
                        case '"': _out.Append("\\\""); break;
                        case '\n': _out.Append("\\n"); break;
                        default: _out.Append(c); break;
                    }
                }
                _out.Append('"');
            }
            _out.Append('}');
        }
        _out.Append(' ').Append(Format(value)).Append('\n');
        return this;
    }

    /// <summary>Renders families once into a block that <see cref="Append"/> adds to any later writer as it is.</summary>
    public static RenderedFamilies Prerender(Action<MetricsWriter> families)
    {
        ArgumentNullException.ThrowIfNull(families);
        var sb = new StringBuilder(64 * 1024);
        var writer = new MetricsWriter(sb);
        families(writer);
        return new RenderedFamilies(sb.ToString(), [.. writer._families]);
    }

    /// <summary>Adds a block made by <see cref="Prerender"/>; its families count as written here (no name twice).</summary>
    public MetricsWriter Append(RenderedFamilies block)
    {
        ArgumentNullException.ThrowIfNull(block);
        foreach (var name in block.Families)
            if (!_families.Add(name)) throw new InvalidOperationException($"metric family {name} is written twice");
        _current = null;
        if (_segments is null)
        {
            _out.Append(block.Text);
            return this;
        }
        Cut();
        _segments.Add(block.Utf8);
        return this;
    }

    internal static string Format(double value) =>
        double.IsNaN(value) ? "NaN"
        : double.IsPositiveInfinity(value) ? "+Inf"
        : double.IsNegativeInfinity(value) ? "-Inf"
        : value.ToString("R", CultureInfo.InvariantCulture);

    private static bool ValidName(string name) =>
        name.Length > 0 && (char.IsAsciiLetter(name[0]) || name[0] is '_' or ':') &&
        name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or ':');

    /// <summary>Every source's families, in registration order.</summary>
    public static string Render(IEnumerable<IMetricsSource> sources)
    {
        var bytes = RenderUtf8(sources);
        var total = new byte[bytes.Sum(b => b.Length)];
        var at = 0;
        foreach (var b in bytes)
        {
            b.Span.CopyTo(total.AsSpan(at));
            at += b.Length;
        }
        return Encoding.UTF8.GetString(total);
    }

    /// <summary><see cref="Render"/> as the UTF-8 pieces of the response, in order: what a scrape writes to the socket.
    /// Prerendered blocks are passed as they are.</summary>
    public static IReadOnlyList<ReadOnlyMemory<byte>> RenderUtf8(IEnumerable<IMetricsSource> sources)
    {
        ArgumentNullException.ThrowIfNull(sources);
        var writer = new MetricsWriter(new StringBuilder(16 * 1024)) { _segments = [] };
        foreach (var s in sources) s.Collect(writer);
        writer.Cut();
        return writer._segments!;
    }

    private void Cut()
    {
        if (_out.Length == 0) return;
        _segments!.Add(Encoding.UTF8.GetBytes(_out.ToString()));
        _out.Clear();
    }
}

/// <summary>Metric families rendered once (<see cref="MetricsWriter.Prerender"/>) and served until what they were
/// rendered from changes.</summary>
public sealed class RenderedFamilies
{
    internal RenderedFamilies(string text, IReadOnlyList<string> families)
    {
        Text = text;
        Utf8 = Encoding.UTF8.GetBytes(text);
        Families = families;
    }

    public string Text { get; }

    /// <summary><see cref="Text"/> encoded once, for the responses.</summary>
    public ReadOnlyMemory<byte> Utf8 { get; }

    public IReadOnlyList<string> Families { get; }
}
