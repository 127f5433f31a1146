using System.Text;
using Keyward.Core.Attic;
using Keyward.Core.Errors;
using Keyward.Core.Manifest;
using Keyward.Core.Secrets;
using Keyward.Crypto.Age;
using Keyward.Crypto.Attic;
using Keyward.Crypto.Nix;
using Microsoft.Extensions.Time.Testing;

namespace Keyward.Cli.Tests;

/// <summary>
/// A bounded, seeded fuzz pass (issue 9) over every input format a user or a peer hands Keyward: manifests, Attic JWTs,
/// age files, narinfos and tokens.json. Each mutated input must parse, or fail with a Keyward error that is not
/// KW0001, and the CLI must exit 0, 1 or 2. Seeds are fixed, so a failure names an input that reproduces every run;
/// counts are small enough for a few seconds on a busy 2-core machine (the structure-aware mutations find in a few
/// hundred tries what random bytes need thousands for).
/// </summary>
public sealed class FuzzTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("keyward-fuzz-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    // Fragments that have broken parsers before: structure, YAML features, limits, dates, encodings.
    private static readonly string[] Interesting =
    [
        "\n", ":", ": ", "- ", "[", "]", "{", "}", ",", "\"", "'", "#", "&a ", "*a", "<<: *a\n", "!!binary ", "---\n", "...\n",
        "\t", "\0", "\uFFFD", "é", "\\", "%", "|\n", ">\n", "~", "null", "true", "-1", "0", "99999999999999999999", "1e400",
        "0001-01-01T00:00:00-14:00", "9999-12-31T23:59:59Z", "2026-02-30", "20000y", "0s", "/dev/zero", "/", "..", "//",
        new string('a', 300), new string('[', 200), "NarHash: ", "Sig: ", "References: ", "=", ".", "==", "eyJ", "AGE-SECRET-KEY-1",
        "-> X25519 ", "--- ", "\r\n", "{\"a\":", "[[[[", "\"\\u0000\"",
    ];

    private static string Mutate(Random random, string input)
    {
        var s = new StringBuilder(input);
        for (var n = random.Next(1, 4); n > 0; n--)
        {
            var at = s.Length == 0 ? 0 : random.Next(s.Length + 1);
            switch (random.Next(6))
            {
                case 0: s.Insert(at, Interesting[random.Next(Interesting.Length)]); break;
                case 1 when s.Length > 0: s.Remove(Math.Min(at, s.Length - 1), Math.Min(random.Next(1, 16), s.Length - Math.Min(at, s.Length - 1))); break;
                case 2 when s.Length > 0: s[Math.Min(at, s.Length - 1)] = (char)random.Next(32, 127); break;
                case 3:
                    // duplicate a line (duplicate keys, repeated narinfo fields)
                    var lines = s.ToString().Split('\n').ToList();
                    var i = random.Next(lines.Count);
                    lines.Insert(i, lines[random.Next(lines.Count)]);
                    s.Clear().Append(string.Join('\n', lines));
                    break;
                case 4: s.Length = Math.Min(s.Length, at); break; // truncate
                default: s.Insert(at, s.ToString(Math.Min(at, s.Length), Math.Min(random.Next(1, 40), s.Length - Math.Min(at, s.Length)))); break;
            }
        }
        return s.ToString();
    }

    private static void NotInternal(Action action, string what)
    {
        try
        {
            action();
        }
        catch (KeywardException e)
        {
            Assert.True(e.Errors.All(x => x.Code != ErrorCodes.Internal), $"{what}: {e.Message}");
        }
        catch (Exception e)
        {
            Assert.Fail($"{what}: threw {e.GetType().Name}: {e.Message}");
        }
    }

    [Fact]
    public void Manifests_MutatedValidManifests_ParseOrReportLocatedErrors()
    {
        var corpus = Directory.GetFiles(Path.Combine(CliHarness.RepoRoot, "tests", "data", "manifests", "valid"), "*.yaml")
            .Append(Path.Combine(CliHarness.RepoRoot, "examples", "homelab", "keyward.yaml"))
            .Order(StringComparer.Ordinal).Select(File.ReadAllText).ToArray();
        var random = new Random(9001);
        for (var i = 0; i < 600; i++)
        {
            var text = Mutate(random, corpus[i % corpus.Length]);
            ManifestLoadResult? result = null;
            NotInternal(() => result = ManifestLoader.Parse(text, "fuzz.yaml"), $"manifest mutation {i}");
            foreach (var e in result!.Errors)
            {
                Assert.NotEqual(ErrorCodes.Internal, e.Code);
                Assert.True(e.Location is not null, $"manifest mutation {i}: {e} has no location");
            }
        }
    }

    [Fact]
    public async Task Manifests_MutatedThroughTheCli_ExitZeroOneOrTwo_NeverKW0001()
    {
        var source = await File.ReadAllTextAsync(Path.Combine(CliHarness.RepoRoot, "tests", "data", "manifests", "valid", "all-features.yaml"), TestContext.Current.CancellationToken);
        var random = new Random(9002);
        var path = Path.Combine(_dir, "keyward.yaml");
        for (var i = 0; i < 40; i++)
        {
            await File.WriteAllTextAsync(path, Mutate(random, source), TestContext.Current.CancellationToken);
            var r = await new CliHarness().RunAsync("plan", "-f", path, "--state", Path.Combine(_dir, "state"));
            Assert.True(r.ExitCode is 0 or 1 or 2 && !r.Err.Contains("KW0001", StringComparison.Ordinal), $"mutation {i}: {r}");
        }
    }

    [Fact]
    public void AtticJwts_StructurallyMutated_DecodeOrFailWithAKeywardError()
    {
        using var key = AtticSigningKey.Hs256(Secret.FromUtf8("fuzz-secret"));
        var now = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
        var token = AtticTokens.Mint(new AtticTokenRequest("ci", now.AddDays(1), now,
            [new AtticGrant(CacheNamePattern.Parse("main"), [AtticPermission.Pull, AtticPermission.Push])]), key).Jwt.RevealString();
        var time = new FakeTimeProvider(now);
        var random = new Random(9003);
        for (var i = 0; i < 2000; i++)
        {
            var mutated = Mutate(random, token);
            NotInternal(() => AtticTokens.Decode(mutated), $"jwt mutation {i}");
            NotInternal(() => AtticTokens.Verify(mutated, key, time), $"jwt mutation {i}");
        }
    }

    [Fact]
    public void AgeFiles_Mutated_DecryptOrFailWithAKeywardError()
    {
        var identity = X25519Identity.Generate();
        var plaintext = Encoding.UTF8.GetBytes("fuzzed plaintext");
        var random = new Random(9004);
        foreach (var armor in new[] { true, false })
        {
            var file = AgeFile.EncryptBytes(plaintext, [identity.ToRecipient()], armor);
            for (var i = 0; i < 300; i++)
            {
                // Latin-1 keeps every byte as one char, so binary files survive the string mutator.
                var mutated = Encoding.Latin1.GetBytes(Mutate(random, Encoding.Latin1.GetString(file)).Select(c => c > 255 ? '?' : c).ToArray());
                NotInternal(() => AgeFile.DecryptBytes(mutated, [identity]).Dispose(), $"age mutation {i} (armor {armor})");
            }
        }
    }

    [Fact]
    public void NarInfos_Mutated_ParseAndVerifyOrFailWithAKeywardError()
    {
        const string narinfo =
            "StorePath: /nix/store/36fy5ahg48sbws5psh40d6dp82kzsy7l-kwtest\n" +
            "URL: nar/09kxyd68d2nylk7ims23pj3i09s4nnv9p3dv6iij1q9canv42w6d.nar.xz\n" +
            "Compression: xz\n" +
            "FileHash: sha256:09kxyd68d2nylk7ims23pj3i09s4nnv9p3dv6iij1q9canv42w6d\n" +
            "FileSize: 124\n" +
            "NarHash: sha256:1xmr8jicvzszfzpz46g37mlpvbzjl2wpwvl2b05psipssyp1sm8h\n" +
            "NarSize: 120\n" +
            "References: 36fy5ahg48sbws5psh40d6dp82kzsy7l-kwtest\n" +
            "Deriver: lvi0qkcj10y40p5sp8dj402mglnbgg20-kwtest.drv\n" +
            "Sig: test1:q0AOz+GKGSkY4W/O11vNOfYFvP+ICIfuUQ4Ur8ztuQZ8ZnU/KYh/hZOGKaNAEMS/pCNI1WOCF7zF+RcCK/ZBBA==\n";
        var trusted = NixPublicKey.Parse("test1:tV0LVH6r0Hlmi/AdVERQ21/77Q9kS/v5OM+fpZPKcTU=");
        var random = new Random(9005);
        for (var i = 0; i < 2000; i++)
        {
            var mutated = Mutate(random, narinfo);
            NotInternal(() => NarInfoVerifier.Verify(NarInfo.Parse(mutated), [trusted]), $"narinfo mutation {i}");
        }
    }

    [Fact]
    public async Task TokensJson_MutatedThroughTheCli_ExitZeroOneOrTwo_NeverKW0001()
    {
        var manifest = Path.Combine(_dir, "keyward.yaml");
        await File.WriteAllTextAsync(manifest, """
            apiVersion: keyward/v1
            credentials:
              gh: { kind: external, provider: github, owner: o, purpose: p, host: github.com, source: { jsonMap: tokens.json, key: github.com } }
              gl: { kind: external, provider: gitlab, owner: o, purpose: p, host: gitlab.com, source: { jsonMap: tokens.json, key: gitlab.com } }
            """, TestContext.Current.CancellationToken);
        const string tokens = "{\"github.com\": \"ghp_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\", \"gitlab.com\": \"glpat-bbbbbbbbbbbbbbbbbbbb\"}\n";
        var random = new Random(9006);
        for (var i = 0; i < 40; i++)
        {
            await File.WriteAllTextAsync(Path.Combine(_dir, "tokens.json"), Mutate(random, tokens), TestContext.Current.CancellationToken);
            var r = await new CliHarness().RunAsync("plan", "-f", manifest, "--state", Path.Combine(_dir, "state"));
            Assert.True(r.ExitCode is 0 or 1 or 2 && !r.Err.Contains("KW0001", StringComparison.Ordinal), $"tokens.json mutation {i}: {r}");
        }
    }
}
