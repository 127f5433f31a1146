using System.Text.RegularExpressions;
using Keyward.Core.Errors;
using Keyward.Core.Manifest.Schema;
using Keyward.Core.Manifest.Yaml;

namespace Keyward.Core.Manifest.Loading;

internal sealed partial class ManifestReader
{
    // Keyed by reference: Sink is a record, and its value hash walks every list it holds.
    private readonly Dictionary<Sink, SourceLocation> _sinkPathAt = new(ReferenceEqualityComparer.Instance);

    private Sink? ReadSink(YScalar key, YNode value)
    {
        var name = key.Value;
        var what = $"sink '{FieldMap.Clip(name)}'";
        if (AsMapping(value, what) is not { } map) return null;
        var disc = Discriminator(map, ManifestFields.Sink);
        var fm = new FieldMap(map, ManifestFields.Sink, what, key.Location, problems, disc);
        var formatText = fm.String("format");
        if (formatText is null || !SinkFormats.TryParse(formatText, out var format)) return null;

        var path = fm.String("path");
        if (path is not null && !IsNormalAbsolute(path, fm.At("path"), $"path of {what}")) path = null;
        if (path is not null && !IsFilePath(path, fm.At("path"), $"path of {what}")) path = null;
        var persist = fm.String("persist");
        if (persist is not null && !IsNormalAbsolute(persist, fm.At("persist"), $"persistence root of {what}")) persist = null;
        if (persist == "/")
        {
            problems.Fail(ErrorCodes.ManifestInvalidPath, fm.At("persist"), $"persistence root of {what} is '/': the file and its link would be the same path");
            persist = null;
        }
        var mode = fm.Mode("mode") ?? (format == SinkFormat.NixConf ? 0b110_100_100 : 0b110_000_000);
        var directoryMode = fm.Mode("directoryMode") ?? 0b111_101_101;
        var hooks = Hooks(fm);

        var entries = new List<SinkEntry>();
        var entryKeys = new Dictionary<string, SourceLocation>(StringComparer.Ordinal);
        void Add(SinkEntry e, SourceLocation at)
        {
            if (format != SinkFormat.Raw && !entryKeys.TryAdd(e.Key, at))
            {
                problems.Fail(ErrorCodes.ManifestDuplicateEntry, at, $"{what} has two entries for '{FieldMap.Clip(e.Key)}' (the first at {entryKeys[e.Key].Line}:{entryKeys[e.Key].Column})");
                return;
            }
            entries.Add(e);
        }

        if (format == SinkFormat.Raw)
        {
            if (fm.String("credential") is { } credName)
            {
                var entry = WithCredentialEncoding(new SinkEntry("", credName, ParseEncoding(fm.String("encoding")), fm.Bool("public") == true ? EntryValue.PublicKey : EntryValue.Value,
                    null, null, null, fm.KeyAt("credential")), fm.Has("encoding"));
                if (CheckEntryCredential(entry, fm.At("credential"), format, what)) Add(entry, fm.At("credential"));
            }
            else if (!fm.Has("credential"))
                problems.Fail(ErrorCodes.ManifestSinkWithoutContent, key.Location, $"{what} (raw) needs 'credential:' naming what to write");
        }

        if (fm.Mapping("entries") is { } entriesNode)
        {
            foreach (var pair in entriesNode.Pairs)
                if (ReadEntry(pair, format, what) is { } entry) Add(entry, pair.Key.Location);
        }

        foreach (var t in fm.ScalarList("tokens") ?? [])
        {
            if (Resolve(t.Value, t.Location, $"tokens of {what}") is not { } cred) continue;
            if (cred is not ExternalCredential { Host: { } host } ext)
            {
                problems.Fail(ErrorCodes.ManifestNoHost, t.Location,
                    cred is ExternalCredential
                        ? $"'{cred.Name}' in tokens of {what} has no host to key the {format.Name()} entry with"
                        : $"'{cred.Name}' in tokens of {what} is {Article(cred.Kind)}; tokens: takes external credentials with a host");
                continue;
            }
            Add(new SinkEntry(host, cred.Name, ValueEncoding.Raw, EntryValue.Value, ext.Username, null, null, t.Location), t.Location);
        }

        NixConfOptions? nixConf = format == SinkFormat.NixConf ? ReadNixConf(fm) : null;
        KubernetesSecretOptions? kube = format == SinkFormat.KubernetesSecret ? ReadKubernetes(fm, name) : null;
        AtticConfigOptions? attic = null;
        if (format == SinkFormat.AtticConfig)
        {
            var defaultServer = fm.String("defaultServer");
            if (defaultServer is not null && !entryKeys.ContainsKey(defaultServer))
                problems.Fail(ErrorCodes.ManifestUnknownServer, fm.At("defaultServer"),
                    $"defaultServer '{FieldMap.Clip(defaultServer)}' of {what} is none of its servers ({string.Join(", ", entryKeys.Keys)})");
            attic = new AtticConfigOptions(defaultServer);
        }

        var hasContent = entries.Count > 0 || fm.Has("entries") || fm.Has("tokens") || fm.Has("credential")
            || fm.Has("substituters") || fm.Has("trustedPublicKeys") || fm.Has("netrcFile") || fm.Has("include");
        if (!hasContent && format != SinkFormat.Raw)
            problems.Fail(ErrorCodes.ManifestSinkWithoutContent, key.Location, $"{what} has nothing to write",
                format == SinkFormat.NixConf ? "give it substituters, trustedPublicKeys, netrcFile or include" : null);

        var sink = new Sink(name, path ?? "", format, fm.String("owner"), fm.String("group"), mode, directoryMode, persist,
            entries, hooks, nixConf, kube, attic, key.Location) { Hosts = SinkHosts(fm, what) };
        if (sink.Hosts.Count > 0 && kube is { Live: true })
            problems.Fail(ErrorCodes.HostSinkNotDeliverable, fm.At("live"), $"{what} is delivered to {string.Join(", ", sink.Hosts)} but sets live: true; an agent writes files only, the authority applies live Secrets");

        // A sink that delivers secret values gives other users nothing (read, write or execute: a world-writable
        // atticd.env would let anyone set the JWT signing secret), nor sits in the world-readable Nix store.
        var carriesSecrets = format.CarriesSecrets() && entries.Any(e => e.Take == EntryValue.Value && e.TokenFile is null);
        if (carriesSecrets && (mode & 0b111) != 0)
            problems.Fail(ErrorCodes.ManifestWorldReadable, fm.Has("mode") ? fm.At("mode") : key.Location,
                $"{what} delivers secret values but mode {Octal(mode)} {OtherAccess(mode)}");
        // No sink file or directory is world-writable, secret or not: a writable nix.conf fragment lets anyone add a
        // substituter and trust its key; a writable directory lets anyone replace the file.
        else if ((mode & 0b010) != 0)
            problems.Fail(ErrorCodes.ManifestWorldWritable, fm.Has("mode") ? fm.At("mode") : key.Location,
                $"{what} has mode {Octal(mode)}: every user could rewrite it");
        if ((directoryMode & 0b010) != 0)
            problems.Fail(ErrorCodes.ManifestWorldWritable, fm.Has("directoryMode") ? fm.At("directoryMode") : key.Location,
                $"{what} has directoryMode {Octal(directoryMode)}: every user could replace the files in the directories Keyward creates");
        if (carriesSecrets && path is not null && (InNixStore(path) || (persist is not null && InNixStore(sink.StoragePath))))
            problems.Fail(ErrorCodes.ManifestInNixStore, fm.At(InNixStore(path) ? "path" : "persist"),
                $"{what} delivers secret values into the Nix store ({FieldMap.Clip(InNixStore(path) ? path : sink.StoragePath)}), which every user can read");

        if (path is not null) _sinkPathAt[sink] = fm.At("path");
        return sink;
    }

