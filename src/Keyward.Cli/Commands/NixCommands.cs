using System.CommandLine;
using System.Net;
using System.Text;
using System.Text.Json;
using Keyward.Core.Errors;
using Keyward.Core.Secrets;
using Keyward.Crypto.Nix;
using Keyward.Sinks.Files;

namespace Keyward.Cli.Commands;

/// <summary>
/// <c>keyward nix keygen|pubkey|sign|verify-cache</c>: Nix binary-cache signing keys and narinfo signatures,
/// interchangeable with <c>nix key generate-secret</c>, <c>nix key convert-secret-to-public</c>, <c>nix store sign</c>
/// and <c>nix store verify</c>. See docs/nix.md.
/// </summary>
internal static class NixCommands
{
    public static Command Build(CliContext context)
    {
        var nix = new Command("nix", "Nix binary-cache signing keys and narinfo signatures");
        nix.Subcommands.Add(Keygen(context));
        nix.Subcommands.Add(Pubkey(context));
        nix.Subcommands.Add(Sign(context));
        nix.Subcommands.Add(VerifyCache(context));
        return nix;
    }

    private static Command Keygen(CliContext context)
    {
        var name = new Argument<string>("name") { Description = "Key name, by convention the cache host plus -N (e.g. cache.example.org-1)" };
        var output = new Option<string?>("--out", "-o") { Description = "Write the secret key to this new file (mode 0600) and print the public key instead" };
        var reveal = new Option<bool>("--reveal") { Description = "Allow printing the secret key to a terminal" };
        var cmd = new Command("keygen", "Generate an Ed25519 signing key in Nix's format (like nix key generate-secret)") { name, output, reveal };
        cmd.SetAction(async (parse, ct) =>
        {
            var outFile = parse.GetValue(output);
            if (outFile is null && context.Console.OutIsTerminal && !parse.GetValue(reveal))
                throw ErrorCodes.RefuseTerminal.Exception("the secret key would be printed to a terminal", "pipe it to a file, use --out FILE, or pass --reveal");
            using var key = NixSecretKey.Generate(parse.GetValue(name)!);
            using var text = key.ToSecret();
            if (outFile is not null)
            {
                var path = context.Console.ResolvePath(outFile);
                await WriteNewSecretFileAsync(path, text, ct).ConfigureAwait(false);
                await context.Console.Out.WriteLineAsync(key.PublicKey.ToString()).ConfigureAwait(false);
                return 0;
            }
            await context.Console.Out.WriteLineAsync(text.RevealString()).ConfigureAwait(false);
            return 0;
        });
        return cmd;
    }

    private static Command Pubkey(CliContext context)
    {
        var cmd = new Command("pubkey", "Read a secret key on stdin and print its public key (like nix key convert-secret-to-public)");
        cmd.SetAction(async (parse, ct) =>
        {
            using var text = await ReadAllStdinAsync(context, ct).ConfigureAwait(false);
            using var key = NixSecretKey.Parse(TrimTrailingNewlines(text));
            await context.Console.Out.WriteLineAsync(key.PublicKey.ToString()).ConfigureAwait(false);
            return 0;
        });
        return cmd;
    }

    private static Command Sign(CliContext context)
    {
        var keyFile = new Option<string>("--key-file") { Description = "The secret key file (Nix format)", Required = true };
        var files = new Argument<string[]>("narinfo") { Description = ".narinfo files to sign in place", Arity = ArgumentArity.OneOrMore };
        var cmd = new Command("sign", "Add a Sig: line to each .narinfo (rewritten atomically), like nix store sign") { keyFile, files };
        cmd.SetAction(async (parse, ct) =>
        {
            using var keyText = await ReadSecretFileAsync(context.Console.ResolvePath(parse.GetValue(keyFile)!), ct).ConfigureAwait(false);
            using var key = NixSecretKey.Parse(TrimTrailingNewlines(keyText));
            foreach (var f in parse.GetValue(files)!)
            {
                var path = context.Console.ResolvePath(f);
                var info = NarInfo.Parse(await ReadTextFileAsync(path, ct).ConfigureAwait(false));
                var signed = info.Sign(key);
                if (ReferenceEquals(signed, info))
                {
                    await context.Console.Out.WriteLineAsync($"already signed  {f}  ({info.StorePath}, {key.Name})").ConfigureAwait(false);
                    continue;
                }
                await ReplaceFileAtomicallyAsync(path, signed.ToText(), ct).ConfigureAwait(false);
                await context.Console.Out.WriteLineAsync($"signed  {f}  ({info.StorePath}, {key.Name})").ConfigureAwait(false);
            }
            return 0;
        });
        return cmd;
    }

