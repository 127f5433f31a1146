using System.Text.Json.Nodes;

namespace Keyward.Cli.Tests;

/// <summary>
/// The <c>--json</c> outputs of the real binary (the NativeAOT one under test.sh: <see cref="KeywardProcess"/>) against
/// the README's example: each is the same text the in-process CLI prints, and none has an empty object. A reflection
/// serializer in the native binary prints <c>{}</c> for every record, so it fails here (the trim/AOT analyzers also
/// fail the build on one).
/// </summary>
[Trait("Category", "Interop")]
public sealed class BinaryJsonOutputTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("keyward-binary-json-").FullName;
    private string Root => Path.Combine(_dir, "root");
    private string State => Path.Combine(_dir, "state");
    private static string Manifest => Path.Combine(CliHarness.RepoRoot, "examples", "homelab", "keyward.yaml");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static async Task<(int Code, string Out, string Err)> Binary(params string[] args)
    {
        var psi = KeywardProcess.Start([], args);
        // The in-process harness sees no environment; the process sees only what running a program needs.
        psi.Environment.Clear();
        psi.Environment["PATH"] = Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin";
        if (KeywardProcess.Native is null) psi.Environment["DOTNET_TieredCompilation"] = "1";
        psi.WorkingDirectory = CliHarness.RepoRoot;
        return await KeywardProcess.RunAsync(psi);
    }

    /// <summary>Every object in the document has a property: trimmed reflection metadata writes <c>{}</c>.</summary>
    private static void AssertNoEmptyObject(string json, string command)
    {
        var stack = new Stack<JsonNode?>([JsonNode.Parse(json)]);
        Assert.NotNull(stack.Peek());
        while (stack.TryPop(out var node))
        {
            switch (node)
            {
                case JsonObject o:
                    Assert.True(o.Count > 0, $"{command}: an empty object in\n{json}");
                    foreach (var (_, v) in o) stack.Push(v);
                    break;
                case JsonArray a:
                    foreach (var v in a) stack.Push(v);
                    break;
            }
        }
    }

    /// <summary>check's condition times are when each run observed them.</summary>
    private static string Untimed(string json) =>
        System.Text.RegularExpressions.Regex.Replace(json, "\"(lastTransitionTime|lastTrueTime)\": \"[^\"]*\"", "\"$1\": \"…\"");

    [Fact]
    public async Task JsonCommands_FromTheBinary_PrintWhatTheInProcessCliPrints()
    {
        var apply = await Binary("apply", "-f", Manifest, "--root", Root, "--state", State, "--no-hooks", "--json");
        Assert.True(apply.Code == 0, apply.Err);
        AssertNoEmptyObject(apply.Out, "apply --json");

        string[][] commands =
        [
            ["plan", "-f", Manifest, "--root", Root, "--state", State, "--json"],
            ["apply", "-f", Manifest, "--root", Root, "--state", State, "--no-hooks", "--json"],
            ["list", "--state", State, "--json"],
            ["list", "--state", State, "--all", "-f", Manifest, "--json"],
            ["list", "--state", State, "-f", Manifest, "--wide", "--json"],
            ["tokens", "--state", State, "--json"],
            ["audit", "--state", State, "--json"],
            ["store", "recipients", "--state", State, "--json"],
            ["check", "onepassword-token", "-f", Manifest, "--root", Root, "--state", State, "--timeout", "5s", "--json"],
        ];
        var cli = new CliHarness();
        foreach (var args in commands)
        {
            var command = string.Join(' ', args.Where(a => !a.StartsWith('/')));
            var fromBinary = await Binary(args);
            var inProcess = await cli.RunAsync(args);
            Assert.True(fromBinary.Code == inProcess.ExitCode, $"{command}: exit {fromBinary.Code} vs {inProcess.ExitCode}\n{fromBinary.Err}");
            AssertNoEmptyObject(fromBinary.Out, command);
            Assert.Equal(Untimed(inProcess.Out), Untimed(fromBinary.Out));
        }
    }

    [Fact]
    public async Task RotationJson_FromTheBinary_HasItsFields()
    {
        Assert.Equal(0, (await Binary("apply", "-f", Manifest, "--root", Root, "--state", State, "--no-hooks")).Code);

        var plan = await Binary("plan", "rotate", "attic-jwt-secret", "-f", Manifest, "--state", State, "--json");
        Assert.True(plan.Code == 0, plan.Err);
        AssertNoEmptyObject(plan.Out, "plan rotate --json");
        var p = JsonNode.Parse(plan.Out)!;
        Assert.Equal("manual", (string)p["reason"]!);
        Assert.Contains(p["rotations"]!.AsArray(), r => (string)r!["rule"]! is { Length: > 0 } && (string)r["credential"]! == "attic-jwt-secret");
        Assert.NotEmpty(p["steps"]!.AsArray());

        var rotate = await Binary("rotate", "ci-push-token", "-f", Manifest, "--root", Root, "--state", State, "--json");
        Assert.True(rotate.Code == 0, rotate.Err);
        AssertNoEmptyObject(rotate.Out, "rotate --json");
        var r = JsonNode.Parse(rotate.Out)!;
        Assert.True((long)r["journal"]! > 0);
        Assert.Equal("Committed", (string)r["state"]!);
        Assert.NotEmpty(r["log"]!.AsArray());

        var tokens = await Binary("tokens", "--state", State, "--json");
        var ledger = JsonNode.Parse(tokens.Out)!.AsArray();
        Assert.Equal(2, ledger.Count(t => (string)t!["credential"]! == "ci-push-token"));
        var revoke = await Binary("revoke", "ci-push-token", "--state", State, "--json");
        Assert.True(revoke.Code == 0, revoke.Err);
        var v = JsonNode.Parse(revoke.Out)!;
        Assert.Equal("ci-push-token", (string)v["credential"]!);
        Assert.False((bool)v["alreadyRevoked"]!);
    }
}
