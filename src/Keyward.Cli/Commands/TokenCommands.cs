using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Keyward.Core.Attic;
using Keyward.Core.Errors;
using Keyward.Core.Manifest;
using Keyward.Core.Secrets;
using Keyward.Core.Time;
using Keyward.Crypto.Attic;
using Keyward.Crypto.Tokens;

namespace Keyward.Cli.Commands;

/// <summary>
/// <c>keyward token mint|inspect|recognize</c>: Attic JWTs with atticadm's flags and atticd's verification rules, and
/// format recognition of imported tokens. See docs/tokens.md.
/// </summary>
internal static class TokenCommands
{
    public static Command Build(CliContext context)
    {
        var token = new Command("token", "Mint, inspect and recognise tokens (Attic JWTs and imported provider tokens)");
        token.Subcommands.Add(Mint(context));
        token.Subcommands.Add(Inspect(context));
        token.Subcommands.Add(Recognize(context));
        return token;
    }

    private static Option<string?> SecretFileOption() => new("--secret-base64-file")
    {
        Description = "A file holding the server's signing key as atticd's token-*-base64 setting does: base64 of the HS256 secret bytes, or of an RS256 PEM (detected by content)",
    };

    private static Command Mint(CliContext context)
    {
        var sub = new Option<string>("--sub") { Description = "The token's subject", Required = true };
        var validity = new Option<string>("--validity") { Description = "How long the token is valid, in humantime (30d, 3 months, 1y; m is minutes, M months)", Required = true };
        var perms = AtticPermissions.All.ToDictionary(p => p, p => new Option<string[]>("--" + p.Name())
        {
            Description = $"Cache name or pattern (with *) granted {p.Name()}; repeatable",
            AllowMultipleArgumentsPerToken = false,
        });
        var issuer = new Option<string?>("--issuer") { Description = "iss claim (needed when atticd sets token-bound-issuer)" };
        var audience = new Option<string[]>("--audience") { Description = "aud value (needed when atticd sets token-bound-audiences); repeatable" };
        var secretFile = SecretFileOption();
        var reveal = new Option<bool>("--reveal") { Description = "Allow printing the token to a terminal" };
        var signedBy = new Option<string?>("--signed-by") { Description = "Sign with this credential's active version from the store (secret: HS256, rsa-key: RS256); recorded in the ledger and audit" };
        var cmd = new Command("mint", "Mint an Attic JWT like atticadm make-token, signed with atticd's key (environment or --secret-base64-file)")
        {
            sub, validity, issuer, audience, secretFile, reveal, signedBy,
        };
        foreach (var o in perms.Values) cmd.Options.Add(o);
        cmd.SetAction(async (parse, ct) =>
        {
            if (context.Console.OutIsTerminal && !parse.GetValue(reveal))
                throw ErrorCodes.RefuseTerminal.Exception("the token is a bearer secret and stdout is a terminal", "pipe it to a file or program, or pass --reveal");
            if (!HumanDuration.TryParse(parse.GetValue(validity), out var duration, out var why) || duration.Value <= TimeSpan.Zero)
                throw ErrorCodes.AtticTokenRequestInvalid.Exception($"--validity: {why ?? "must be positive"}");

            // atticadm's order: every --pull pattern, then --push, … (a repeated pattern reuses its first entry).
            var grants = new List<AtticGrant>();
            foreach (var (permission, option) in perms)
                foreach (var text in parse.GetValue(option) ?? [])
                {
                    if (!CacheNamePattern.TryParse(text, out var pattern))
                        throw ErrorCodes.InvalidArgument.Exception($"--{permission.Name()} '{text}' is not a valid cache name pattern",
                            "letters, digits, '-', '_', '+' and '*', at most 50 characters, not starting with '-', '_' or '+'");
                    grants.Add(new AtticGrant(pattern, [permission]));
                }

            await using var stored = parse.GetValue(signedBy) is { } signer
                ? await StoredSigner.OpenAsync(context, parse, signer, parse.GetValue(secretFile) is not null, ct).ConfigureAwait(false) : null;
            using var key = stored is null ? await LoadKeyAsync(context, parse.GetValue(secretFile), required: true, ct).ConfigureAwait(false) : null;
            var now = context.Time.GetUtcNow();
            var request = new AtticTokenRequest(parse.GetValue(sub)!, now + duration.Value, now, grants,
                parse.GetValue(issuer), parse.GetValue(audience) is { Length: > 0 } aud ? aud : null);
            var minted = AtticTokens.Mint(request, stored?.Key ?? key!);
            foreach (var warning in AtticTokens.CheckGrantOrder(grants)) context.Warn(warning);
            using (minted.Jwt)
            {
                if (stored is not null) await stored.RecordAsync(request, minted.Jwt, ct).ConfigureAwait(false);
                await context.Console.Out.WriteLineAsync(minted.Jwt.RevealString()).ConfigureAwait(false);
            }
            return 0;
        });
        return cmd;
    }

