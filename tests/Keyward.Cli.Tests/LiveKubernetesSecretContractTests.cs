using System.Text;
using System.Text.Json;

namespace Keyward.Cli.Tests;

/// <summary>apply, plan and check with a live kubernetes-secret sink, against an in-test HTTP server that keeps its Secrets
/// and answers the way the Kubernetes API does: server-side apply (PATCH /api/v1/namespaces/{ns}/secrets/{name},
/// application/apply-patch+yaml, fieldManager, force; managed keys merged into the object), GET (200 with base64 data,
/// 404 Status NotFound), DELETE, and 403 Status Forbidden while RBAC is missing. Contract test: a real API server cannot
/// run here.</summary>
public sealed class LiveKubernetesSecretContractTests : IDisposable
{
    private const string Token = "AbCdEfGhIj-0123456789abcdefghijkl";
    private readonly string _dir = Directory.CreateTempSubdirectory("keyward-k8s-").FullName;
    private readonly KubernetesSecretApi _api = new("coder", "coder-admin-api-token");

    private int Patches() { lock (_api.Gate) return _api.Requests.Count(r => r.Method == "PATCH"); }

    private (string Manifest, string Kubeconfig, string State) Estate()
    {
        var kubeconfig = _api.WriteKubeconfig(Path.Combine(_dir, "kubeconfig"));
        File.WriteAllText(Path.Combine(_dir, "coder-token"), Token);
        var manifest = Path.Combine(_dir, "keyward.yaml");
        // Live writes go to the real cluster, never under --root: the file goes to a real (temporary) path instead.
        File.WriteAllText(manifest, $$"""
            apiVersion: keyward/v1
            credentials:
              coder-admin-token:
                kind: external
                provider: coder
                owner: platform
                purpose: admin API token
                source: { file: coder-token }
            sinks:
              coder-secret:
                path: {{Path.Combine(_dir, "out", "coder-admin-api-token.yaml")}}
                format: kubernetes-secret
                mode: "0600"
                name: coder-admin-api-token
                namespace: coder
                live: true
                entries: { token: coder-admin-token }
            """);
        return (manifest, kubeconfig, Path.Combine(_dir, "state"));
    }

    private static async Task<(string Action, string Reason)> PlanSinkAsync(CliHarness cli, (string Manifest, string Kubeconfig, string State) e)
    {
        var r = await cli.RunAsync("plan", "-f", e.Manifest, "--state", e.State, "--kubeconfig", e.Kubeconfig, "--json");
        Assert.True(r.ExitCode == 0, r.ToString());
        using var doc = JsonDocument.Parse(r.Out);
        var sink = doc.RootElement.GetProperty("sinks").EnumerateArray().Single();
        return (sink.GetProperty("action").GetString()!, sink.GetProperty("reason").GetString()!);
    }

    private static async Task<(string Status, string Reason, string Message)> CheckSinkAsync(CliHarness cli, (string Manifest, string Kubeconfig, string State) e)
    {
        var r = await cli.RunAsync("check", "-f", e.Manifest, "--state", e.State, "--kubeconfig", e.Kubeconfig, "--json", "--timeout", "5s");
        using var doc = JsonDocument.Parse(r.Out);
        var v = doc.RootElement.GetProperty("reports").EnumerateArray().Single(x => x.GetProperty("kind").GetString() == "sink")
            .GetProperty("conditions").EnumerateArray().Single(c => c.GetProperty("type").GetString() == "Verified");
        return (v.GetProperty("status").GetString()!, v.GetProperty("reason").GetString()!, v.GetProperty("message").GetString()!);
    }

