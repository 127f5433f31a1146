using Keyward.Core.Manifest;
using Keyward.Engine.Checks;
using Keyward.Services;
using Keyward.Services.Http;

namespace Keyward.Services.Tests;

/// <summary>`keyward check` against a real Nix-made binary cache served by a real nginx: every condition is right,
/// and flips to failing when the cache is made private, the key is swapped, or a sink's mode is loosened.</summary>
[Trait("Category", "Interop")]
public sealed class CheckNginxInteropTests(NixCacheFixture cache) : IClassFixture<NixCacheFixture>, IDisposable
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    private readonly TempDir _root = new();

    public void Dispose()
    {
        File.Delete(cache.PrivateFlag);
        _root.Dispose();
    }

    private KeywardManifest Manifest() => M.Manifest(
        [M.NixKey("cache-key", "main-1"), M.Secret("op-token")],
        [M.Service("attic", ServiceKind.Attic, cache.Url, caches: [M.Cache("main", isPublic: true, signingKey: "cache-key", storeDir: cache.StoreDir)])],
        [
            M.FileSink("nix-conf", "/etc/nix/keyward.conf", 0b110_100_100, SinkFormat.NixConf, "root", "root",
                nix: new NixConfOptions([new Uri(cache.Url, "main").AbsoluteUri], ["cache-key"], null, [])),
            M.FileSink("op-token", "/etc/opnix-token", 0b110_000_000, SinkFormat.Raw, "root", "root", persistRoot: "/persist", credential: "op-token"),
        ]);

    private async Task<IReadOnlyList<CheckReport>> RunAsync(string secretKeyFile, KeywardManifest? manifest = null)
    {
        var store = new MemoryStore();
        await store.PutActive("cache-key", (await File.ReadAllTextAsync(secretKeyFile, Ct)).Trim());
        await store.PutActive("op-token", "ops_eyJzZWNyZXQiOiJ4In0");
        var clients = new ServiceClients(ServiceHttp.CreateClient(), M.FastHttp(), TimeProvider.System);
        var m = manifest ?? Manifest();
        using var sinks = new Engine.Checks.SinkVerifier(store, m, new Engine.EngineOptions { Root = _root.Path });
        return await new CheckRunner(m, new StoreCheckState(store, _root.Sub("state")), clients,
            new CheckOptions { Root = _root.Path }, sinks).RunAsync(Ct);
    }

    private void WriteSinks(int tokenMode = 0b110_000_000)
    {
        Directory.CreateDirectory(_root.Sub("etc/nix"));
        File.WriteAllText(_root.Sub("etc/nix/keyward.conf"), $"substituters = {cache.Url}main\ntrusted-public-keys = {cache.PublicKey}\n");
        File.SetUnixFileMode(_root.Sub("etc/nix/keyward.conf"), (UnixFileMode)0b110_100_100);
        Directory.CreateDirectory(_root.Sub("persist/etc"));
        File.SetUnixFileMode(_root.Sub("persist/etc"), (UnixFileMode)0b111_000_000);
        File.WriteAllText(_root.Sub("persist/etc/opnix-token"), "ops_eyJzZWNyZXQiOiJ4In0");
        File.SetUnixFileMode(_root.Sub("persist/etc/opnix-token"), (UnixFileMode)tokenMode);
        if (!File.Exists(_root.Sub("etc/opnix-token")) && new FileInfo(_root.Sub("etc/opnix-token")).LinkTarget is null)
            File.CreateSymbolicLink(_root.Sub("etc/opnix-token"), "../persist/etc/opnix-token"); // relative, as Keyward links
    }

    private static Condition Cond(IReadOnlyList<CheckReport> reports, SubjectKind kind, string name, string type) =>
        reports.Single(r => r.Kind == kind && r.Name == name).Conditions.Single(c => c.Type == type);

    [Fact]
    public async Task HealthyCache_EveryConditionTrue()
    {
        WriteSinks();
        var reports = await RunAsync(cache.SecretKeyFile);
        Assert.All(reports, r => Assert.False(r.Failed, string.Join("\n", reports.Select(r => $"{r.Key}: {string.Join("; ", r.Conditions.Select(c => $"{c.Type}={c.Status} {c.Reason}: {c.Message}"))}"))));
        var cacheVerified = Cond(reports, SubjectKind.Cache, "attic/main", "Verified");
        Assert.Equal("MatchesManifest", cacheVerified.Reason);
        var key = Cond(reports, SubjectKind.Credential, "cache-key", "Verified");
        Assert.Equal("KeyMatches", key.Reason);
        Assert.Contains("1 sampled narinfo(s) verify", key.Message, StringComparison.Ordinal);
        Assert.Equal(ConditionStatus.True, Cond(reports, SubjectKind.Sink, "op-token", "Verified").Status);
        Assert.Equal(ConditionStatus.True, Cond(reports, SubjectKind.Sink, "nix-conf", "Verified").Status);
    }

    [Fact]
    public async Task PrivateCache_FlipsToNotPublicRead()
    {
        WriteSinks();
        File.WriteAllText(cache.PrivateFlag, "");
        var reports = await RunAsync(cache.SecretKeyFile);
        var v = Cond(reports, SubjectKind.Cache, "attic/main", "Verified");
        Assert.Equal((ConditionStatus.False, "NotPublicRead"), (v.Status, v.Reason));
        Assert.Contains("answered 401: the cache is not public-read", v.Message, StringComparison.Ordinal);
        Assert.Equal("NarInfoUnavailable", Cond(reports, SubjectKind.Credential, "cache-key", "Verified").Reason);
    }

    [Fact]
    public async Task SwappedKey_FlipsToKeyMismatch()
    {
        WriteSinks();
        var reports = await RunAsync(cache.OtherSecretKeyFile);
        var v = Cond(reports, SubjectKind.Credential, "cache-key", "Verified");
        Assert.Equal((ConditionStatus.False, "KeyMismatch"), (v.Status, v.Reason));
        Assert.Contains(cache.PublicKey, v.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SwappedKeyWithTheLiveKeyReported_NarinfoSignaturesStillFail()
    {
        // The cache-config imitation is rewritten to advertise the other key: the narinfos (signed by the real key) must fail.
        WriteSinks();
        var configPath = Path.Combine(cache.Dir, "www/_api/v1/cache-config/main");
        var original = await File.ReadAllTextAsync(configPath, Ct);
        var other = (await File.ReadAllTextAsync(Path.Combine(cache.Dir, "keys/other.pk"), Ct)).Trim();
        try
        {
            await File.WriteAllTextAsync(configPath, original.Replace(cache.PublicKey, other, StringComparison.Ordinal), Ct);
            var v = Cond(await RunAsync(cache.OtherSecretKeyFile), SubjectKind.Credential, "cache-key", "Verified");
            Assert.Equal((ConditionStatus.False, "BadNarInfoSignature"), (v.Status, v.Reason));
        }
        finally
        {
            await File.WriteAllTextAsync(configPath, original, Ct);
        }
    }

    [Fact]
    public async Task LoosenedSinkMode_FlipsToWorldReadable()
    {
        WriteSinks(tokenMode: 0b110_100_100);
        var reports = await RunAsync(cache.SecretKeyFile);
        var v = Cond(reports, SubjectKind.Sink, "op-token", "Verified");
        Assert.Equal(ConditionStatus.False, v.Status);
        Assert.Contains("mode 0644, declared 0600", v.Message, StringComparison.Ordinal);
        Assert.Contains("world-readable", v.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task NixConsumerWithoutTheCacheKey_IsReported()
    {
        WriteSinks();
        var m = Manifest();
        var sinks = m.Sinks.Select(s => s.Name == "nix-conf" ? s with { NixConf = s.NixConf! with { TrustedPublicKeys = [] } } : s).ToArray();
        var reports = await RunAsync(cache.SecretKeyFile, m with { Sinks = sinks });
        var v = Cond(reports, SubjectKind.Sink, "nix-conf", "Verified");
        Assert.Equal((ConditionStatus.False, "MissingCachePublicKey"), (v.Status, v.Reason));
    }
}
