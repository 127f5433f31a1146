using Keyward.Core.Manifest;
using Keyward.Crypto.Nix;
using Keyward.Engine.Agent;
using Keyward.Store;
using Keyward.Core.Store;
using Microsoft.Extensions.Time.Testing;

namespace Keyward.Engine.Tests.Agent;

/// <summary>A host's nix.conf trusts a cache key the way the authority's own sinks do: during the overlap after a
/// rollover both keys, afterwards the new one alone — also when only hosts trust the key.</summary>
public sealed class HostBundleTrustTests : IAsyncDisposable
{
    private const string Key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOsCyxd30V4V79+Eabrhe6xoLVHQcMm61Yb1xrwCeUem root@r1";
    private readonly string _dir = Directory.CreateTempSubdirectory("kw-host-trust-").FullName;
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));

    public async ValueTask DisposeAsync()
    {
        await Task.Yield();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task AHostOnlyTrustedKey_KeepsTheOldKeyForTheOverlap_ThenDropsIt()
    {
        var path = Path.Combine(_dir, "keyward.yaml");
        File.WriteAllText(path, $$"""
            apiVersion: keyward/v1
            hosts:
              runner-1: { sshKey: "{{Key}}" }
            credentials:
              cache-key: { kind: nix-signing-key, keyName: main-1, owner: o, purpose: p, rotation: { overlap: 7d } }
            sinks:
              runner-nix-conf:
                host: runner-1
                path: /etc/nix/keyward.conf
                format: nix-conf
                substituters: ["https://cache.example.org/main"]
                trustedPublicKeys: [cache-key]
            """);
        var manifest = ManifestLoader.Load(path).OrThrow();
        await using var state = await StateDirectory.InitAsync(Path.Combine(_dir, "state"), [], _time, CancellationToken.None);
        string oldKey, newKey;
        using (var k1 = NixSecretKey.Generate("main-1"))
        {
            oldKey = k1.PublicKey.ToString();
            await state.Store.PutAsync(new NewVersion("cache-key", "nix-signing-key", k1.ToSecret(), VersionState.Active, _time.GetUtcNow(), null, "test",
                new Dictionary<string, string> { ["keyName"] = "main-1", ["publicKey"] = oldKey }), default);
        }
        _time.Advance(TimeSpan.FromDays(30));
        using (var k2 = NixSecretKey.Generate("main-2"))
        {
            newKey = k2.PublicKey.ToString();
            await state.Store.PutAsync(new NewVersion("cache-key", "nix-signing-key", k2.ToSecret(), VersionState.Active, _time.GetUtcNow(), null, "test",
                new Dictionary<string, string> { ["keyName"] = "main-2", ["publicKey"] = newKey }), default);
        }

        Assert.Equal([oldKey, newKey], await TrustedAsync(state.Store, manifest));
        _time.Advance(TimeSpan.FromDays(8));
        Assert.Equal([newKey], await TrustedAsync(state.Store, manifest));
    }

    private async Task<string[]> TrustedAsync(ICredentialStore store, KeywardManifest manifest)
    {
        using var bundle = await HostBundleBuilder.BuildAsync(store, manifest, "runner-1", _time.GetUtcNow(), default);
        var text = System.Text.Encoding.UTF8.GetString(Assert.Single(bundle.Sinks).Content);
        var line = text.Split('\n').Single(l => l.StartsWith("trusted-public-keys", StringComparison.Ordinal));
        return line[(line.IndexOf('=', StringComparison.Ordinal) + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
    }
}