    private static Command VerifyCache(CliContext context)
    {
        var source = new Argument<string>("cache") { Description = "A binary cache directory, file:// URL, or http(s):// URL" };
        var keys = new Option<string[]>("--trusted-public-keys", "--trusted-public-key")
        {
            Description = "Trusted public keys (name:base64), as in nix.conf; repeat or separate by spaces",
            Required = true,
            AllowMultipleArgumentsPerToken = true,
        };
        var paths = new Option<string[]>("--path") { Description = "A store path or its 32-character hash to check (repeatable); required for HTTP caches, which have no listing", AllowMultipleArgumentsPerToken = true };
        var pathsFrom = new Option<string?>("--paths-from") { Description = "A file with one store path or hash per line" };
        var json = CliOptions.Json();
        var cmd = new Command("verify-cache", "Check every narinfo's signatures against trusted keys; exit 1 if any path is unsigned or badly signed") { source, keys, paths, pathsFrom, json };
        cmd.SetAction(async (parse, ct) =>
        {
            var trusted = new NixTrustedKeys(parse.GetValue(keys)!
                .SelectMany(k => k.Split([' ', '\t', '\n'], StringSplitOptions.RemoveEmptyEntries))
                .Select(NixPublicKey.Parse));
            if (trusted.Count == 0) throw ErrorCodes.NixKeyInvalid.Exception("no trusted public key given");
            var wanted = new List<string>(parse.GetValue(paths) ?? []);
            if (parse.GetValue(pathsFrom) is { } listFile)
                wanted.AddRange((await ReadTextFileAsync(context.Console.ResolvePath(listFile), ct).ConfigureAwait(false))
                    .Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
            var hashes = wanted.Select(HashPartOf).Distinct(StringComparer.Ordinal).ToList();

            var cacheArg = parse.GetValue(source)!;
            var (names, fetch, parallelism, dispose) = OpenCache(context, cacheArg, hashes);
            var slots = new (string Name, NarInfoVerification Result)[names.Count];
            try
            {
                if (names.Count > 0 && fetch is HttpFetch http) await http.CheckCacheInfoAsync(ct).ConfigureAwait(false);
                // Verification is CPU-bound (Ed25519) and fetching is I/O-bound: both run in parallel, results keep order.
                await Parallel.ForEachAsync(Enumerable.Range(0, names.Count), new ParallelOptions { MaxDegreeOfParallelism = parallelism, CancellationToken = ct },
                    async (i, token) =>
                    {
                        var name = names[i];
                        var text = await fetch.GetAsync(name, token).ConfigureAwait(false);
                        if (text is null) { slots[i] = (name, new NarInfoVerification(name, NarInfoStatus.Unsigned, null, "narinfo not found in the cache")); return; }
                        try
                        {
                            var info = NarInfo.Parse(text);
                            // A validly signed narinfo served under another path's name is a substitution attack, not a pass.
                            slots[i] = name == info.HashPart + ".narinfo"
                                ? (name, NarInfoVerifier.Verify(info, trusted))
                                : (name, new NarInfoVerification(info.StorePath, NarInfoStatus.BadSignature, null, $"served as {name} but describes another store path"));
                        }
                        catch (KeywardException e) when (e.First.Code == ErrorCodes.NarInfoInvalid) { slots[i] = (name, new NarInfoVerification(name, NarInfoStatus.BadSignature, null, e.First.Message)); }
                    }).ConfigureAwait(false);
            }
            finally { dispose?.Dispose(); }
            var results = slots.ToList();
            if (results.Count == 0)
                throw ErrorCodes.NixCacheNoPaths.Exception($"'{cacheArg}' holds no .narinfo files");

            var bad = results.Count(r => !r.Result.IsValid);
            var o = context.Console.Out;
            if (parse.GetValue(json))
            {
                using var buffer = new MemoryStream();
                using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
                {
                    w.WriteStartObject();
                    w.WriteString("cache", cacheArg);
                    w.WriteNumber("checked", results.Count);
                    w.WriteNumber("failed", bad);
                    w.WriteStartArray("paths");
                    foreach (var (name, r) in results)
                    {
                        w.WriteStartObject();
                        w.WriteString("narinfo", name);
                        w.WriteString("storePath", r.StorePath);
                        w.WriteString("status", StatusWord(r.Status));
                        if (r.SignedBy is not null) w.WriteString("signedBy", r.SignedBy);
                        w.WriteString("detail", r.Detail);
                        w.WriteEndObject();
                    }
                    w.WriteEndArray();
                    w.WriteEndObject();
                }
                await o.WriteLineAsync(Encoding.UTF8.GetString(buffer.ToArray())).ConfigureAwait(false);
            }
            else
            {
                foreach (var (_, r) in results)
                    await o.WriteLineAsync($"{StatusWord(r.Status),-10} {r.StorePath}  {r.Detail}").ConfigureAwait(false);
                await o.WriteLineAsync($"{results.Count - bad} of {results.Count} paths signed by a trusted key").ConfigureAwait(false);
            }
            if (bad > 0)
                throw ErrorCodes.NixCacheUnverified.Exception($"{bad} of {results.Count} paths in '{cacheArg}' are unsigned or badly signed");
            return 0;
        });
        return cmd;
    }

    private static string StatusWord(NarInfoStatus s) => s switch
    {
        NarInfoStatus.Valid => "ok",
        NarInfoStatus.Unsigned => "unsigned",
        NarInfoStatus.UntrustedKey => "untrusted",
        NarInfoStatus.BadSignature => "bad-sig",
        _ => s.ToString(),
    };

    /// <summary>A store path (<c>/nix/store/HASH-name</c>), base name or bare hash → the 32-character hash part.</summary>
    internal static string HashPartOf(string pathOrHash)
    {
        var s = pathOrHash.Trim();
        s = s[(s.LastIndexOf('/') + 1)..];
        if (s.EndsWith(".narinfo", StringComparison.Ordinal)) s = s[..^8];
        var dash = s.IndexOf('-', StringComparison.Ordinal);
        if (dash >= 0) s = s[..dash];
        if (s.Length != 32 || s.Any(c => !"0123456789abcdfghijklmnpqrsvwxyz".Contains(c, StringComparison.Ordinal)))
            throw ErrorCodes.InvalidArgument.Exception($"'{pathOrHash}' is not a store path or a 32-character store hash");
        return s;
    }

    private interface INarInfoFetch
    {
        Task<string?> GetAsync(string narinfoName, CancellationToken ct);
    }

    private sealed class DirectoryFetch(string dir) : INarInfoFetch
    {
        public async Task<string?> GetAsync(string narinfoName, CancellationToken ct)
        {
            var file = Path.Combine(dir, narinfoName);
            return File.Exists(file) ? await ReadTextFileAsync(file, ct).ConfigureAwait(false) : null;
        }
    }

    private sealed class HttpFetch(HttpClient http, Uri baseUri) : INarInfoFetch
    {
        public Task CheckCacheInfoAsync(CancellationToken ct) => GetTextAsync(http, new Uri(baseUri, "nix-cache-info"), required: true, ct);

        public Task<string?> GetAsync(string narinfoName, CancellationToken ct) => GetTextAsync(http, new Uri(baseUri, narinfoName), required: false, ct);
    }

    /// <summary>The narinfo names to check and how to read them: a directory (listed unless paths are given) or an
    /// HTTP cache (which has no listing, so paths are required).</summary>
    private static (IReadOnlyList<string> Names, INarInfoFetch Fetch, int Parallelism, IDisposable? Dispose) OpenCache(CliContext context, string cache, IReadOnlyList<string> hashes)
    {
        if (cache.StartsWith("http://", StringComparison.OrdinalIgnoreCase) || cache.StartsWith("https://", StringComparison.OrdinalIgnoreCase))
        {
            if (hashes.Count == 0) throw ErrorCodes.NixCacheNoPaths.Exception($"'{cache}' is an HTTP binary cache, which cannot be listed");
            var baseUri = new Uri(cache.EndsWith('/') ? cache : cache + "/");
            var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
            http.DefaultRequestHeaders.UserAgent.ParseAdd("keyward");
            return (hashes.Select(h => h + ".narinfo").ToList(), new HttpFetch(http, baseUri), 8, http);
        }
        var dir = cache.StartsWith("file://", StringComparison.OrdinalIgnoreCase) ? new Uri(cache).LocalPath : context.Console.ResolvePath(cache);
        if (!Directory.Exists(dir)) throw ErrorCodes.NixCacheUnreachable.Exception($"'{cache}' is not a directory or an http(s):// or file:// URL");
        var names = hashes.Count > 0
            ? hashes.Select(h => h + ".narinfo").ToList()
            : Directory.EnumerateFiles(dir, "*.narinfo").Select(f => Path.GetFileName(f)).Order(StringComparer.Ordinal).ToList();
        return (names, new DirectoryFetch(dir), Environment.ProcessorCount, null);
    }

    private static async Task<string?> GetTextAsync(HttpClient http, Uri uri, bool required, CancellationToken ct)
    {
        HttpResponseMessage response;
        try { response = await http.GetAsync(uri, ct).ConfigureAwait(false); }
        catch (HttpRequestException e) { throw ErrorCodes.NixCacheUnreachable.Exception($"cannot fetch {uri}: {e.Message}"); }
        catch (TaskCanceledException) when (!ct.IsCancellationRequested) { throw ErrorCodes.NixCacheUnreachable.Exception($"fetching {uri} timed out"); }
        using (response)
        {
            if (response.StatusCode == HttpStatusCode.NotFound && !required) return null;
            if (!response.IsSuccessStatusCode)
                throw ErrorCodes.NixCacheUnreachable.Exception($"{uri} answered {(int)response.StatusCode} {response.ReasonPhrase}",
                    response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden ? "the cache is private: Keyward does not send credentials for verify-cache yet" : null);
            return await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
        }
    }

    internal static async Task<Secret> ReadAllStdinAsync(CliContext context, CancellationToken ct)
    {
        using var buffer = new MemoryStream();
        await context.Console.StdIn.CopyToAsync(buffer, ct).ConfigureAwait(false);
        var bytes = buffer.ToArray();
        System.Security.Cryptography.CryptographicOperations.ZeroMemory(buffer.GetBuffer());
        return Secret.Adopt(bytes);
    }

    // Key files up to 1 MiB, narinfos and path lists up to 16 MiB; regular files only (InputFiles).
    private static Task<Secret> ReadSecretFileAsync(string path, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        return Task.FromResult(Secret.Adopt(InputFiles.ReadBytes(path)));
    }

    private static Task<string> ReadTextFileAsync(string path, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        return Task.FromResult(InputFiles.ReadText(path, Core.Inputs.InputFile.MaxManifestBytes));
    }

    /// <summary>Key files may end in LF (Nix tolerates it); CR LF from an editor is trimmed too, before Nix's strict decoder.</summary>
    private static Secret TrimTrailingNewlines(Secret s)
    {
        var span = s.Reveal();
        var end = span.Length;
        while (end > 0 && span[end - 1] is (byte)'\n' or (byte)'\r') end--;
        return end == span.Length ? s : Secret.FromBytes(span[..end]);
    }

    /// <summary>Rewrites <paramref name="path"/> atomically through the one writer (temporary file, fsync, rename,
    /// directory fsync), keeping its mode.</summary>
    private static Task ReplaceFileAtomicallyAsync(string path, string text, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        try
        {
            var full = Path.GetFullPath(path);
            AtomicFile.Write(full, Encoding.UTF8.GetBytes(text), (int)File.GetUnixFileMode(full));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw ErrorCodes.IoFailure.Exception($"cannot rewrite {path}: {IoErrorText.Describe(e)}");
        }
        return Task.CompletedTask;
    }

    private static async Task WriteNewSecretFileAsync(string path, Secret value, CancellationToken ct)
    {
        try
        {
            var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
            if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            await using var fs = new FileStream(path, options);
            fs.Write(value.Reveal());
            fs.Flush(flushToDisk: true);
        }
        catch (IOException) when (File.Exists(path))
        {
            throw ErrorCodes.IoFailure.Exception($"{path} already exists; Keyward does not overwrite a key file", "choose another path or remove the old key deliberately");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw ErrorCodes.IoFailure.Exception($"cannot write {path}: {IoErrorText.Describe(e)}");
        }
    }
}
