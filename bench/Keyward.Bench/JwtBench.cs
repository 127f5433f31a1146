using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Keyward.Core.Attic;
using Keyward.Core.Secrets;
using Keyward.Crypto.Attic;

namespace Keyward.Bench;

/// <summary>
/// <c>jwt prepare DIR N</c>: mints N HS256 Attic tokens (DIR/tokens.txt) with a random secret (DIR/secret.bin).
/// <c>jwt run DIR [RUNS]</c>: verifies them all with <see cref="AtticTokens.Verify"/> and, as the floor, computes a bare
/// HMAC-SHA256 over the same signing inputs; prints <c>key=value</c> lines (median ms over RUNS passes).
/// </summary>
internal static class JwtBench
{
    public static Task<int> Run(string[] args)
    {
        if (args.Length >= 3 && args[0] == "prepare") return Task.FromResult(Prepare(args[1], int.Parse(args[2], CultureInfo.InvariantCulture)));
        if (args.Length >= 2 && args[0] == "run") return Task.FromResult(Measure(args[1], args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 5));
        Console.Error.WriteLine("usage: Keyward.Bench jwt prepare DIR N | jwt run DIR [RUNS]");
        return Task.FromResult(2);
    }

    private static int Prepare(string dir, int n)
    {
        Directory.CreateDirectory(dir);
        var secret = RandomNumberGenerator.GetBytes(64);
        File.WriteAllBytes(Path.Combine(dir, "secret.bin"), secret);
        using var key = AtticSigningKey.Hs256(Secret.FromBytes(secret));
        var now = DateTimeOffset.FromUnixTimeSeconds(1_700_000_000);
        var sb = new StringBuilder(n * 320);
        for (var i = 0; i < n; i++)
        {
            var request = new AtticTokenRequest($"runner-{i}", DateTimeOffset.FromUnixTimeSeconds(4_000_000_000), now,
            [
                new AtticGrant(CacheNamePattern.Parse("main"), [AtticPermission.Pull, AtticPermission.Push]),
                new AtticGrant(CacheNamePattern.Parse($"team-{i % 97}-*"), [AtticPermission.Pull, AtticPermission.Push, AtticPermission.CreateCache]),
                new AtticGrant(CacheNamePattern.Parse("*"), [AtticPermission.Pull]),
            ]);
            using var jwt = AtticTokens.Mint(request, key).Jwt;
            sb.Append(jwt.RevealString()).Append('\n');
        }
        File.WriteAllText(Path.Combine(dir, "tokens.txt"), sb.ToString());
        return 0;
    }

    private static int Measure(string dir, int runs)
    {
        var secret = File.ReadAllBytes(Path.Combine(dir, "secret.bin"));
        var tokens = File.ReadAllLines(Path.Combine(dir, "tokens.txt")).Where(l => l.Length > 0).ToArray();
        var inputs = tokens.Select(t => Encoding.ASCII.GetBytes(t[..t.LastIndexOf('.')])).ToArray();
        using var key = AtticSigningKey.Hs256(Secret.FromBytes(secret));
        var time = TimeProvider.System;
        var grants = 0L;
        var keyward = global::Keyward.Bench.Measure.MedianMs(runs, () =>
        {
            foreach (var t in tokens) grants += AtticTokens.Verify(t, key, time).Grants.Count;
        });
        var macs = new byte[32];
        var bare = global::Keyward.Bench.Measure.MedianMs(runs, () =>
        {
            Span<byte> m = stackalloc byte[32];
            foreach (var input in inputs) HMACSHA256.HashData(secret, input, m);
            m.CopyTo(macs);
        });
        using var reused = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, secret);
        var bareReused = global::Keyward.Bench.Measure.MedianMs(runs, () =>
        {
            Span<byte> m = stackalloc byte[32];
            foreach (var input in inputs) { reused.AppendData(input); reused.GetHashAndReset(m); }
            m.CopyTo(macs);
        });
        GC.KeepAlive(grants);
        var inv = CultureInfo.InvariantCulture;
        Console.WriteLine($"tokens={tokens.Length}");
        Console.WriteLine(string.Create(inv, $"keyward_ms={keyward:F1}"));
        Console.WriteLine(string.Create(inv, $"bare_hmac_ms={bare:F1}"));
        Console.WriteLine(string.Create(inv, $"bare_hmac_reused_ms={bareReused:F1}"));
        Console.WriteLine(string.Create(inv, $"keyward_over_bare={keyward / bare:F2}"));
        Console.WriteLine(string.Create(inv, $"keyward_over_bare_reused={keyward / bareReused:F2}"));
        return 0;
    }
}