    private static Command Inspect(CliContext context)
    {
        var token = new Argument<string>("token") { Description = "The JWT, or - to read it from stdin (safer: argv is visible to other users)" };
        var caches = new Option<string[]>("--cache") { Description = "Show what the token allows on this cache (repeatable)" };
        var secretFile = SecretFileOption();
        var boundIssuer = new Option<string?>("--bound-issuer") { Description = "Verify as a server with this token-bound-issuer" };
        var boundAudience = new Option<string[]>("--bound-audience") { Description = "Verify as a server with these token-bound-audiences" };
        var json = CliOptions.Json();
        var cmd = new Command("inspect", "Show an Attic JWT's header, claims, expiry and per-cache permissions; with a key, verify it as atticd would")
        {
            token, caches, secretFile, boundIssuer, boundAudience, json,
        };
        cmd.SetAction(async (parse, ct) =>
        {
            var arg = parse.GetValue(token)!;
            string jwt;
            if (arg == "-")
            {
                using var s = await NixCommands.ReadAllStdinAsync(context, ct).ConfigureAwait(false);
                jwt = s.RevealString().Trim();
            }
            else jwt = arg.Trim();

            var decoded = AtticTokens.Decode(jwt);
            using var key = await LoadKeyAsync(context, parse.GetValue(secretFile), required: false, ct).ConfigureAwait(false);
            KeywardException? failure = null;
            if (key is not null)
            {
                try { AtticTokens.Verify(jwt, key, context.Time, parse.GetValue(boundIssuer), parse.GetValue(boundAudience) is { Length: > 0 } a ? a : null); }
                catch (KeywardException e) { failure = e; }
            }
            var now = context.Time.GetUtcNow();
            var names = parse.GetValue(caches) ?? [];
            var verification = key is null ? "not checked (no key: pass --secret-base64-file or set ATTIC_SERVER_TOKEN_*_BASE64)"
                : failure is null ? $"verified ({key.Algorithm} signature and time claims, zero skew)"
                : $"FAILED: {failure.First.Message}";
            if (parse.GetValue(json)) await WriteInspectJsonAsync(context, decoded, names, now, key is null ? null : failure is null, failure).ConfigureAwait(false);
            else await WriteInspectTextAsync(context, decoded, names, now, verification).ConfigureAwait(false);
            if (failure is not null) throw failure;
            return 0;
        });
        return cmd;
    }

    private static async Task WriteInspectTextAsync(CliContext context, DecodedAtticToken t, string[] caches, DateTimeOffset now, string verification)
    {
        var sb = new StringBuilder();
        sb.Append("header:      ").AppendLine(t.HeaderJson);
        sb.Append("subject:     ").AppendLine(t.Subject ?? "-");
        if (t.Issuer is not null) sb.Append("issuer:      ").AppendLine(t.Issuer);
        if (t.Audiences.Count > 0) sb.Append("audiences:   ").AppendLine(string.Join(", ", t.Audiences));
        if (t.IssuedAtSeconds is { } iat) sb.Append("issued:      ").AppendLine(When(iat, now));
        sb.Append("not before:  ").AppendLine(t.NotBeforeSeconds is { } nbf ? When(nbf, now) : "-");
        sb.Append("expires:     ").AppendLine(t.ExpiresAtSeconds is { } exp
            ? When(exp, now) + (exp < now.ToUnixTimeSeconds() ? "  EXPIRED" : "")
            : "never (no exp claim)");
        sb.AppendLine("grants (an exact cache name wins, else the first matching pattern; never merged):");
        if (t.Grants.Count == 0) sb.AppendLine("  (none)");
        var width = Math.Max(8, t.Grants.Select(g => g.Pattern.Text.Length).DefaultIfEmpty(0).Max());
        foreach (var g in t.Grants)
            sb.Append("  ").Append(g.Pattern.Text.PadRight(width)).Append("  ").AppendLine(Names(g.Permissions));
        if (caches.Length > 0)
        {
            sb.AppendLine("caches:");
            var cw = Math.Max(8, caches.Max(c => c.Length));
            foreach (var c in caches)
            {
                var access = t.PermissionsFor(c);
                var why = access.MatchedBy is null ? "no entry matches" : access.ExactMatch ? "exact entry" : $"pattern '{access.MatchedBy}'";
                sb.Append("  ").Append(c.PadRight(cw)).Append("  ").Append(Names(access.Permissions)).Append("  (").Append(why).AppendLine(")");
            }
        }
        foreach (var w in AtticTokens.CheckGrantOrder(t.Grants)) sb.Append("note: ").AppendLine(w.Message);
        sb.Append("signature:   ").AppendLine(verification);
        await context.Console.Out.WriteAsync(sb.ToString()).ConfigureAwait(false);
    }