    [Fact]
    public async Task LiveSecret_DeletedOrEditedInTheCluster_CheckFails_PlanWantsIt_ApplyRepairs()
    {
        var e = Estate();
        var cli = new CliHarness();
        Assert.Equal(0, (await cli.RunAsync("apply", "-f", e.Manifest, "--state", e.State, "--kubeconfig", e.Kubeconfig)).ExitCode);
        var healthy = await CheckSinkAsync(cli, e);
        Assert.Equal(("True", "MatchesManifest"), (healthy.Status, healthy.Reason));
        Assert.Contains("holds the stored values", healthy.Message, StringComparison.Ordinal);
        Assert.Equal("unchanged", (await PlanSinkAsync(cli, e)).Action);

        lock (_api.Gate) _api.Data = null; // kubectl delete secret
        var check = await CheckSinkAsync(cli, e);
        Assert.Equal(("False", "LiveSecretMissing"), (check.Status, check.Reason));
        var plan = await PlanSinkAsync(cli, e);
        Assert.Equal("update", plan.Action);
        Assert.Contains("does not exist in the cluster", plan.Reason, StringComparison.Ordinal);
        Assert.Equal(0, (await cli.RunAsync("apply", "-f", e.Manifest, "--state", e.State, "--kubeconfig", e.Kubeconfig)).ExitCode);
        lock (_api.Gate) Assert.Equal(Token, Encoding.UTF8.GetString(Convert.FromBase64String(_api.Data!["token"])));

        // A foreign merge-patch changes the managed key and adds one of its own.
        lock (_api.Gate)
        {
            _api.Data["token"] = Convert.ToBase64String("someone-elses-token"u8.ToArray());
            _api.Data["extra"] = Convert.ToBase64String("theirs"u8.ToArray());
        }
        check = await CheckSinkAsync(cli, e);
        Assert.Equal(("False", "LiveSecretDiffers"), (check.Status, check.Reason));
        Assert.Contains("token (coder-admin-token)", check.Message, StringComparison.Ordinal);
        Assert.Equal(0, (await cli.RunAsync("apply", "-f", e.Manifest, "--state", e.State, "--kubeconfig", e.Kubeconfig)).ExitCode);
        lock (_api.Gate)
        {
            Assert.Equal(Token, Encoding.UTF8.GetString(Convert.FromBase64String(_api.Data["token"])));
            Assert.Equal("theirs", Encoding.UTF8.GetString(Convert.FromBase64String(_api.Data["extra"]))); // not Keyward's key: left alone
        }
        Assert.Equal("True", (await CheckSinkAsync(cli, e)).Status);
        Assert.DoesNotContain(Token, cli.AllOutput.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task LiveSecret_FirstWriteForbidden_NextApplyRetriesOnceRbacIsFixed()
    {
        var e = Estate();
        var cli = new CliHarness();
        lock (_api.Gate) _api.Forbidden = true;
        var first = await cli.RunAsync("apply", "-f", e.Manifest, "--state", e.State, "--kubeconfig", e.Kubeconfig);
        Assert.NotEqual(0, first.ExitCode);
        Assert.Contains("403", first.Err, StringComparison.Ordinal);
        Assert.Equal("Unknown", (await CheckSinkAsync(cli, e)).Status);

        lock (_api.Gate) _api.Forbidden = false; // RBAC fixed; the file is already written and unchanged
        Assert.Equal("update", (await PlanSinkAsync(cli, e)).Action);
        var second = await cli.RunAsync("apply", "-f", e.Manifest, "--state", e.State, "--kubeconfig", e.Kubeconfig);
        Assert.True(second.ExitCode == 0, second.ToString());
        lock (_api.Gate) Assert.NotNull(_api.Data);
        Assert.Equal("True", (await CheckSinkAsync(cli, e)).Status);
    }

    public void Dispose()
    {
        _api.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task Apply_LiveSecretSink_ServerSideAppliesBase64DataWithFieldManager_AndNotAgainWhenUnchanged()
    {
        var (manifest, kubeconfig, _) = Estate();
        var cli = new CliHarness();
        var state = Path.Combine(_dir, "state");

        var r = await cli.RunAsync("apply", "-f", manifest, "--state", state, "--kubeconfig", kubeconfig);
        Assert.True(r.ExitCode == 0, r.ToString());
        (string Method, string Path, string Query, string ContentType, string Body) patch;
        lock (_api.Gate) patch = Assert.Single(_api.Requests, r => r.Method == "PATCH");
        Assert.Equal("PATCH", patch.Method);
        Assert.StartsWith("application/apply-patch+yaml", patch.ContentType, StringComparison.Ordinal);
        Assert.Contains("fieldManager=keyward", patch.Query, StringComparison.Ordinal);
        Assert.Contains("force=true", patch.Query, StringComparison.Ordinal);
        using var doc = JsonDocument.Parse(patch.Body);
        Assert.Equal("Secret", doc.RootElement.GetProperty("kind").GetString());
        var data = doc.RootElement.GetProperty("data").GetProperty("token").GetString()!;
        Assert.Equal("AbCdEfGhIj-0123456789abcdefghijkl", Encoding.UTF8.GetString(Convert.FromBase64String(data)));
        Assert.DoesNotContain("AbCdEfGhIj-0123456789abcdefghijkl", cli.AllOutput.ToString(), StringComparison.Ordinal);

        var again = await cli.RunAsync("apply", "-f", manifest, "--state", state, "--kubeconfig", kubeconfig);
        Assert.Equal(0, again.ExitCode);
        Assert.Equal(1, Patches()); // read back and found in sync: not written again
    }
}
