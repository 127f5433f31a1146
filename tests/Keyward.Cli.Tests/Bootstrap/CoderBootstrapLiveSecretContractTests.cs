using System.Text;
using Keyward.Services.Tests.ContractServers;

namespace Keyward.Cli.Tests.Bootstrap;

/// <summary>The bootstrap placeholder where the seed design puts it: the Coder admin token's consumer is a live
/// kubernetes-secret sink, so the placeholder (with the kubectl command) goes into that Secret, and a token a person
/// patches in there is found, validated against the Coder contract server and stored. The cluster is an in-test HTTP
/// server answering as the Kubernetes API does for one Secret (server-side apply PATCH merging the sent keys, GET,
/// 404 Status NotFound): a real API server cannot run here.</summary>
public sealed class CoderBootstrapLiveSecretContractTests : IAsyncDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("keyward-boot-k8s-").FullName;
    private readonly CoderContractServer _coder = new() { HasFirstUser = true };
    private readonly KubernetesSecretApi _cluster = new("coder", "coder-admin-api-token");

    public async ValueTask DisposeAsync()
    {
        _cluster.Dispose();
        await _coder.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    private string? Live(string key)
    {
        lock (_cluster.Gate) return _cluster.Data?.GetValueOrDefault(key) is { } b ? Encoding.UTF8.GetString(Convert.FromBase64String(b)) : null;
    }

    private void Patch(string key, string value)
    {
        lock (_cluster.Gate) (_cluster.Data ??= new(StringComparer.Ordinal))[key] = Convert.ToBase64String(Encoding.UTF8.GetBytes(value));
    }

    private (string Manifest, string Kubeconfig, string State, string Sink) Estate()
    {
        var kubeconfig = _cluster.WriteKubeconfig(Path.Combine(_dir, "kubeconfig"));
        var sink = Path.Combine(_dir, "out", "coder-admin-api-token.yaml");
        var manifest = Path.Combine(_dir, "keyward.yaml");
        File.WriteAllText(manifest, $$"""
            apiVersion: keyward/v1
            credentials:
              coder-admin-token: { kind: external, provider: coder, owner: platform, purpose: admin API token }
            sinks:
              coder-secret:
                path: {{sink}}
                format: kubernetes-secret
                mode: "0600"
                name: coder-admin-api-token
                namespace: coder
                live: true
                entries: { token: coder-admin-token }
            services:
              coder: { kind: coder, url: "{{_coder.Url.AbsoluteUri}}", token: coder-admin-token }
            """);
        return (manifest, kubeconfig, Path.Combine(_dir, "state"), sink);
    }

    [Fact]
    public async Task Placeholder_goes_into_the_live_Secret_with_the_kubectl_command_and_a_token_patched_in_there_is_stored_and_delivered()
    {
        var e = Estate();
        var cli = new CliHarness();
        var first = await cli.RunAsync("bootstrap", "coder", "coder", "-f", e.Manifest, "--state", e.State, "--kubeconfig", e.Kubeconfig);
        Assert.True(first.ExitCode != 0 && first.Err.Contains("KW1002", StringComparison.Ordinal), first.ToString());
        Assert.Contains("coder: unknown -> no-token", first.Out, StringComparison.Ordinal);
        var placeholder = Live("token");
        Assert.NotNull(placeholder);
        Assert.StartsWith(Services.Bootstrap.Placeholder.Marker, placeholder, StringComparison.Ordinal);
        Assert.Contains("kubectl -n coder patch secret coder-admin-api-token --type merge", first.Out, StringComparison.Ordinal);
        Assert.Contains("kubectl -n coder patch secret coder-admin-api-token", placeholder, StringComparison.Ordinal);

        // apply has no value to send: the placeholder stays, and nothing is rendered into the sink file.
        var apply = await cli.RunAsync("apply", "-f", e.Manifest, "--state", e.State, "--kubeconfig", e.Kubeconfig);
        Assert.True(apply.ExitCode == 0, apply.ToString());
        Assert.Equal(placeholder, Live("token"));
        Assert.False(File.Exists(e.Sink));

        // The person runs the printed kubectl command: the Secret's key now holds the token.
        var token = _coder.NewToken(TimeSpan.FromDays(30), name: "patched-in");
        Patch("token", token);
        var second = await cli.RunAsync("bootstrap", "coder", "coder", "-f", e.Manifest, "--state", e.State, "--kubeconfig", e.Kubeconfig);
        Assert.True(second.ExitCode == 0, second.ToString());
        Assert.Contains("coder: no-token -> valid", second.Out, StringComparison.Ordinal);
        Assert.Equal(token, Live("token"));
        var yaml = File.ReadAllText(e.Sink);
        Assert.True(yaml.Contains(Convert.ToBase64String(Encoding.UTF8.GetBytes(token)), StringComparison.Ordinal) || yaml.Contains(token, StringComparison.Ordinal),
            "the sink's manifest file carries the token");
        var get = await cli.RunAsync("get", "coder-admin-token", "--state", e.State);
        Assert.Equal(token, get.Out.Trim());
        Assert.DoesNotContain(token, first.Out + first.Err + second.Out + second.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_token_in_the_Secret_that_Coder_rejects_is_left_there_never_overwritten_by_the_placeholder()
    {
        var e = Estate();
        Patch("token", "not-a-coder-token-but-someones");
        var cli = new CliHarness();
        var run = await cli.RunAsync("bootstrap", "coder", "coder", "-f", e.Manifest, "--state", e.State, "--kubeconfig", e.Kubeconfig);
        Assert.True(run.ExitCode != 0, run.ToString());
        Assert.Equal("not-a-coder-token-but-someones", Live("token"));
        Assert.DoesNotContain("not-a-coder-token-but-someones", run.Out + run.Err, StringComparison.Ordinal);
    }
}