    private static string When(long unix, DateTimeOffset now) =>
        $"{AtticTokensTime(unix)} ({HumanDuration.InWords(TimeSpan.FromSeconds(unix - now.ToUnixTimeSeconds()))})";

    private static string AtticTokensTime(long unix) =>
        DateTimeOffset.FromUnixTimeSeconds(unix).ToString("yyyy-MM-dd HH:mm:ss 'UTC'", CultureInfo.InvariantCulture);

    private static string Names(IEnumerable<AtticPermission> ps)
    {
        var s = string.Join(", ", ps.Select(p => p.Name()));
        return s.Length == 0 ? "nothing" : s;
    }

    private static async Task WriteInspectJsonAsync(CliContext context, DecodedAtticToken t, string[] caches, DateTimeOffset now, bool? verified, KeywardException? failure)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            w.WriteStartObject("header");
            w.WriteString("alg", t.Header.Algorithm);
            if (t.Header.Type is null) w.WriteNull("typ"); else w.WriteString("typ", t.Header.Type);
            w.WriteEndObject();
            WriteOptional(w, "subject", t.Subject);
            WriteOptional(w, "issuer", t.Issuer);
            w.WriteStartArray("audiences");
            foreach (var a in t.Audiences) w.WriteStringValue(a);
            w.WriteEndArray();
            WriteTime(w, "issuedAt", t.IssuedAtSeconds);
            WriteTime(w, "notBefore", t.NotBeforeSeconds);
            WriteTime(w, "expiresAt", t.ExpiresAtSeconds);
            if (t.ExpiresAtSeconds is { } exp)
            {
                w.WriteString("expiresIn", HumanDuration.InWords(TimeSpan.FromSeconds(exp - now.ToUnixTimeSeconds())));
                w.WriteBoolean("expired", exp < now.ToUnixTimeSeconds());
            }
            else w.WriteBoolean("expired", false);
            w.WriteStartArray("grants");
            foreach (var g in t.Grants)
            {
                w.WriteStartObject();
                w.WriteString("pattern", g.Pattern.Text);
                WritePermissions(w, g.Permissions);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartObject("caches");
            foreach (var c in caches)
            {
                var access = t.PermissionsFor(c);
                w.WriteStartObject(c);
                WriteOptional(w, "matchedBy", access.MatchedBy?.Text);
                w.WriteBoolean("exact", access.ExactMatch);
                WritePermissions(w, access.Permissions);
                w.WriteEndObject();
            }
            w.WriteEndObject();
            w.WriteStartArray("warnings");
            foreach (var warning in AtticTokens.CheckGrantOrder(t.Grants)) w.WriteStringValue(warning.Message);
            w.WriteEndArray();
            if (verified is null) w.WriteNull("verified"); else w.WriteBoolean("verified", verified.Value);
            if (failure is not null)
            {
                w.WriteStartObject("error");
                w.WriteString("code", failure.First.Code.Code);
                w.WriteString("message", failure.First.Message);
                w.WriteEndObject();
            }
            w.WriteEndObject();
        }
        await context.Console.Out.WriteLineAsync(Encoding.UTF8.GetString(buffer.ToArray())).ConfigureAwait(false);
    }

    private static void WriteOptional(Utf8JsonWriter w, string name, string? value)
    {
        if (value is null) w.WriteNull(name); else w.WriteString(name, value);
    }

    private static void WriteTime(Utf8JsonWriter w, string name, long? unix)
    {
        if (unix is null) w.WriteNull(name);
        else w.WriteString(name, DateTimeOffset.FromUnixTimeSeconds(unix.Value).ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture));
    }

    private static void WritePermissions(Utf8JsonWriter w, IEnumerable<AtticPermission> ps)
    {
        w.WriteStartArray("permissions");
        foreach (var p in ps) w.WriteStringValue(p.Name());
        w.WriteEndArray();
    }

    private static Command Recognize(CliContext context)
    {
        var provider = new Option<string?>("--provider") { Description = "The declared provider (github, gitlab, gitea, coder, onepassword, s3, generic): warn when the token disagrees" };
        var json = CliOptions.Json();
        var cmd = new Command("recognize", "Read a token on stdin and tell its type, provider and checksum validity (never prints the token)") { provider, json };
        cmd.SetAction(async (parse, ct) =>
        {
            using var token = await NixCommands.ReadAllStdinAsync(context, ct).ConfigureAwait(false);
            var r = TokenRecognizer.Recognize(token);
            IReadOnlyList<KeywardError> warnings = [];
            if (parse.GetValue(provider) is { } declared)
            {
                if (!ExternalProviders.TryParse(declared, out var p))
                    throw ErrorCodes.InvalidArgument.Exception($"--provider '{declared}' is not one of github, gitlab, gitea, coder, onepassword, s3, generic");
                warnings = TokenRecognizer.CheckDeclared(r, p);
            }
            var checksum = r.ChecksumValid switch { true => "valid", false => "INVALID", null => "none" };
            if (parse.GetValue(json))
            {
                using var buffer = new MemoryStream();
                using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
                {
                    w.WriteStartObject();
                    w.WriteString("type", r.Type.ToString());
                    WriteOptional(w, "provider", r.Provider?.Name());
                    if (r.ChecksumValid is null) w.WriteNull("checksumValid"); else w.WriteBoolean("checksumValid", r.ChecksumValid.Value);
                    w.WriteString("description", r.Description);
                    w.WriteStartArray("warnings");
                    foreach (var warning in warnings)
                    {
                        w.WriteStartObject();
                        w.WriteString("code", warning.Code.Code);
                        w.WriteString("message", warning.Message);
                        w.WriteEndObject();
                    }
                    w.WriteEndArray();
                    w.WriteEndObject();
                }
                await context.Console.Out.WriteLineAsync(Encoding.UTF8.GetString(buffer.ToArray())).ConfigureAwait(false);
            }
            else
            {
                var o = context.Console.Out;
                await o.WriteLineAsync($"type:      {r.Type}").ConfigureAwait(false);
                await o.WriteLineAsync($"provider:  {r.Provider?.Name() ?? "-"}").ConfigureAwait(false);
                await o.WriteLineAsync($"checksum:  {checksum}").ConfigureAwait(false);
                await o.WriteLineAsync($"about:     {r.Description}").ConfigureAwait(false);
            }
            foreach (var warning in warnings) context.Warn(warning);
            return 0;
        });
        return cmd;
    }

    /// <summary>--secret-base64-file, else atticd's environment variables; null when neither is given and not required.</summary>
    private static Task<AtticSigningKey?> LoadKeyAsync(CliContext context, string? file, bool required, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        return Task.FromResult(LoadKey(context, file, required));
    }

    private static AtticSigningKey? LoadKey(CliContext context, string? file, bool required)
    {
        if (file is not null)
        {
            using var value = Secret.Adopt(InputFiles.ReadBytes(context.Console.ResolvePath(file))); // regular file, at most 1 MiB (KW0010/KW0011)
            return AtticSigningKey.FromBase64ValueDetect(value);
        }
        string[] vars = [AtticSigningKey.Rs256PubkeyVariable, AtticSigningKey.Rs256SecretVariable, AtticSigningKey.Hs256SecretVariable];
        if (!required && vars.All(v => string.IsNullOrEmpty(context.Console.GetEnv(v)))) return null;
        return AtticSigningKey.FromEnvironment(context.Console.GetEnv);
    }
}
