using Keyward.Core.Manifest;
using Keyward.Core.Rotation;
using Keyward.Crypto.Nix;
using Keyward.Engine.Rotation;
using Keyward.Sinks.Hooks;
using Keyward.Store;
using Keyward.Core.Store;
using Microsoft.Extensions.Time.Testing;

namespace Keyward.Engine.Tests.Rotation;

/// <summary>
/// Two cache keys rolled over in one rotation, trusted by the same nix.conf: retiring the first key's old half must not
/// drop the second key's old half while the cache still signs with it (the trust list is retired per key, not per sink).
/// </summary>
public sealed class TwoKeyRolloverTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("kw-two-keys-").FullName;
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2025, 6, 1, 12, 0, 0, TimeSpan.Zero));
    private readonly Dictionary<string, string> _oldPublic = new(StringComparer.Ordinal);
    private OpenedState? _state;
    private KeywardManifest _manifest = null!;

    private string ConfPath => Path.Combine(_dir, "sinks", "keyward.conf");

    public async ValueTask InitializeAsync()
    {
        _manifest = ManifestLoader.Parse($$"""
            apiVersion: keyward/v1
            credentials:
              key-a: { kind: nix-signing-key, keyName: a-1, owner: o, purpose: p, rotation: { autoContinue: true } }
              key-b: { kind: nix-signing-key, keyName: b-1, owner: o, purpose: p, rotation: { autoContinue: true } }
            sinks:
              both-keys:
                path: {{ConfPath}}
                format: nix-conf
                trustedPublicKeys: [key-a, key-b]
            """.ReplaceLineEndings("\n"), Path.Combine(_dir, "keyward.yaml")).OrThrow();
        _state = await StateDirectory.InitAsync(Path.Combine(_dir, "state"), [], _time, CancellationToken.None);
        foreach (var (name, keyName) in new[] { ("key-a", "a-1"), ("key-b", "b-1") })
        {
            using var nix = NixSecretKey.Generate(keyName);
            _oldPublic[name] = nix.PublicKey.ToString();
            await _state.Store.PutAsync(new NewVersion(name, "nix-signing-key", nix.ToSecret(), VersionState.Active, _time.GetUtcNow(), null, "test",
                new Dictionary<string, string> { ["keyName"] = keyName, ["publicKey"] = nix.PublicKey.ToString() }), default);
        }
    }

    [Fact]
    public async Task RetiringTheFirstKeysOldHalf_KeepsTheSecondKeysOldHalfUntilItsOwnRetirement()
    {
        var plan = RotationPlanner.Plan(_manifest, StoreFacts.Empty, new RotationIntent(["key-a", "key-b"]), _time.GetUtcNow());
        var retireA = plan.Steps.Single(s => s.Action == StepAction.RetirePublicKey && s.Credential == "key-a");
        var executor = new RotationExecutor(_state!.Store, new RotationExecutorOptions
        {
            Manifest = _manifest,
            Time = _time,
            Actor = "test@host",
            Faults = new RotationFixture.FaultAt($"step-{retireA.Order}-after"),
            RunHook = (_, _) => Task.FromResult(new HookResult(true, 0, "ok")),
        });
        await Assert.ThrowsAsync<InjectedFaultException>(() => executor.StartAsync(new RotationIntent(["key-a", "key-b"]), default));

        var conf = await File.ReadAllTextAsync(ConfPath);
        Assert.DoesNotContain(_oldPublic["key-a"], conf, StringComparison.Ordinal); // key-a's old half: retired
        Assert.Contains("a-2:", conf, StringComparison.Ordinal);
        // key-b has not switched yet (its phase two comes after key-a's): the cache still signs with b-1.
        Assert.Equal(1, (await _state.Store.GetActiveAsync("key-b", default))!.Version);
        Assert.Contains(_oldPublic["key-b"], conf, StringComparison.Ordinal);
        Assert.Contains("b-2:", conf, StringComparison.Ordinal);
    }

    public async ValueTask DisposeAsync()
    {
        if (_state is not null) await _state.DisposeAsync();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }
}
