using Keyward.Core.Attic;
using Keyward.Core.Errors;
using Keyward.Core.Manifest;
using Keyward.Core.Rotation;
using Keyward.Core.Secrets;
using Keyward.Core.Time;
using Keyward.Crypto.Attic;
using Keyward.Crypto.Nix;
using Keyward.Engine.Rotation;
using Keyward.Sinks;
using Keyward.Sinks.Hooks;
using Keyward.Store;
using Keyward.Core.Store;
using Microsoft.Extensions.Time.Testing;

namespace Keyward.Engine.Tests.Rotation;

/// <summary>A throwaway state directory and sink tree with a JWT secret, two tokens and a cache key, all minted and delivered.</summary>
internal sealed class RotationFixture : IAsyncDisposable
{
    private static readonly SourceLocation L = new("keyward.yaml", 1, 1);

    public string Root { get; } = Directory.CreateTempSubdirectory("kw-rotation-").FullName;
    public string SinkDir => Path.Combine(Root, "sinks");
    public FakeTimeProvider Time { get; } = new(new DateTimeOffset(2025, 6, 1, 12, 0, 0, TimeSpan.Zero));
    public KeywardManifest Manifest { get; }
    public ICredentialStore Store => _state!.Store;
    public List<string> Hooks { get; } = [];
    public Func<Hook, HookResult>? HookBehaviour { get; set; }
    public Dictionary<string, int> Initial { get; } = new(StringComparer.Ordinal);
    public List<string> Secrets { get; } = [];

    private OpenedState? _state;

    private RotationFixture(bool autoContinue)
    {
        Directory.CreateDirectory(SinkDir);
        string P(string f) => Path.Combine(SinkDir, f);
        var creds = new List<Credential>
        {
            new SecretCredential("attic-jwt-secret", "attic", "signs tokens", null, [], L, 48, ValueEncoding.Raw),
            new NixSigningKeyCredential("attic-cache-key", "attic", "signs the cache", new RotationPolicy(AutoContinue: autoContinue), [], L, "main-1"),
            Token("ci-push-token", "ci"),
            Token("reader-token", "reader"),
        };
        var sinks = new List<Sink>
        {
            Sink("atticd-env", P("atticd.env"), SinkFormat.Env, [Entry("ATTIC_SERVER_TOKEN_HS256_SECRET_BASE64", "attic-jwt-secret", ValueEncoding.Base64)], [new RestartUnitHook("atticd.service", L)]),
            Sink("ci-env", P("ci.env"), SinkFormat.Env, [Entry("ATTIC_TOKEN", "ci-push-token")], [new RestartUnitHook("ci-runner.service", L)]),
            Sink("reader-netrc", P("netrc"), SinkFormat.Netrc, [Entry("cache.example.org", "reader-token")], [new ReloadUnitHook("nix-daemon.service", L)]),
            Sink("nix-conf", P("keyward.conf"), SinkFormat.NixConf, [], [new ReloadUnitHook("nix-daemon.service", L)],
                new NixConfOptions(["https://cache.example.org/main"], ["attic-cache-key"], null, [])),
            Sink("cache-key", P("cache.sk"), SinkFormat.Raw, [Entry("", "attic-cache-key")], [new CommandHook(["attic-set-key"], L)]),
        };
        Manifest = new KeywardManifest("keyward.yaml", [], new Dictionary<CredentialKind, RotationPolicy>(), creds, sinks, []);
    }

    public static async Task<RotationFixture> CreateAsync(bool autoContinue = false)
    {
        var f = new RotationFixture(autoContinue);
        f._state = await StateDirectory.InitAsync(Path.Combine(f.Root, "state"), [], f.Time, CancellationToken.None);
        await f.SeedAsync();
        return f;
    }

    public RotationExecutor Executor(IFaultInjector? faults = null) => new(Store, new RotationExecutorOptions
    {
        Manifest = Manifest,
        Time = Time,
        Actor = "test@host",
        Faults = faults ?? new NoFaults(),
        RunHook = (h, _) =>
        {
            Hooks.Add(Keyward.Core.Graph.GraphBuilder.HookName(h));
            return Task.FromResult(HookBehaviour?.Invoke(h) ?? new HookResult(true, 0, "ok"));
        },
    });

    private async Task SeedAsync()
    {
        var now = Time.GetUtcNow();
        var secret = Secret.Random(48);
        var sv = await Store.PutAsync(new NewVersion("attic-jwt-secret", "secret", secret, VersionState.Active, now, null, "test", new Dictionary<string, string>()), default);
        using (var nix = NixSecretKey.Generate("main-1"))
        {
            await Store.PutAsync(new NewVersion("attic-cache-key", "nix-signing-key", nix.ToSecret(), VersionState.Active, now, null, "test",
                new Dictionary<string, string> { ["keyName"] = "main-1", ["publicKey"] = nix.PublicKey.ToString() }), default);
        }
        using var key = AtticSigningKey.Hs256(secret);
        foreach (var t in Manifest.Credentials.OfType<AtticTokenCredential>())
        {
            var jwt = AtticTokens.Mint(new AtticTokenRequest(t.Subject, now + t.Validity.Value, now, t.Caches.Select(g => new AtticGrant(g.Pattern, g.Permissions)).ToList()), key).Jwt;
            await Store.PutAsync(new NewVersion(t.Name, "attic-token", jwt, VersionState.Active, now, now + t.Validity.Value, "test", new Dictionary<string, string>()), default);
            await Store.RecordTokenAsync(new LedgerEntry("seed-" + t.Name, t.Name, 1, t.Subject, "main", now, now + t.Validity.Value, Store.Fingerprint(jwt.Reveal()), "attic-jwt-secret", sv.Version, null), default);
        }
        foreach (var c in Manifest.Credentials)
        {
            Initial[c.Name] = (await Store.GetActiveAsync(c.Name, default))!.Version;
            Secrets.Add((await Store.RevealAsync(c.Name, Initial[c.Name], default)).RevealString());
        }
        foreach (var s in Manifest.Sinks)
            await File.WriteAllBytesAsync(s.StoragePath, await ExpectedAsync(s));
    }

