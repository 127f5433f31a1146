using System.Text;
using System.Text.Json;

namespace Keyward.Cli.Tests;

/// <summary>The README's main job, end to end: apply the homelab example into a throwaway root.</summary>
public sealed class ExampleEndToEndTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("keyward-e2e-").FullName;
    private string Root => Path.Combine(_dir, "root");
    private string State => Path.Combine(_dir, "state");
    private static string Manifest => Path.Combine(CliHarness.RepoRoot, "examples", "homelab", "keyward.yaml");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private Task<CliResult> Apply(CliHarness cli, params string[] extra) =>
        cli.RunAsync(["apply", "-f", Manifest, "--root", Root, "--state", State, "--no-hooks", .. extra]);

    [Fact]
    public async Task Apply_Example_WritesEverySinkWithItsDeclaredMode()
    {
        var cli = new CliHarness();
        var r = await Apply(cli);
        Assert.True(r.ExitCode == 0, r.ToString());
        var plan = await cli.RunAsync("plan", "-f", Manifest, "--root", Root, "--state", State, "--json");
        Assert.Equal(0, plan.ExitCode);
        using var doc = JsonDocument.Parse(plan.Out);
        var sinks = doc.RootElement.GetProperty("sinks").EnumerateArray().ToArray();
        Assert.NotEmpty(sinks);
        var loaded = Core.Manifest.ManifestLoader.Load(Manifest).Manifest!;
        foreach (var sink in loaded.Sinks)
        {
            var path = Path.Join(Root, sink.StoragePath.TrimStart('/'));
            if (sinks.First(s => s.GetProperty("name").GetString() == sink.Name).GetProperty("action").GetString() == "pending") continue;
            Assert.True(File.Exists(path), $"{sink.Name}: {path} missing\n{r}");
            Assert.Equal(sink.Mode, (int)File.GetUnixFileMode(path));
            if (sink.PersistRoot is not null)
            {
                var link = Path.Join(Root, sink.Path.TrimStart('/'));
                var info = new FileInfo(link);
                Assert.NotNull(info.LinkTarget);
                Assert.Equal(Path.GetFullPath(path), Path.GetFullPath(info.ResolveLinkTarget(returnFinalTarget: true)!.FullName));
            }
        }
    }

    [Fact]
    public async Task Apply_Twice_SecondRunIsAllUnchangedAndWritesNoFile()
    {
        var cli = new CliHarness();
        Assert.Equal(0, (await Apply(cli)).ExitCode);
        var before = Snapshot(Root);
        var second = await Apply(cli, "--json");
        Assert.True(second.ExitCode == 0, second.ToString());
        using var doc = JsonDocument.Parse(second.Out);
        foreach (var c in doc.RootElement.GetProperty("credentials").EnumerateArray())
            Assert.Contains(c.GetProperty("action").GetString(), new[] { "unchanged", "pending" });
        foreach (var s in doc.RootElement.GetProperty("sinks").EnumerateArray())
            Assert.Contains(s.GetProperty("action").GetString(), new[] { "unchanged", "pending" });
        Assert.Equal(0, doc.RootElement.GetProperty("applied").GetProperty("filesWritten").GetInt32());
        Assert.Equal(before, Snapshot(Root));
    }

    /// <summary>Path → (inode, mtime ticks) for every file and link under a directory.</summary>
    private static Dictionary<string, (long, long)> Snapshot(string dir)
    {
        var result = new Dictionary<string, (long, long)>(StringComparer.Ordinal);
        foreach (var f in Directory.EnumerateFileSystemEntries(dir, "*", SearchOption.AllDirectories))
        {
            var st = new FileInfo(f);
            result[f] = (Inode(f), st.LastWriteTimeUtc.Ticks);
        }
        return result;
    }

    private static long Inode(string path)
    {
        var psi = new System.Diagnostics.ProcessStartInfo("stat", ["-c", "%i", path]) { RedirectStandardOutput = true };
        using var p = System.Diagnostics.Process.Start(psi)!;
        var s = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return long.Parse(s.Trim(), System.Globalization.CultureInfo.InvariantCulture);
    }

    [Fact]
    public async Task Example_NoSecretValueAppearsInOutputOrUnderTheStateDirectory()
    {
        var cli = new CliHarness();
        Assert.Equal(0, (await Apply(cli)).ExitCode);
        await Apply(cli);
        await cli.RunAsync("plan", "-f", Manifest, "--root", Root, "--state", State);
        await cli.RunAsync("list", "--state", State, "-f", Manifest);
        await cli.RunAsync("list", "--state", State, "--json");

        // Every stored value: read through `get` (the deliberate way out), plus the imported sources.
        var list = await cli.RunAsync("list", "--state", State, "--json");
        using var doc = JsonDocument.Parse(list.Out);
        var values = new List<byte[]>();
        var getter = new CliHarness();
        foreach (var c in doc.RootElement.EnumerateArray())
        {
            var got = await getter.RunAsync("get", c.GetProperty("name").GetString()!, "--state", State);
            Assert.Equal(0, got.ExitCode);
            values.Add(got.StdOutBytes);
        }
        Assert.True(values.Count >= 8, $"expected the example's credentials in the store, got {values.Count}");
        var tokens = JsonSerializer.Deserialize<Dictionary<string, string>>(File.ReadAllText(Path.Combine(CliHarness.RepoRoot, "examples", "homelab", "tokens.json")))!;
        values.AddRange(tokens.Values.Select(Encoding.UTF8.GetBytes));

        var haystacks = new List<(string Where, byte[] Bytes)> { ("output", Encoding.UTF8.GetBytes(cli.AllOutput.ToString())) };
        foreach (var f in Directory.EnumerateFiles(State, "*", SearchOption.AllDirectories))
            haystacks.Add((f, File.ReadAllBytes(f)));
        foreach (var v in values.Where(v => v.Length >= 8))
        {
            foreach (var form in Forms(v))
                foreach (var (where, bytes) in haystacks)
                    Assert.False(bytes.AsSpan().IndexOf(form) >= 0, $"a secret value (or its encoding) appears in {where}");
        }
    }

    private static IEnumerable<byte[]> Forms(byte[] value)
    {
        yield return value;
        yield return Encoding.ASCII.GetBytes(Convert.ToBase64String(value));
        yield return Encoding.ASCII.GetBytes(Convert.ToHexStringLower(value));
    }

    [Fact]
    public async Task Get_ToATerminal_IsRefusedWithoutReveal()
    {
        var cli = new CliHarness();
        Assert.Equal(0, (await Apply(cli)).ExitCode);
        var tty = new CliHarness { OutIsTerminal = true };
        var r = await tty.RunAsync("get", "attic-jwt-secret", "--state", State);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("KW0005", r.Err, StringComparison.Ordinal);
        Assert.Contains("hint:", r.Err, StringComparison.Ordinal);
        Assert.Empty(r.StdOutBytes);
    }
}
