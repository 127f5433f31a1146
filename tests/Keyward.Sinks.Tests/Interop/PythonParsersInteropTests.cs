using System.Text;
using Keyward.Core.Manifest;
using Keyward.Sinks.Tests.Support;
using static Keyward.Sinks.Tests.Support.Fixtures;

namespace Keyward.Sinks.Tests.Interop;

/// <summary>Independent parsers read Keyward's files back: PyYAML for the Kubernetes Secret, <c>tomllib</c> for the
/// Attic client config, <c>json</c> for the JSON sink, and a POSIX shell for the env file.</summary>
[Trait("Category", "Interop")]
public sealed class PythonParsersInteropTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private const string Python = "/usr/bin/python3";

    private async Task<string> PythonAsync(string script, string file)
    {
        var python = Tool.Require(Python, "python3-yaml");
        var result = await Tool.RunAsync(python, ["-c", script, file]);
        Assert.True(result.ExitCode == 0, $"python3 failed ({result.ExitCode}): {result.Stderr}");
        return result.Stdout;
    }

    // Values chosen to stress quoting: YAML/TOML/JSON metacharacters, a leading digit, non-ASCII, backslashes, DEL.
    private static Dictionary<string, ResolvedCredential> Tricky() => new(Homelab(), StringComparer.Ordinal)
    {
        ["tricky"] = Resolved(External("tricky", ExternalProvider.Generic), "1234 \"q\" 'a' \\ #x: y - [z] {w} é\u007f\t\nend"),
        ["digits"] = Resolved(External("digits", ExternalProvider.Generic), "12345"),
    };

    [Fact]
    public async Task KubernetesSecret_ParsesWithPyYaml_AndDataDecodesToTheValues()
    {
        var sink = Sink(SinkFormat.KubernetesSecret, [Entry("token", "coder-admin-token"), Entry("tricky.txt", "tricky"), Entry("raw-bytes", "attic-jwt-secret"), Entry("n", "digits")],
            kubernetes: new KubernetesSecretOptions("coder-admin-api-token", "coder", "Opaque",
                new Dictionary<string, string> { ["app.kubernetes.io/managed-by"] = "keyward", ["yes"] = "no", ["v"] = "1.0" }, false));
        var file = _dir["secret.yaml"];
        File.WriteAllBytes(file, SinkRenderer.Render(sink, Tricky()));
        const string script = """
            import sys, yaml, base64, json
            doc = yaml.safe_load(open(sys.argv[1]))
            assert doc["apiVersion"] == "v1" and doc["kind"] == "Secret" and doc["type"] == "Opaque", doc
            out = {"meta": doc["metadata"], "data": {k: base64.b64decode(v, validate=True).hex() for k, v in doc["data"].items()}}
            print(json.dumps(out, sort_keys=True))
            """;
        var json = System.Text.Json.JsonDocument.Parse(await PythonAsync(script, file)).RootElement;
        var meta = json.GetProperty("meta");
        Assert.Equal("coder-admin-api-token", meta.GetProperty("name").GetString());
        Assert.Equal("coder", meta.GetProperty("namespace").GetString());
        Assert.Equal("no", meta.GetProperty("labels").GetProperty("yes").GetString()); // strings, not YAML 1.1 booleans
        Assert.Equal("1.0", meta.GetProperty("labels").GetProperty("v").GetString());
        var data = json.GetProperty("data");
        Assert.Equal(Hex("0123456789-abcdefghijklmnopqrstuv"), data.GetProperty("token").GetString());
        Assert.Equal(Hex(Tricky()["tricky"].Value!.RevealString()), data.GetProperty("tricky.txt").GetString());
        Assert.Equal(Convert.ToHexStringLower(JwtSecretBytes), data.GetProperty("raw-bytes").GetString());
        Assert.Equal(Hex("12345"), data.GetProperty("n").GetString());
    }

    [Fact]
    public async Task AtticConfig_ParsesWithTomllib()
    {
        var values = Tricky();
        var sink = Sink(SinkFormat.AtticConfig, [
            Entry("homelab", "ci-push-token", endpoint: "https://cache.example.org/"),
            Entry("odd.name", "tricky", endpoint: "http://localhost:8080/a\"b"),
            Entry("file-based", "ci-push-token", endpoint: "https://c.example.org/", tokenFile: "/run/keyward/attic token\\x"),
        ]);
        var file = _dir["config.toml"];
        File.WriteAllBytes(file, SinkRenderer.Render(sink, values));
        const string script = """
            import sys, tomllib, json
            print(json.dumps(tomllib.load(open(sys.argv[1], "rb"))))
            """;
        var json = System.Text.Json.JsonDocument.Parse(await PythonAsync(script, file)).RootElement;
        Assert.Equal("homelab", json.GetProperty("default-server").GetString());
        var servers = json.GetProperty("servers");
        Assert.Equal(AtticToken, servers.GetProperty("homelab").GetProperty("token").GetString());
        Assert.Equal(values["tricky"].Value!.RevealString(), servers.GetProperty("odd.name").GetProperty("token").GetString());
        Assert.Equal("http://localhost:8080/a\"b", servers.GetProperty("odd.name").GetProperty("endpoint").GetString());
        Assert.Equal("/run/keyward/attic token\\x", servers.GetProperty("file-based").GetProperty("token-file").GetString());
        Assert.False(servers.GetProperty("file-based").TryGetProperty("token", out _));
    }

    [Fact]
    public async Task Json_ParsesWithPythonJson()
    {
        var values = Tricky();
        var file = _dir["tokens.json"];
        File.WriteAllBytes(file, SinkRenderer.Render(Sink(SinkFormat.Json, [Entry("github.com", "github-token"), Entry("t", "tricky")]), values));
        var output = await PythonAsync("import sys, json; d = json.load(open(sys.argv[1])); sys.stdout.buffer.write(d['t'].encode())", file);
        Assert.Equal(values["tricky"].Value!.RevealString(), output);
    }

    [Fact]
    public async Task Env_IsReadBackByAPosixShell()
    {
        var values = new Dictionary<string, ResolvedCredential>(Homelab(), StringComparer.Ordinal)
        {
            ["shellish"] = Resolved(External("shellish", ExternalProvider.Generic), "a \"b\" 'c' \\d `e` $f ${g} !h #i ;j &k |l *m ~n é\to"),
        };
        var sink = Sink(SinkFormat.Env, [Entry("JWT", "attic-jwt-secret", ValueEncoding.Base64), Entry("SHELLISH", "shellish"), Entry("GH", "github-token")]);
        var file = _dir["atticd.env"];
        File.WriteAllBytes(file, SinkRenderer.Render(sink, values));
        var sh = Tool.Require("/bin/sh", "dash");
        var result = await Tool.RunAsync(sh, ["-c", ". \"$0\"; printf '%s\\n%s\\n%s' \"$JWT\" \"$SHELLISH\" \"$GH\"", file]);
        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.Equal($"{Convert.ToBase64String(JwtSecretBytes)}\n{values["shellish"].Value!.RevealString()}\n{GitHubToken}", result.Stdout);
    }

    /// <summary>A runner env: literal values of the manifest (one with every character a shell treats specially) read back
    /// exactly, beside a credential's value.</summary>
    [Fact]
    public async Task Env_LiteralsAreReadBackByAPosixShell()
    {
        const string labels = "nix \"linux\" 'x86_64' \\d `e` $HOME ${g} !h #i ;j &k |l *m ~n é\to";
        var sink = Sink(SinkFormat.Env, [
            SinkEntry.OfLiteral("ATTIC_SERVER", "https://cache.example.org/", Here),
            SinkEntry.OfLiteral("ATTIC_CACHE", "main", Here),
            Entry("ATTIC_TOKEN", "ci-push-token"),
            SinkEntry.OfLiteral("RUNNER_LABELS", labels, Here),
        ]);
        var file = _dir["runner.env"];
        File.WriteAllBytes(file, SinkRenderer.Render(sink, Homelab()));
        var sh = Tool.Require("/bin/sh", "dash");
        var result = await Tool.RunAsync(sh, ["-c", ". \"$0\"; printf '%s\\n%s\\n%s\\n%s' \"$ATTIC_SERVER\" \"$ATTIC_CACHE\" \"$ATTIC_TOKEN\" \"$RUNNER_LABELS\"", file]);
        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.Equal($"https://cache.example.org/\nmain\n{AtticToken}\n{labels}", result.Stdout);
    }

    private static string Hex(string s) => Convert.ToHexStringLower(Encoding.UTF8.GetBytes(s));
}
