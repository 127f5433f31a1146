using System.Diagnostics;
using Keyward.Core.Errors;
using Keyward.Core.Manifest;
using Keyward.Crypto.Age;
using Keyward.Engine.Apply;
using Keyward.Store;
using Microsoft.Extensions.Time.Testing;

namespace Keyward.Engine.Tests.Agenix;

/// <summary>A throwaway directory with a state, a manifest written from YAML and applied, and helpers to run real tools.</summary>
internal sealed class AgenixFixture : IAsyncDisposable
{
    public string Root { get; } = Directory.CreateTempSubdirectory("kw-agenix-").FullName;
    public string ExportDir => Path.Combine(Root, "secrets");
    public FakeTimeProvider Time { get; } = new(new DateTimeOffset(2025, 6, 1, 12, 0, 0, TimeSpan.Zero));
    public List<KeywardError> Warnings { get; } = [];
    public OpenedState State { get; private set; } = null!;

    public EngineOptions Options => new() { Time = Time, Warn = Warnings.Add, RunHooks = false, Actor = "test@agenix" };

    public static async Task<AgenixFixture> CreateAsync(string stateName = "state")
    {
        var f = new AgenixFixture();
        f.State = await StateDirectory.InitAsync(Path.Combine(f.Root, stateName), [], f.Time, TestContext.Current.CancellationToken);
        return f;
    }

    /// <summary>A second, empty state in the same root (for round trips).</summary>
    public Task<OpenedState> NewStateAsync(string name) =>
        StateDirectory.InitAsync(Path.Combine(Root, name), [], Time, TestContext.Current.CancellationToken);

    public KeywardManifest Manifest(string yaml)
    {
        var path = Path.Combine(Root, "keyward.yaml");
        File.WriteAllText(path, "apiVersion: keyward/v1\n" + yaml);
        var result = ManifestLoader.Load(path);
        Assert.True(result.Manifest is not null && result.Diagnostics.All(d => d.IsWarning),
            string.Join("\n", result.Diagnostics.Select(d => d.Error.ToString())));
        return result.Manifest!;
    }

    /// <summary>Generates every credential of the manifest into the store, as <c>keyward apply</c> does.</summary>
    public async Task ApplyAsync(KeywardManifest manifest, OpenedState? state = null)
    {
        var engine = new ApplyEngine((state ?? State).Store, Options);
        var plan = await engine.PlanAsync(manifest, TestContext.Current.CancellationToken);
        await engine.ExecuteAsync(plan, TestContext.Current.CancellationToken);
    }

    public async Task<byte[]> ActiveValueAsync(string name, OpenedState? state = null)
    {
        var store = (state ?? State).Store;
        var v = await store.GetActiveAsync(name, TestContext.Current.CancellationToken);
        Assert.NotNull(v);
        using var s = await store.RevealAsync(name, v.Version, TestContext.Current.CancellationToken);
        return s.Reveal().ToArray();
    }

    /// <summary>An X25519 identity file (age-keygen format) and its recipient.</summary>
    public (string Path, string Recipient) NewAgeIdentity(string name)
    {
        var id = X25519Identity.Generate();
        var path = Path.Combine(Root, name);
        using var secret = id.ToSecret();
        File.WriteAllText(path, $"# public key: {id.Recipient}\n{secret.RevealString()}\n");
        return (path, id.Recipient);
    }

    /// <summary>An ssh-ed25519 key pair made by the real ssh-keygen (how agenix hosts' keys are made).</summary>
    public (string Path, string PublicKey) NewSshKey(string name)
    {
        var path = Path.Combine(Root, name);
        Run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", name + "@test", "-f", path]);
        return (path, File.ReadAllText(path + ".pub").Trim());
    }

    public static byte[] Run(string tool, IEnumerable<string> args, string? workingDirectory = null)
    {
        var path = Path.Combine("/usr/bin", tool);
        var package = tool switch { "ssh-keygen" => "openssh-client", "nix-instantiate" => "nix-bin", _ => "age" };
        Assert.True(File.Exists(path), $"{path} is missing: install the Debian package '{package}' (the test script does)");
        var psi = new ProcessStartInfo(path)
        {
            RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true,
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        p.StandardInput.Close();
        using var stdout = new MemoryStream();
        var copy = p.StandardOutput.BaseStream.CopyToAsync(stdout);
        var stderr = p.StandardError.ReadToEnd();
        copy.Wait();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"{tool} {string.Join(' ', args)} failed ({p.ExitCode}): {stderr}");
        return stdout.ToArray();
    }

    public async ValueTask DisposeAsync()
    {
        if (State is not null) await State.DisposeAsync();
        Directory.Delete(Root, recursive: true);
    }
}
