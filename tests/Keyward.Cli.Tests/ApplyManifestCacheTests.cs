using System.Text.Json;
using Keyward.Core.Manifest.Loading;
using Microsoft.Extensions.Time.Testing;

namespace Keyward.Cli.Tests;

/// <summary>apply over the validated model kept in the state directory (<c>manifest-model.cache</c>): the same outcome
/// as without it, nothing written on a no-op, and a damaged cache or a changed manifest never makes apply act on a stale
/// model.</summary>
public sealed class ApplyManifestCacheTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("keyward-model-cache-").FullName;
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
    private string Root => Path.Combine(_dir, "root");
    private string State => Path.Combine(_dir, "state");
    private string Manifest => Path.Combine(_dir, "keyward.yaml");
    private string CacheFile => Path.Combine(State, ManifestModelCache.FileName);

    private const string Text = """
        apiVersion: keyward/v1
        credentials:
          jwt: { kind: secret, bytes: 32, owner: test, purpose: signer }
          ci:
            kind: attic-token
            signedBy: jwt
            subject: ci
            validity: 90d
            owner: test
            purpose: token
            caches: { main: [pull] }
        sinks:
          token:
            path: /srv/ci.token
            format: raw
            mode: "0600"
            credential: ci
          env:
            path: /srv/app.env
            format: env
            entries:
              SIGNER: { credential: jwt, encoding: base64 }
              MODE: { value: production }
        """;

    public ApplyManifestCacheTests() => File.WriteAllText(Manifest, Text);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private CliHarness Cli() => new() { Time = _time };

    private async Task<JsonDocument> Apply()
    {
        var r = await Cli().RunAsync("apply", "-f", Manifest, "--root", Root, "--state", State, "--json");
        Assert.True(r.ExitCode == 0, r.ToString());
        return JsonDocument.Parse(r.Out);
    }

    private static int Written(JsonDocument d) => d.RootElement.GetProperty("applied").GetProperty("filesWritten").GetInt32();

    private string Snapshot() => string.Join("\n", Directory.EnumerateFiles(Root, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal)
        .Select(f => $"{f} {File.GetUnixFileMode(f)} {File.GetLastWriteTimeUtc(f).Ticks} {Convert.ToHexString(File.ReadAllBytes(f))}"));

    [Fact]
    public async Task NoOpApply_FromTheCachedModel_WritesNothing_AndReportsWhatApplyWithoutItReports()
    {
        await Apply(); // creates the state; the state did not exist while the manifest was read: no cache yet
        var uncached = await Apply(); // loads from the text, keeps the model
        Assert.True(File.Exists(CacheFile));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(CacheFile));
        Assert.Empty(Directory.GetFiles(State, "*kw-tmp*"));
        var cacheWritten = File.GetLastWriteTimeUtc(CacheFile);
        var files = Snapshot();

        var cached = await Apply();
        Assert.Equal(0, Written(cached));
        Assert.Equal(uncached.RootElement.ToString(), cached.RootElement.ToString());
        Assert.Equal(files, Snapshot());
        Assert.Equal(cacheWritten, File.GetLastWriteTimeUtc(CacheFile)); // read, not rewritten

        // The same manifest, no cache at all: the same report.
        File.Delete(CacheFile);
        Assert.Equal(uncached.RootElement.ToString(), (await Apply()).RootElement.ToString());
    }

    [Fact]
    public async Task DamagedCache_IsIgnoredAndRebuilt_AndApplyStaysRight()
    {
        await Apply();
        var expected = (await Apply()).RootElement.ToString();
        var files = Snapshot();
        var good = File.ReadAllBytes(CacheFile);
        foreach (var damaged in new[] { Flip(good, good.Length - 5), good[..(good.Length / 3)], Flip(good, 12) })
        {
            File.WriteAllBytes(CacheFile, damaged);
            var again = await Apply();
            Assert.Equal(0, Written(again));
            Assert.Equal(expected, again.RootElement.ToString());
            Assert.Equal(files, Snapshot());
            Assert.Equal(good, File.ReadAllBytes(CacheFile)); // rebuilt
        }
    }

    [Fact]
    public async Task ChangedManifest_IsAppliedAsWritten_NotAsCached()
    {
        await Apply();
        await Apply();
        Assert.True(File.Exists(CacheFile));
        var before = File.ReadAllBytes(CacheFile);

        // Another path and another mode for the token: a stale model would leave both as they were.
        File.WriteAllText(Manifest, Text.Replace("/srv/ci.token", "/srv/runner/ci.token", StringComparison.Ordinal)
            .Replace("mode: \"0600\"", "mode: \"0640\"", StringComparison.Ordinal));
        var changed = await Apply();
        Assert.Equal(1, Written(changed));
        var token = Path.Combine(Root, "srv", "runner", "ci.token");
        Assert.True(File.Exists(token));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead, File.GetUnixFileMode(token));
        Assert.NotEqual(before, File.ReadAllBytes(CacheFile));

        // And the next run, from the new cache, has nothing to do.
        Assert.Equal(0, Written(await Apply()));
    }

    private static byte[] Flip(byte[] b, int i)
    {
        var copy = b.ToArray();
        copy[i] ^= 0x40;
        return copy;
    }
}
