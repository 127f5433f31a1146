using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Keyward.Crypto.Nix;
using NSec.Cryptography;

namespace Keyward.Bench;

/// <summary>
/// <c>narinfo prepare DIR N</c>: writes N signed narinfos (synthetic store paths with references) into DIR/cache, the
/// trusted public key into DIR/pub and the store paths into DIR/paths. <c>narinfo run DIR [RUNS]</c>: parses and verifies
/// each with <see cref="NarInfoVerifier"/>, against a raw Ed25519 verification of the same precomputed fingerprints.
/// </summary>
internal static class NarInfoBench
{
    private const string Nix32 = "0123456789abcdfghijklmnpqrsvwxyz";

    public static Task<int> Run(string[] args)
    {
        if (args.Length >= 3 && args[0] == "prepare") return Task.FromResult(Prepare(args[1], int.Parse(args[2], CultureInfo.InvariantCulture)));
        if (args.Length >= 2 && args[0] == "run") return Task.FromResult(Measure(args[1], args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 5));
        Console.Error.WriteLine("usage: Keyward.Bench narinfo prepare DIR N | narinfo run DIR [RUNS]");
        return Task.FromResult(2);
    }

    private static string Hash32()
    {
        Span<char> c = stackalloc char[32];
        for (var i = 0; i < 32; i++) c[i] = Nix32[RandomNumberGenerator.GetInt32(32)];
        return new string(c);
    }

    private static int Prepare(string dir, int n)
    {
        var cache = Path.Combine(dir, "cache");
        Directory.CreateDirectory(cache);
        File.WriteAllText(Path.Combine(cache, "nix-cache-info"), "StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 41\n");
        using var key = NixSecretKey.Generate("bench-cache-1");
        File.WriteAllText(Path.Combine(dir, "pub"), key.PublicKey.ToString());
        var names = Enumerable.Range(0, n).Select(i => $"{Hash32()}-bench-{i}").ToArray();
        var paths = new StringBuilder();
        for (var i = 0; i < n; i++)
        {
            // References point only to earlier paths (and to itself), so the graph has no cycles, as nix requires.
            var refs = string.Join(' ', (i == 0 ? [names[0]] : new[] { names[(i * 7 + 1) % i], names[(i * 13 + 5) % i], names[i] }).Distinct());
            var narHash = NixBase32.Encode(RandomNumberGenerator.GetBytes(32));
            var text = $"StorePath: /nix/store/{names[i]}\nURL: nar/{narHash}.nar.xz\nCompression: xz\nFileHash: sha256:{narHash}\nFileSize: {1000 + i}\n" +
                       $"NarHash: sha256:{narHash}\nNarSize: {4096 + i}\nReferences: {refs}\nDeriver: {Hash32()}-bench-{i}.drv\n";
            var signed = NarInfo.Parse(text).Sign(key).ToText();
            File.WriteAllText(Path.Combine(cache, names[i][..32] + ".narinfo"), signed);
            paths.Append("/nix/store/").Append(names[i]).Append('\n');
        }
        File.WriteAllText(Path.Combine(dir, "paths"), paths.ToString());
        return 0;
    }

    private static int Measure(string dir, int runs)
    {
        var trusted = NixPublicKey.Parse(File.ReadAllText(Path.Combine(dir, "pub")));
        var trustSet = new NixTrustedKeys([trusted]);
        var texts = Directory.GetFiles(Path.Combine(dir, "cache"), "*.narinfo").Select(File.ReadAllText).ToArray();
        // The floor: the same fingerprints and signatures, already extracted, verified with libsodium via NSec.
        var prepared = texts.Select(t =>
        {
            var info = NarInfo.Parse(t);
            var sig = info.Sigs[0];
            return (Fingerprint: Encoding.UTF8.GetBytes(info.Fingerprint()), Signature: Convert.FromBase64String(sig[(sig.IndexOf(':', StringComparison.Ordinal) + 1)..]));
        }).ToArray();
        var pk = PublicKey.Import(SignatureAlgorithm.Ed25519, trusted.Key, KeyBlobFormat.RawPublicKey);
        var valid = 0;
        var keyward = global::Keyward.Bench.Measure.MedianMs(runs, () =>
        {
            valid = 0;
            foreach (var t in texts) if (NarInfoVerifier.Verify(NarInfo.Parse(t), trustSet).IsValid) valid++;
        });
        if (valid != texts.Length) throw new InvalidOperationException($"only {valid} of {texts.Length} verified");
        var rawValid = 0;
        var raw = global::Keyward.Bench.Measure.MedianMs(runs, () =>
        {
            rawValid = 0;
            foreach (var (fp, sig) in prepared) if (SignatureAlgorithm.Ed25519.Verify(pk, fp, sig)) rawValid++;
        });
        if (rawValid != texts.Length) throw new InvalidOperationException("raw verification failed");
        var inv = CultureInfo.InvariantCulture;
        Console.WriteLine($"narinfos={texts.Length}");
        Console.WriteLine(string.Create(inv, $"keyward_ms={keyward:F1}"));
        Console.WriteLine(string.Create(inv, $"raw_ed25519_ms={raw:F1}"));
        Console.WriteLine(string.Create(inv, $"keyward_throughput_vs_raw={raw / keyward:F2}"));
        return 0;
    }
}