    private static string Octal(int mode) => Convert.ToString(mode, 8).PadLeft(4, '0');

    private static string OtherAccess(int mode) => (mode & 0b111) switch
    {
        0b100 => "lets every user read it",
        0b010 => "lets every user rewrite it",
        0b001 => "gives every user the execute bit",
        _ => $"gives every user access ({((mode & 0b100) != 0 ? "r" : "-")}{((mode & 0b010) != 0 ? "w" : "-")}{((mode & 0b001) != 0 ? "x" : "-")})",
    };

    private static bool InNixStore(string path) => path == "/nix/store" || path.StartsWith("/nix/store/", StringComparison.Ordinal);

    private SinkEntry? ReadEntry(YPair pair, SinkFormat format, string what)
    {
        var key = pair.Key.Value;
        var at = pair.Key.Location;
        CheckEntryKey(key, at, format, what);
        SinkEntry entry;
        SourceLocation credAt;
        if (pair.Value is YScalar { IsNull: false } shorthand)
        {
            if (format == SinkFormat.AtticConfig)
            {
                problems.Fail(ErrorCodes.ManifestMissingField, shorthand.Location, $"server '{FieldMap.Clip(key)}' of {what} needs an endpoint",
                    $"write it as {FieldMap.Clip(key)}: {{ credential: {FieldMap.Clip(shorthand.Value)}, endpoint: https://… }}");
                return null;
            }
            entry = WithCredentialEncoding(new SinkEntry(key, shorthand.Value, ValueEncoding.Raw, EntryValue.Value, null, null, null, at), given: false);
            credAt = shorthand.Location;
        }
        else if (pair.Value is YMapping m)
        {
            var efm = new FieldMap(m, ManifestFields.Entry, $"entry '{FieldMap.Clip(key)}' of {what}", at, problems, format.Name());
            if (format == SinkFormat.Env)
            {
                // credential: or value:, exactly one (KW0117).
                switch (efm.ExactlyOne())
                {
                    case < 0: return null;
                    case 1: return ReadLiteral(key, at, efm);
                }
            }
            else if (m.Find("value") is not null) return null; // KW0109 from the field map: literals are env-only
            else if (!efm.Has("credential"))
            {
                problems.Fail(ErrorCodes.ManifestMissingField, at, $"{efm.What} needs 'credential'", $"add 'credential:' — {ManifestFields.Entry["credential"].Description}");
                return null;
            }
            var credential = efm.String("credential");
            var endpoint = efm.Url("endpoint");
            if (format == SinkFormat.AtticConfig && !efm.Has("endpoint"))
                problems.Fail(ErrorCodes.ManifestMissingField, at, $"server '{FieldMap.Clip(key)}' of {what} needs 'endpoint:' (the server's API URL)");
            var encoding = ParseEncoding(efm.String("encoding"));
            var take = efm.Bool("public") == true ? EntryValue.PublicKey : EntryValue.Value;
            var username = efm.String("username");
            var tokenFile = efm.String("tokenFile");
            if (tokenFile is not null && !IsNormalAbsolute(tokenFile, efm.At("tokenFile"), $"tokenFile of {efm.What}")) tokenFile = null;
            if (credential is null) return null;
            entry = WithCredentialEncoding(new SinkEntry(key, credential, encoding, take, username, endpoint?.ToString(), tokenFile, at), efm.Has("encoding"));
            credAt = efm.At("credential");
        }
        else
        {
            problems.Fail(ErrorCodes.ManifestWrongType, pair.Value.Location, $"entry '{FieldMap.Clip(key)}' of {what} must be a credential name or a mapping, not {FieldMap.Describe(pair.Value)}");
            return null;
        }
        if (entry.Username is null && format is SinkFormat.Netrc or SinkFormat.GitCredentials
            && _credentials.GetValueOrDefault(entry.Credential) is ExternalCredential { Username: { } u })
            entry = entry with { Username = u };
        return CheckEntryCredential(entry, credAt, format, what) ? entry : null;
    }