    /// <summary>The sink's bytes rendered from the ACTIVE versions (trust lists: the active public key only).</summary>
    public async Task<byte[]> ExpectedAsync(Sink sink)
    {
        var resolved = new Dictionary<string, ResolvedCredential>(StringComparer.Ordinal);
        foreach (var e in sink.Entries)
        {
            var c = Manifest.FindCredential(e.Credential)!;
            var v = (await Store.GetActiveAsync(c.Name, default))!;
            resolved[c.Name] = new ResolvedCredential(c, await Store.RevealAsync(c.Name, v.Version, default), v.Metadata.GetValueOrDefault("publicKey"));
        }
        var target = sink;
        if (sink.NixConf is { } nix)
        {
            var keys = new List<string>();
            foreach (var k in nix.TrustedPublicKeys)
                keys.Add((await Store.GetActiveAsync(k, default))!.Metadata["publicKey"]);
            target = sink with { NixConf = nix with { TrustedPublicKeys = keys } };
        }
        return SinkRenderer.Render(target, resolved);
    }

    /// <summary>The invariants after resume or abort: journal closed, every active version decrypts, every sink
    /// matches the active versions exactly (so none points at a retired one), no temporary file left, tokens verify.</summary>
    public async Task AssertConsistentAsync(string because)
    {
        Assert.True((await Store.OpenJournalsAsync(default)).Count == 0, $"{because}: a journal is still open");
        foreach (var c in Manifest.Credentials)
        {
            var active = await Store.GetActiveAsync(c.Name, default);
            Assert.True(active is not null, $"{because}: {c.Name} has no active version");
            using var value = await Store.RevealAsync(c.Name, active.Version, default);
            Assert.True(value.Length > 0, because);
            Assert.DoesNotContain(await Store.GetVersionsAsync(c.Name, default), v => v.State == VersionState.Staged);
        }
        foreach (var s in Manifest.Sinks)
        {
            Assert.True(File.Exists(s.StoragePath), $"{because}: {s.Name} missing");
            var actual = await File.ReadAllBytesAsync(s.StoragePath);
            var expected = await ExpectedAsync(s);
            Assert.True(actual.AsSpan().SequenceEqual(expected), $"{because}: sink {s.Name} does not match the active versions");
        }
        var expectedFiles = Manifest.Sinks.Select(s => Path.GetFileName(s.StoragePath)).Order().ToArray();
        Assert.Equal(expectedFiles, Directory.GetFiles(SinkDir).Select(Path.GetFileName).Order().ToArray());
        var secret = await Store.RevealAsync("attic-jwt-secret", (await Store.GetActiveAsync("attic-jwt-secret", default))!.Version, default);
        using var key = AtticSigningKey.Hs256(secret);
        var ciLine = (await File.ReadAllTextAsync(Path.Combine(SinkDir, "ci.env"))).Trim();
        AtticTokens.Verify(ciLine["ATTIC_TOKEN=".Length..], key, Time);
    }

    public static AtticTokenCredential Token(string name, string subject) =>
        new(name, "attic", "token", null, [], L, "attic-jwt-secret", subject, HumanDuration.Parse("30d"), null,
            [new CacheGrant(CacheNamePattern.Parse("main"), [AtticPermission.Pull], L)], null, []);

    private static SinkEntry Entry(string key, string credential, ValueEncoding encoding = ValueEncoding.Raw) =>
        new(key, credential, encoding, EntryValue.Value, key.Contains('.', StringComparison.Ordinal) ? "keyward" : null, null, null, L);

    private static Sink Sink(string name, string path, SinkFormat format, IReadOnlyList<SinkEntry> entries, IReadOnlyList<Hook> hooks, NixConfOptions? nix = null) =>
        new(name, path, format, null, null, Convert.ToInt32("600", 8), Convert.ToInt32("700", 8), null, entries, hooks, nix, null, null, L);

    public async ValueTask DisposeAsync()
    {
        if (_state is not null) await _state.DisposeAsync();
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { }
    }

    public sealed class NoFaults : IFaultInjector
    {
        public void At(string point) { }
    }

    public sealed class FaultAt(string target) : IFaultInjector
    {
        public bool Fired { get; private set; }

        public void At(string point)
        {
            if (point != target) return;
            Fired = true;
            throw new InjectedFaultException(point);
        }
    }

    /// <summary>The plan's step count for a rotation of <paramref name="name"/> (the planner is pure, so no store is needed).</summary>
    public static int StepCount(string name) => Plan(name).Steps.Count;

    /// <summary>The plan for a rotation of <paramref name="name"/> (the planner is pure, so no store is needed).</summary>
    public static RotationPlan Plan(string name) =>
        RotationPlanner.Plan(new RotationFixture(false).DisposeDirectory(), StoreFacts.Empty, new RotationIntent([name]), DateTimeOffset.UnixEpoch);

    private KeywardManifest DisposeDirectory()
    {
        try { Directory.Delete(Root, true); } catch (IOException) { }
        return Manifest;
    }
}
