using System.Text;
using Keyward.Core.Errors;
using Keyward.Core.Manifest;
using Keyward.Core.Secrets;
using Keyward.Engine.Delivery;
using Keyward.Sinks;

namespace Keyward.Engine.Tests.Delivery;

/// <summary>
/// <see cref="SinkDelivery.InspectAll(IReadOnlyList{Sink}, IReadOnlyDictionary{string, ResolvedCredential}, IReadOnlyDictionary{string, IReadOnlyList{string}})"/>
/// inspects sinks on several threads: every answer must be the one inspecting them one by one gives, in sink order,
/// with the same warnings in the same order, and the same failure.
/// </summary>
public sealed class SinkDeliveryInspectAllTests : IDisposable
{
    private const int Count = 150;
    private readonly string _dir = Directory.CreateTempSubdirectory("kw-inspectall-").FullName;
    private readonly string _root;
    private readonly KeywardManifest _m;
    private readonly Secret _value = Secret.FromUtf8(Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16)));
    private readonly IReadOnlyDictionary<string, ResolvedCredential> _values;
    private static readonly IReadOnlyDictionary<string, IReadOnlyList<string>> NoTrust = new Dictionary<string, IReadOnlyList<string>>();

    public SinkDeliveryInspectAllTests()
    {
        _root = Path.Combine(_dir, "root");
        var yaml = new StringBuilder("""
            apiVersion: keyward/v1
            credentials:
              s: { kind: secret, bytes: 32, owner: platform, purpose: test }
            sinks:

            """);
        // Owners no host has: under --root each is a warning (as root, where owners are looked up), once per owner, in
        // the order the sinks come; sink 0 names the second owner first, so warning order is not alphabetical.
        for (var i = 0; i < Count; i++)
        {
            var owner = i % 3 == 0 ? "kw-nobody-b" : "kw-nobody-a";
            yaml.Append(System.Globalization.CultureInfo.InvariantCulture,
                $"  s{i}: {{ path: /srv/d{i}/s.env, format: env, owner: {owner}, mode: \"0600\", entries: {{ S: {{ credential: s }}, N: {{ value: \"n{i}\" }} }} }}\n");
        }
        var path = Path.Combine(_dir, "keyward.yaml");
        File.WriteAllText(path, yaml.ToString());
        _m = ManifestLoader.Load(path).OrThrow();
        _values = SinkDelivery.ResolveAll(_m, new Dictionary<string, Secret> { ["s"] = _value });
        var writer = Delivery(new List<KeywardError>());
        foreach (var sink in _m.Sinks) writer.Write(writer.Request(sink, _values, NoTrust));
    }

    public void Dispose()
    {
        _value.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    private SinkDelivery Delivery(List<KeywardError> warnings) =>
        new(new EngineOptions { Root = _root, Warn = warnings.Add, RunHooks = false }, v => Convert.ToHexString(v));

    private string Target(int i) => Path.Combine(_root, "srv", $"d{i}", "s.env");

    private static (Sink, SinkState, string)[] Answers(IEnumerable<SinkInspection> inspections) =>
        [.. inspections.Select(x => (x.Sink, x.State, x.Summary))];

    [Fact]
    public void ManyThreads_AnswerAsOneDoes_InSinkOrder_WithEveryDriftedSinkAndEveryWarning()
    {
        // Drift spread over the list: gone, edited value, edited literal, wrong mode.
        for (var i = 5; i < Count; i += 17) File.Delete(Target(i));
        for (var i = 9; i < Count; i += 23)
            if (File.Exists(Target(i))) File.WriteAllLines(Target(i), File.ReadAllLines(Target(i)).Select(l => l.StartsWith("S=", StringComparison.Ordinal) ? "S=not-the-value" : l));
        for (var i = 11; i < Count; i += 29)
            if (File.Exists(Target(i))) File.WriteAllLines(Target(i), File.ReadAllLines(Target(i)).Select(l => l.StartsWith("N=", StringComparison.Ordinal) ? "N=other" : l));
        for (var i = 13; i < Count; i += 31)
            if (File.Exists(Target(i))) File.SetUnixFileMode(Target(i), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);

        var oneWarnings = new List<KeywardError>();
        var one = Delivery(oneWarnings);
        var expected = _m.Sinks.Select(s => one.Inspect(s, _values, NoTrust)).ToArray();

        var manyWarnings = new List<KeywardError>();
        var many = Delivery(manyWarnings).InspectAll(_m.Sinks, _values, NoTrust, parallelism: 4);

        Assert.Equal(Answers(expected), Answers(many));
        Assert.All(many.Zip(_m.Sinks), p => Assert.Same(p.Second, p.First.Sink));
        // The drift is really there, every bit of it (an empty or all-current answer would pass the comparison).
        Assert.Equal(Enumerable.Range(0, Count).Where(i => (i - 5) % 17 == 0 && i >= 5).Select(i => _m.Sinks[i].Name),
            many.Where(x => x.State == SinkState.Missing).Select(x => x.Sink.Name));
        Assert.Contains(many, x => x.Findings.Any(f => f.Reason == "ContentDiffers" && f.Message.Contains("s on disk is not the stored value", StringComparison.Ordinal)));
        Assert.Contains(many, x => x.Findings.Any(f => f.Reason == "ContentDiffers" && f.Message.Contains("N on disk is not the manifest's literal value", StringComparison.Ordinal)));
        Assert.Contains(many, x => x.Findings.Any(f => f.Reason == "WorldReadable"));
        Assert.Equal(Count - many.Count(x => x.State != SinkState.Current), many.Count(x => x.State == SinkState.Current));
        Assert.True(many.Count(x => x.State == SinkState.Current) > Count / 2);

        Assert.Equal(oneWarnings.Select(w => (w.Code, w.Message)), manyWarnings.Select(w => (w.Code, w.Message)));
        if (Environment.IsPrivilegedProcess)
        {
            // Owners are looked up only as root: each unknown owner warned about once, the one sink 0 names first.
            Assert.Equal(2, manyWarnings.Count);
            Assert.Contains("kw-nobody-b", manyWarnings[0].Message, StringComparison.Ordinal);
            Assert.Contains("kw-nobody-a", manyWarnings[1].Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void ManyThreads_ThrowTheFailureOfTheFirstFailingSink_AsOneDoes()
    {
        // A link below --root is refused wherever it is; two of them, the earlier one must be the one reported.
        foreach (var i in new[] { 90, 120 })
        {
            Directory.Delete(Path.GetDirectoryName(Target(i))!, recursive: true);
            File.CreateSymbolicLink(Path.GetDirectoryName(Target(i))!, Path.GetDirectoryName(Target(0))!);
        }
        var one = Assert.Throws<KeywardException>(() => _m.Sinks.Select(s => Delivery([]).Inspect(s, _values, NoTrust)).ToArray());
        var many = Assert.Throws<KeywardException>(() => Delivery([]).InspectAll(_m.Sinks, _values, NoTrust, parallelism: 4));
        Assert.Contains("d90", one.First.Message, StringComparison.Ordinal);
        Assert.Equal((one.First.Code, one.First.Message), (many.First.Code, many.First.Message));
    }

    [Fact]
    public void FewSinks_OrOneThread_StayOnTheCallingThread_WithTheSameAnswers()
    {
        var few = _m.Sinks.Take(SinkDelivery.ParallelThreshold - 1).ToArray();
        var expected = Answers(few.Select(s => Delivery([]).Inspect(s, _values, NoTrust)));
        Assert.Equal(expected, Answers(Delivery([]).InspectAll(few, _values, NoTrust, parallelism: 4)));
        Assert.Equal(Answers(_m.Sinks.Select(s => Delivery([]).Inspect(s, _values, NoTrust))), Answers(Delivery([]).InspectAll(_m.Sinks, _values, NoTrust, parallelism: 1)));
    }
}