    /// <summary><c>KEY: { value: TEXT }</c> of an env sink: written as it is, so it must fit on the variable's one line
    /// (the renderer quotes everything else). Not a secret — a value that looks like one is warned about (KW0230).</summary>
    private SinkEntry? ReadLiteral(string key, SourceLocation at, FieldMap efm)
    {
        foreach (var field in (ReadOnlySpan<string>)["encoding", "public"])
            if (efm.Has(field))
                problems.Fail(ErrorCodes.ManifestFieldNotApplicable, efm.KeyAt(field), $"'{field}' of {efm.What} applies to a credential's value, not to a literal value",
                    "remove it: a literal value is written exactly as the manifest has it");
        if (efm.String("value") is not { } text) return null;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            string? problem = char.IsControl(c) && c != '\t' ? $"contains a control character (U+{(int)c:X4}{c switch { '\n' => ", a newline", '\r' => ", a carriage return", '\0' => ", NUL", _ => "" }})"
                : (char.IsHighSurrogate(c) && (i + 1 == text.Length || !char.IsLowSurrogate(text[i + 1]))) || (char.IsLowSurrogate(c) && (i == 0 || !char.IsHighSurrogate(text[i - 1]))) ? "is not valid Unicode text (a lone surrogate)"
                : null;
            if (problem is null) continue;
            problems.Fail(ErrorCodes.ManifestLiteralNotRepresentable, efm.At("value"), $"the value of {efm.What} {problem}, which an env file cannot carry");
            return null;
        }
        if (FieldMap.LooksLikeToken(text))
            problems.Warn(ErrorCodes.ManifestLiteralLooksSecret, efm.At("value"),
                $"the value of {efm.What} looks like a token or key; a literal value is not kept as a secret");
        return SinkEntry.OfLiteral(key, text, at);
    }

    /// <summary>An entry without its own <c>encoding</c> delivers a secret in the secret's declared text encoding
    /// (<c>kind: secret, encoding: hex</c> is written as hex unless the entry says otherwise).</summary>
    private SinkEntry WithCredentialEncoding(SinkEntry entry, bool given) =>
        !given && entry.Take == EntryValue.Value
        && _credentials.GetValueOrDefault(entry.Credential) is SecretCredential { Encoding: ValueEncoding.Base64 or ValueEncoding.Base64Url or ValueEncoding.Hex } secret
            ? entry with { Encoding = secret.Encoding }
            : entry;

    private void CheckEntryKey(string key, SourceLocation at, SinkFormat format, string what)
    {
        switch (format)
        {
            case SinkFormat.Env when !EnvNameRegex().IsMatch(key):
                problems.Fail(ErrorCodes.ManifestInvalidEnvName, at, $"'{FieldMap.Clip(key)}' ({what}) is not a valid environment variable name");
                break;
            case SinkFormat.NixAccessTokens or SinkFormat.Netrc or SinkFormat.GitCredentials when !HostRegex().IsMatch(key):
                problems.Fail(ErrorCodes.ManifestInvalidHost, at, $"entry key '{FieldMap.Clip(key)}' of {what} must be a host name ({format.Name()} entries are keyed by host)");
                break;
            case SinkFormat.KubernetesSecret when !KubernetesDataKeyRegex().IsMatch(key) || key.Length > 253:
                problems.Fail(ErrorCodes.ManifestInvalidKubernetesName, at, $"'{FieldMap.Clip(key)}' ({what}) is not a valid Secret data key");
                break;
            case SinkFormat.AtticConfig when !AtticServerNameRegex().IsMatch(key):
                problems.Fail(ErrorCodes.ManifestInvalidName, at, $"'{FieldMap.Clip(key)}' ({what}) is not a valid Attic server name (letters, digits, '-', '_', '.')");
                break;
        }
    }

    /// <summary>The entry's credential exists, has a public half if one is asked for, and is of a kind the format can deliver.</summary>
    private bool CheckEntryCredential(SinkEntry entry, SourceLocation at, SinkFormat format, string what)
    {
        if (Resolve(entry.Credential, at, what) is not { } cred) return _declared.Contains(entry.Credential);
        if (entry.Take == EntryValue.PublicKey && cred.Kind is not (CredentialKind.NixSigningKey or CredentialKind.RsaKey))
        {
            problems.Fail(ErrorCodes.ManifestNoPublicHalf, at, $"{what} asks for the public half of '{cred.Name}', {Article(cred.Kind)}, which has none");
            return false;
        }
        CredentialKind[]? allowed = format switch
        {
            SinkFormat.NixAccessTokens or SinkFormat.GitCredentials => [CredentialKind.External],
            SinkFormat.Netrc or SinkFormat.AtticConfig => [CredentialKind.AtticToken, CredentialKind.External],
            _ => null,
        };
        if (allowed is not null && entry.Take == EntryValue.Value && !allowed.Contains(cred.Kind))
        {
            problems.Fail(ErrorCodes.ManifestKindMismatch, at,
                $"{what} ({format.Name()}) delivers tokens, but '{cred.Name}' is {Article(cred.Kind)}; use {string.Join(" or ", allowed.Select(k => k.Name()))}");
            return false;
        }
        return true;
    }

    private List<Hook> Hooks(FieldMap fm)
    {
        var hooks = new List<Hook>();
        var node = fm.Node("onChange");
        IEnumerable<YNode> items = node switch
        {
            null => [],
            YMapping m => [m],
            YSequence s => s.Items,
            _ => Wrong(node),
        };
        IEnumerable<YNode> Wrong(YNode n)
        {
            problems.Fail(ErrorCodes.ManifestWrongType, n.Location, $"onChange of {fm.What} must be a hook mapping or a list of them, not {FieldMap.Describe(n)}",
                "write onChange: { restart: unit.service }");
            return [];
        }
        foreach (var item in items)
        {
            if (AsMapping(item, $"a hook of {fm.What}") is not { } m) continue;
            var hfm = new FieldMap(m, ManifestFields.Hook, $"onChange hook of {fm.What}", item.Location, problems);
            var choice = hfm.ExactlyOne();
            var passEnv = new List<string>();
            foreach (var name in hfm.ScalarList("passEnv") ?? [])
            {
                if (EnvNameRegex().IsMatch(name.Value)) passEnv.Add(name.Value);
                else problems.Fail(ErrorCodes.ManifestInvalidEnvName, name.Location, $"'{FieldMap.Clip(name.Value)}' (passEnv of {hfm.What}) is not a valid environment variable name");
            }
            var before = hooks.Count;
            switch (choice)
            {
                case 0 or 1:
                    var field = choice == 0 ? "restart" : "reload";
                    var unit = hfm.String(field);
                    if (unit is null) break;
                    if (!UnitRegex().IsMatch(unit))
                    {
                        problems.Fail(ErrorCodes.ManifestInvalidHook, hfm.At(field), $"'{FieldMap.Clip(unit)}' ({hfm.What}) is not a systemd unit name");
                        break;
                    }
                    hooks.Add(choice == 0 ? new RestartUnitHook(unit, hfm.KeyAt(field)) : new ReloadUnitHook(unit, hfm.KeyAt(field)));
                    break;
                case 2:
                    var argv = hfm.ScalarList("command");
                    if (argv is null) break;
                    if (argv.Count == 0)
                    {
                        problems.Fail(ErrorCodes.ManifestInvalidHook, hfm.At("command"), $"command of {hfm.What} is empty");
                        break;
                    }
                    hooks.Add(new CommandHook([.. argv.Select(a => a.Value)], hfm.KeyAt("command")));
                    break;
            }
            if (hooks.Count > before) hooks[^1] = hooks[^1] with { PassEnv = passEnv };
        }
        return hooks;
    }

    private NixConfOptions ReadNixConf(FieldMap fm)
    {
        var substituters = new List<string>();
        foreach (var s in fm.ScalarList("substituters") ?? [])
        {
            if (!s.Value.Any(c => char.IsWhiteSpace(c) || c == '#') && Uri.TryCreate(s.Value, UriKind.Absolute, out var u)
                && u.Scheme is "http" or "https" or "file" or "s3" or "ssh" or "ssh-ng" or "daemon" or "local")
                substituters.Add(s.Value);
            else problems.Fail(ErrorCodes.ManifestInvalidUrl, s.Location, $"substituter '{FieldMap.Clip(s.Value)}' of {fm.What} is not a store URL");
        }
        var keys = new List<string>();
        foreach (var s in fm.ScalarList("trustedPublicKeys") ?? [])
        {
            var text = s.Value.Trim();
            var colon = text.IndexOf(':', StringComparison.Ordinal);
            if (colon < 0)
            {
                if (Resolve(text, s.Location, $"trustedPublicKeys of {fm.What}") is { } cred && cred.Kind != CredentialKind.NixSigningKey)
                    problems.Fail(ErrorCodes.ManifestKindMismatch, s.Location, $"trustedPublicKeys of {fm.What} names '{cred.Name}', {Article(cred.Kind)}; name a nix-signing-key");
                else keys.Add(text);
                continue;
            }
            if (colon == 0 || text[..colon].Any(char.IsWhiteSpace) || !IsBase64Of(text[(colon + 1)..], 32))
                problems.Fail(ErrorCodes.ManifestInvalidPublicKey, s.Location, $"'{FieldMap.Clip(text)}' in trustedPublicKeys of {fm.What} is not a Nix public key (name:base64 of 32 bytes)");
            else keys.Add(text);
        }
        var netrc = fm.String("netrcFile");
        if (netrc is not null && !IsNormalAbsolute(netrc, fm.At("netrcFile"), $"netrcFile of {fm.What}")) netrc = null;
        var includes = new List<string>();
        foreach (var s in fm.ScalarList("include") ?? [])
            if (IsNormalAbsolute(s.Value, s.Location, $"include of {fm.What}")) includes.Add(s.Value);
        return new NixConfOptions(substituters, keys, netrc, includes);
    }

    private static bool IsBase64Of(string text, int length)
    {
        Span<byte> buffer = stackalloc byte[64];
        return Convert.TryFromBase64String(text, buffer, out var n) && n == length;
    }

    private KubernetesSecretOptions ReadKubernetes(FieldMap fm, string sinkName)
    {
        var name = fm.String("name") ?? sinkName;
        if (name.Length > 253 || !DnsSubdomainRegex().IsMatch(name))
            problems.Fail(ErrorCodes.ManifestInvalidKubernetesName, fm.At("name"), $"'{FieldMap.Clip(name)}' ({fm.What}) is not a valid Secret name (a lowercase DNS subdomain)");
        var ns = fm.String("namespace") ?? "default";
        if (ns.Length > 63 || !DnsLabelRegex().IsMatch(ns))
            problems.Fail(ErrorCodes.ManifestInvalidKubernetesName, fm.At("namespace"), $"'{FieldMap.Clip(ns)}' ({fm.What}) is not a valid namespace (a lowercase DNS label)");
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        if (fm.Mapping("labels") is { } lm)
        {
            foreach (var pair in lm.Pairs)
            {
                if (!IsLabelKey(pair.Key.Value))
                    problems.Fail(ErrorCodes.ManifestInvalidKubernetesName, pair.Key.Location, $"'{FieldMap.Clip(pair.Key.Value)}' ({fm.What}) is not a valid label key");
                if (pair.Value is not YScalar v)
                {
                    problems.Fail(ErrorCodes.ManifestWrongType, pair.Value.Location, $"label values of {fm.What} are text, not {FieldMap.Describe(pair.Value)}");
                    continue;
                }
                var value = v.IsNull ? "" : v.Value;
                if (value.Length > 63 || (value.Length > 0 && !LabelNameRegex().IsMatch(value)))
                    problems.Fail(ErrorCodes.ManifestInvalidKubernetesName, v.Location, $"'{FieldMap.Clip(value)}' ({fm.What}) is not a valid label value");
                labels[pair.Key.Value] = value;
            }
        }
        return new KubernetesSecretOptions(name, ns, fm.String("type") ?? "Opaque", labels, fm.Bool("live") ?? false);
    }

    private static bool IsLabelKey(string key)
    {
        var slash = key.LastIndexOf('/');
        var prefix = slash >= 0 ? key[..slash] : null;
        var name = slash >= 0 ? key[(slash + 1)..] : key;
        return (prefix is null || (prefix.Length <= 253 && DnsSubdomainRegex().IsMatch(prefix)))
            && name.Length is > 0 and <= 63 && LabelNameRegex().IsMatch(name);
    }

    /// <summary>Absolute and normalised: starts with '/', no empty, '.' or '..' segments, no trailing '/'.</summary>
    private bool IsNormalAbsolute(string path, SourceLocation at, string what)
    {
        string? problem = !path.StartsWith('/') ? "is not absolute"
            : path.Contains('\0', StringComparison.Ordinal) ? "contains a NUL character"
            : path != "/" && path.Split('/').Skip(1).Any(seg => seg is "" or "." or "..") ? "is not normalised (empty, '.' or '..' segment, or a trailing '/')"
            // Linux limits: NAME_MAX 255 bytes per component, PATH_MAX 4096 bytes with the terminating NUL.
            : path.Split('/').Any(seg => System.Text.Encoding.UTF8.GetByteCount(seg) > 255) ? "has a component longer than 255 bytes (the file system's limit)"
            : System.Text.Encoding.UTF8.GetByteCount(path) > 4095 ? "is longer than 4095 bytes (the system's limit)"
            : null;
        if (problem is null) return true;
        problems.Fail(ErrorCodes.ManifestInvalidPath, at, $"{what} '{FieldMap.Clip(path)}' {problem}");
        return false;
    }

    /// <summary>A sink path names a file: not '/', and every component fits a Linux file name (255 bytes; the last
    /// one 230, leaving room for the writer's temporary name <c>.NAME.&lt;16 hex&gt;.kw-tmp</c> beside it).</summary>
    private bool IsFilePath(string path, SourceLocation at, string what)
    {
        const int NameMax = 255, FileNameMax = NameMax - 25;
        var parts = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        string? problem = parts.Length == 0 ? "is the root directory, not a file"
            : parts.SkipLast(1).FirstOrDefault(p => System.Text.Encoding.UTF8.GetByteCount(p) > NameMax) is { } d ? $"has a directory name of {System.Text.Encoding.UTF8.GetByteCount(d)} bytes (at most {NameMax})"
            : System.Text.Encoding.UTF8.GetByteCount(parts[^1]) > FileNameMax ? $"has a file name of {System.Text.Encoding.UTF8.GetByteCount(parts[^1])} bytes (at most {FileNameMax}, leaving room for the temporary name beside it)"
            : System.Text.Encoding.UTF8.GetByteCount(path) > 4095 ? "is longer than 4095 bytes (PATH_MAX)"
            : null;
        if (problem is null) return true;
        problems.Fail(ErrorCodes.ManifestInvalidPath, at, $"{what} '{FieldMap.Clip(path)}' {problem}");
        return false;
    }

    /// <summary>No two sinks write one file (runtime paths and storage paths under persistence roots alike), and no
    /// sink's file is a directory another sink needs.</summary>
    private void CheckPaths(List<Sink> sinks)
    {
        var owners = new Dictionary<string, Sink>(StringComparer.Ordinal);
        foreach (var sink in sinks)
        {
            if (!_sinkPathAt.TryGetValue(sink, out var at)) continue;
            IEnumerable<string> paths = sink.PersistRoot is null ? [sink.Path] : [sink.Path, sink.StoragePath];
            foreach (var p in paths)
            {
                if (owners.TryGetValue(p, out var other) && other != sink)
                    problems.Fail(ErrorCodes.ManifestDuplicatePath, at, $"sink '{sink.Name}' writes {FieldMap.Clip(p)}, which sink '{other.Name}' already writes");
                else owners.TryAdd(p, sink);
            }
        }
        foreach (var (path, sink) in owners)
        {
            for (var parent = Parent(path); parent is not null; parent = Parent(parent))
            {
                if (!owners.TryGetValue(parent, out var other) || other == sink) continue;
                problems.Fail(ErrorCodes.ManifestDuplicatePath, _sinkPathAt[sink],
                    $"sink '{sink.Name}' writes {FieldMap.Clip(path)} inside {FieldMap.Clip(parent)}, which sink '{other.Name}' writes as a file");
                break;
            }
        }
    }

    private static string? Parent(string path)
    {
        var i = path.LastIndexOf('/');
        return i <= 0 ? null : path[..i];
    }

    // ---------------------------------------------------------------- services

    private Service? ReadService(YScalar key, YNode value)
    {
        var name = key.Value;
        var what = $"service '{FieldMap.Clip(name)}'";
        if (AsMapping(value, what) is not { } map) return null;
        var disc = Discriminator(map, ManifestFields.Service);
        var fm = new FieldMap(map, ManifestFields.Service, what, key.Location, problems, disc);
        var kindText = fm.String("kind");
        if (kindText is null) return null;
        var kind = kindText switch
        {
            "attic" => ServiceKind.Attic,
            "coder" => ServiceKind.Coder,
            "gitea" => ServiceKind.Gitea,
            "github" => ServiceKind.GitHub,
            _ => ServiceKind.GitLab,
        };
        var url = fm.Url("url");
        var token = fm.String("token");
        if (token is not null && Resolve(token, fm.At("token"), $"token of {what}") is { } tc)
        {
            CredentialKind[] allowed = kind == ServiceKind.Attic ? [CredentialKind.AtticToken, CredentialKind.External] : [CredentialKind.External, CredentialKind.Secret];
            if (!allowed.Contains(tc.Kind))
                problems.Fail(ErrorCodes.ManifestKindMismatch, fm.At("token"), $"token of {what} is '{tc.Name}', {Article(tc.Kind)}; use {string.Join(" or ", allowed.Select(k => k.Name()))}");
        }
        var adminPassword = fm.String("adminPassword");
        if (adminPassword is not null && Resolve(adminPassword, fm.At("adminPassword"), $"adminPassword of {what}") is { } pc
            && pc.Kind is not (CredentialKind.Secret or CredentialKind.External))
            problems.Fail(ErrorCodes.ManifestKindMismatch, fm.At("adminPassword"), $"adminPassword of {what} is '{pc.Name}', {Article(pc.Kind)}; use a secret or an external credential");

        var caches = new List<AtticCacheSpec>();
        if (fm.Mapping("caches") is { } cm)
        {
            foreach (var pair in cm.Pairs)
            {
                var cacheName = pair.Key.Value;
                if (!Attic.CacheName.IsValid(cacheName))
                    problems.Fail(ErrorCodes.ManifestInvalidCacheName, pair.Key.Location, $"'{FieldMap.Clip(cacheName)}' of {what} is not a valid Attic cache name");
                if (AsMapping(pair.Value, $"cache '{FieldMap.Clip(cacheName)}' of {what}") is not { } c) continue;
                var cfm = new FieldMap(c, ManifestFields.Cache, $"cache '{FieldMap.Clip(cacheName)}' of {what}", pair.Key.Location, problems);
                var storeDir = cfm.String("storeDir") ?? "/nix/store";
                if (cfm.Has("storeDir")) IsNormalAbsolute(storeDir, cfm.At("storeDir"), $"storeDir of {cfm.What}");
                var signingKey = cfm.String("signingKey");
                if (signingKey is not null && Resolve(signingKey, cfm.At("signingKey"), $"signingKey of {cfm.What}") is { } sk && sk.Kind != CredentialKind.NixSigningKey)
                    problems.Fail(ErrorCodes.ManifestKindMismatch, cfm.At("signingKey"), $"signingKey of {cfm.What} is '{sk.Name}', {Article(sk.Kind)}; name a nix-signing-key");
                caches.Add(new AtticCacheSpec(cacheName, cfm.Bool("public") ?? false, storeDir, (int)(cfm.Integer("priority") ?? 41),
                    cfm.ScalarList("upstreamCacheKeyNames")?.Select(s => s.Value).ToList() ?? [], signingKey, cfm.Duration("retentionPeriod"), pair.Key.Location));
            }
        }
        return new Service(name, kind, url ?? new Uri("https://invalid.invalid/"), token, caches, fm.String("adminUser"), adminPassword,
            fm.ScalarList("scopes")?.Select(s => s.Value).ToList() ?? [], key.Location);
    }

    [GeneratedRegex("^[-._a-zA-Z0-9]+$", RegexOptions.CultureInvariant)]
    private static partial Regex KubernetesDataKeyRegex();

    [GeneratedRegex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$", RegexOptions.CultureInvariant)]
    private static partial Regex DnsSubdomainRegex();

    [GeneratedRegex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", RegexOptions.CultureInvariant)]
    private static partial Regex DnsLabelRegex();

    [GeneratedRegex("^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$", RegexOptions.CultureInvariant)]
    private static partial Regex LabelNameRegex();

    [GeneratedRegex("^[A-Za-z0-9_.-]+$", RegexOptions.CultureInvariant)]
    private static partial Regex AtticServerNameRegex();

    [GeneratedRegex(@"^[A-Za-z0-9:_.\\@-]{1,255}$", RegexOptions.CultureInvariant)]
    private static partial Regex UnitRegex();
}
