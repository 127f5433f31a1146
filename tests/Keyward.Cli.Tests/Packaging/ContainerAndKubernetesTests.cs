using System.CommandLine;
using System.Text.Json;

namespace Keyward.Cli.Tests.Packaging;

/// <summary>deploy/container and deploy/kubernetes (issue 14), checked as far as this machine allows: no registry for
/// base images (mcr.microsoft.com does not resolve) and no cluster. The manifests pass deploy/kubernetes/check.py (YAML,
/// required fields, current APIs, the restricted Pod Security Standard, RBAC) and render with `kubectl kustomize`; the
/// Containerfile is checked statically; the command lines of both are parsed by keyward's own parser.</summary>
public sealed class ContainerAndKubernetesTests : IDisposable
{
    private static readonly string Deploy = Path.Combine(CliHarness.RepoRoot, "deploy");
    private readonly string _dir = Directory.CreateTempSubdirectory("keyward-k8s-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static RootCommand Root() =>
        KeywardCli.BuildRoot(new CliContext(new CliConsole { Out = TextWriter.Null, Err = TextWriter.Null, StdIn = Stream.Null, StdOut = Stream.Null, GetEnv = _ => null }));

    /// <summary>serve and agent are built on other branches: a command line for them is parsed once they are merged.</summary>
    private static void AssertKeywardAccepts(string[] args, string where)
    {
        var root = Root();
        if (!root.Subcommands.Any(c => c.Name == args[0]))
        {
            Assert.Contains(args[0], new[] { "serve", "agent" });
            return;
        }
        var parse = root.Parse(args);
        Assert.True(parse.Errors.Count == 0, $"{where}: keyward {string.Join(' ', args)}\n" + string.Join("\n", parse.Errors.Select(e => e.Message)));
    }

    [Fact]
    public async Task KubernetesManifests_PassTheOfflineChecks()
    {
        var r = await Tool.RunAsync("/usr/bin/python3", [Path.Combine(Deploy, "kubernetes", "check.py")]);
        Assert.True(r.ExitCode == 0 && r.Out.Length == 0, r.ToString());
        Assert.Contains("10 objects, 0 problems", r.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TheChecksAreReal_AWritableRootAndConcurrentCronJobsAreCaught()
    {
        foreach (var file in Directory.EnumerateFiles(Path.Combine(Deploy, "kubernetes"), "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(_dir, Path.GetRelativePath(Path.Combine(Deploy, "kubernetes"), file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
        var deployment = Path.Combine(_dir, "serve", "deployment.yaml");
        File.WriteAllText(deployment, File.ReadAllText(deployment).Replace("readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false", StringComparison.Ordinal));
        var cron = Path.Combine(_dir, "apply-cronjob", "cronjob.yaml");
        File.WriteAllText(cron, File.ReadAllText(cron).Replace("concurrencyPolicy: Forbid", "concurrencyPolicy: Allow", StringComparison.Ordinal));
        var r = await Tool.RunAsync("/usr/bin/python3", [Path.Combine(Deploy, "kubernetes", "check.py"), _dir]);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("readOnlyRootFilesystem must be true", r.Out, StringComparison.Ordinal);
        Assert.Contains("concurrencyPolicy: Forbid", r.Out, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("serve", "Deployment")]
    [InlineData("apply-cronjob", "CronJob")]
    public async Task Kustomize_RendersEachVariant(string dir, string kind)
    {
        if (!Tool.Exists("kubectl"))
        {
            Assert.Skip("kubectl is not installed: `kubectl kustomize` (offline) not run");
            return;
        }
        var r = await Tool.RunAsync("kubectl", ["kustomize", Path.Combine(Deploy, "kubernetes", dir)]);
        Assert.True(r.ExitCode == 0, r.ToString());
        foreach (var k in new[] { kind, "ServiceAccount", "Role", "RoleBinding" })
            Assert.Contains($"kind: {k}\n", r.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ContainerCommandLines_AreOnesKeywardAccepts()
    {
        // The CronJob's args (a JSON-style flow list in YAML) and the Deployment's (a block list).
        var cron = await File.ReadAllLinesAsync(Path.Combine(Deploy, "kubernetes", "apply-cronjob", "cronjob.yaml"), TestContext.Current.CancellationToken);
        var cronArgs = JsonSerializer.Deserialize<string[]>(cron.Single(l => l.TrimStart().StartsWith("args:", StringComparison.Ordinal)).Split("args:", 2)[1])!;
        AssertKeywardAccepts(cronArgs, "cronjob.yaml");

        var deployment = await File.ReadAllLinesAsync(Path.Combine(Deploy, "kubernetes", "serve", "deployment.yaml"), TestContext.Current.CancellationToken);
        var start = Array.FindIndex(deployment, l => l.Trim() == "args:") + 1;
        var args = deployment[start..].TakeWhile(l => l.TrimStart().StartsWith("- ", StringComparison.Ordinal)).Select(l => l.Trim()[2..]).ToArray();
        Assert.Equal("serve", args[0]);
        AssertKeywardAccepts([.. args.Select(a => a == "$(KEYWARD_STORE)" ? "Host=db;Database=keyward" : a)], "deployment.yaml");

        var cmd = (await File.ReadAllLinesAsync(Path.Combine(Deploy, "container", "Containerfile"), TestContext.Current.CancellationToken)).Single(l => l.StartsWith("CMD ", StringComparison.Ordinal));
        AssertKeywardAccepts(JsonSerializer.Deserialize<string[]>(cmd[4..])!, "Containerfile CMD");
    }

    [Fact]
    public async Task Containerfile_FinalStageIsDistrolessNonRootAndExecForm()
    {
        var lines = (await File.ReadAllLinesAsync(Path.Combine(Deploy, "container", "Containerfile"), TestContext.Current.CancellationToken))
            .Where(l => l.Length > 0 && !l.StartsWith('#')).ToArray();
        var lastFrom = Array.FindLastIndex(lines, l => l.StartsWith("FROM ", StringComparison.Ordinal));
        var final = lines[lastFrom..];
        Assert.Equal("FROM ${BASE_IMAGE}", final[0]);
        Assert.Contains(lines, l => l == "ARG BASE_IMAGE=mcr.microsoft.com/dotnet/runtime-deps:10.0-noble-chiseled");
        // A distroless base has no shell: a RUN there could not work.
        Assert.DoesNotContain(final, l => l.StartsWith("RUN ", StringComparison.Ordinal));
        var user = final.Single(l => l.StartsWith("USER ", StringComparison.Ordinal))[5..].Split(':');
        Assert.True(int.Parse(user[0], System.Globalization.CultureInfo.InvariantCulture) > 0 && int.Parse(user[1], System.Globalization.CultureInfo.InvariantCulture) > 0);
        Assert.Contains("ENTRYPOINT [\"/app/keyward\"]", final);
        // The binary is root's and not writable by the user it runs as.
        Assert.Contains(final, l => l.StartsWith("COPY --from=build --chown=0:0 --chmod=0755 /out/ /app/", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains("-p:PublishAot=true", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Containerfile_BuildsWithBuildah_WhereARegistryIsReachable()
    {
        // Here mcr.microsoft.com does not resolve (docs/install.md#container-image says what was tried); set
        // KEYWARD_CONTAINER_BUILD=1 where the base images can be pulled.
        if (Environment.GetEnvironmentVariable("KEYWARD_CONTAINER_BUILD") != "1" || !Tool.Exists("buildah"))
        {
            Assert.Skip("KEYWARD_CONTAINER_BUILD=1 and buildah are needed (the base images come from mcr.microsoft.com)");
            return;
        }
        var r = await Tool.RunAsync("buildah", ["--storage-driver", "vfs", "bud", "--isolation", "chroot", "-f", Path.Combine(Deploy, "container", "Containerfile"),
            "-t", "localhost/keyward:test", CliHarness.RepoRoot], timeout: TimeSpan.FromMinutes(30));
        Assert.True(r.ExitCode == 0, r.ToString());
        var inspect = await Tool.RunAsync("buildah", ["--storage-driver", "vfs", "inspect", "--format", "{{.OCIv1.Config.User}}", "localhost/keyward:test"]);
        Assert.Equal("1654:1654", inspect.Out.Trim());
    }

    /// <summary>deploy/container/build-local.sh: the image built here with no registry (scratch plus the host's libraries),
    /// then run. Its binary encrypts a file the real <c>age</c> decrypts (X25519 through libsodium, ChaCha20 through
    /// libcrypto: the libraries the image must carry), and its config runs as 1654:1654 with the state volume that user
    /// owns. Run as root (buildah's vfs storage), with the native binary test.sh builds (KEYWARD_TEST_BINARY).</summary>
    [Fact]
    public async Task LocalImage_BuildsFromScratchWithBuildah_AndItsBinaryEncryptsForTheRealAge()
    {
        var binary = Environment.GetEnvironmentVariable("KEYWARD_TEST_BINARY");
        if (binary is null || Environment.UserName != "root" || !Tool.Exists("buildah"))
        {
            Assert.Skip("needs root, buildah and the native binary (KEYWARD_TEST_BINARY, set by test.sh)");
            return;
        }
        var archive = Path.Combine(_dir, "keyward.tar");
        var build = await Tool.RunAsync(Path.Combine(Deploy, "container", "build-local.sh"), [archive, Path.GetDirectoryName(binary)!], timeout: TimeSpan.FromMinutes(10));
        Assert.True(build.ExitCode == 0, build.ToString());

        string[] b = ["--storage-driver", "vfs"];
        var from = await Tool.RunAsync("buildah", [.. b, "from", $"oci-archive:{archive}"], timeout: TimeSpan.FromMinutes(5));
        Assert.True(from.ExitCode == 0, from.ToString());
        var container = from.Out.Trim().Split('\n')[^1];
        try
        {
            var config = await Tool.RunAsync("buildah", [.. b, "inspect", "--format", "{{.OCIv1.Config.User}} {{.OCIv1.Config.Entrypoint}} {{.OCIv1.Config.Volumes}}", container]);
            Assert.True(config.ExitCode == 0, config.ToString());
            Assert.Equal("1654:1654 [/app/keyward] map[/var/lib/keyward:{}]", config.Out.Trim());
            var mount = (await Tool.RunAsync("buildah", [.. b, "mount", container])).Out.Trim();
            var owner = await Tool.RunAsync("stat", ["-c", "%u:%g %a", Path.Combine(mount, "var/lib/keyward")]);
            Assert.Equal("1654:1654 700", owner.Out.Trim());
            Assert.False(File.Exists(Path.Combine(mount, "bin/sh"))); // no shell, no package manager

            // buildah's chroot runner cannot enter its own 0700 storage directory as another user, so the binary runs as root here.
            var work = Path.Combine(_dir, "w");
            Directory.CreateDirectory(work);
            await File.WriteAllTextAsync(Path.Combine(work, "plain.txt"), "sealed inside the container\n");
            var keygen = await Tool.RunAsync("age-keygen", ["-o", Path.Combine(work, "id.txt")]);
            Assert.Equal(0, keygen.ExitCode);
            var recipient = (await Tool.RunAsync("age-keygen", ["-y", Path.Combine(work, "id.txt")])).Out.Trim();
            string[] run = [.. b, "run", "--isolation", "chroot", "--user", "0:0", "-v", $"{work}:/w"];
            var version = await Tool.RunAsync("buildah", [.. run, container, "--", "/app/keyward", "--version"]);
            Assert.True(version.ExitCode == 0 && version.Out.Trim().Length > 0, version.ToString());
            var encrypt = await Tool.RunAsync("buildah", [.. run, container, "--", "/app/keyward", "encrypt", "-r", recipient, "-o", "/w/out.age", "/w/plain.txt"]);
            Assert.True(encrypt.ExitCode == 0, encrypt.ToString());
            var decrypt = await Tool.RunAsync("age", ["-d", "-i", Path.Combine(work, "id.txt"), Path.Combine(work, "out.age")]);
            Assert.Equal("sealed inside the container\n", decrypt.Out);
        }
        finally
        {
            await Tool.RunAsync("buildah", [.. b, "rm", container]);
        }
    }
}
