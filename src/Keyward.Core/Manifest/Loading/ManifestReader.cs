using System.Text.RegularExpressions;
using Keyward.Core.Attic;
using Keyward.Core.Errors;
using Keyward.Core.Manifest.Schema;
using Keyward.Core.Manifest.Yaml;
using Keyward.Core.Time;

namespace Keyward.Core.Manifest.Loading;

/// <summary>
/// Turns the YAML tree into the model, reporting every problem on the way. Credentials are read first (all of
/// them), so sinks and services check their references against the complete set whatever the document order.
/// Parts that fail keep placeholders so that later checks still run; with any error the model is discarded.
/// </summary>
internal sealed partial class ManifestReader(string file, Problems problems)
{
    private readonly Dictionary<string, Credential> _credentials = new(StringComparer.Ordinal);
    private readonly List<Credential> _credentialOrder = [];
    private readonly HashSet<string> _declared = new(StringComparer.Ordinal);
    private readonly Dictionary<string, SourceLocation> _signedByAt = new(StringComparer.Ordinal);
    private readonly Dictionary<CredentialKind, RotationPolicy> _kindDefaults = [];

    public KeywardManifest? Read(YNode? root)
    {
        var start = new SourceLocation(file, 1, 1);
        if (root is null or YScalar { IsNull: true })
        {
            problems.Fail(ErrorCodes.ManifestEmpty, root?.Location ?? start, "the manifest is empty");
            return null;
        }
        if (root is not YMapping top)
        {
            problems.Fail(ErrorCodes.ManifestWrongType, root.Location, $"the manifest must be a mapping (apiVersion:, credentials:, …), not {FieldMap.Describe(root)}");
            return null;
        }
        var fm = new FieldMap(top, ManifestFields.Root, "the manifest", start, problems);
        if (fm.Pair("apiVersion") is { } api)
        {
            if (api.Value is not YScalar { IsNull: false } v || v.Value != ManifestFields.ApiVersion)
                problems.Fail(ErrorCodes.ManifestApiVersion, api.Value.Location,
                    $"apiVersion '{FieldMap.Clip((api.Value as YScalar)?.Value ?? FieldMap.Describe(api.Value))}' is not supported; this Keyward reads {ManifestFields.ApiVersion}");
        }
        var recipients = Recipients(fm, "the manifest");
        if (fm.Mapping("defaults") is { } defaults) ReadDefaults(defaults, fm.KeyAt("defaults"));

        foreach (var (key, value) in Entries(fm, "credentials"))
            ReadCredential(key, value);
        CheckSignedBy();

        var hosts = ReadHosts(fm);

        var sinks = new List<Sink>();
        foreach (var (key, value) in Entries(fm, "sinks"))
            if (ReadSink(key, value) is { } sink) sinks.Add(sink);
        // Paths collide only on one machine: the authority's sinks among themselves, each host's among its own.
        CheckPaths(sinks.Where(s => s.Hosts.Count == 0).ToList());
        foreach (var h in hosts) CheckPaths(sinks.Where(s => s.Hosts.Contains(h.Name, StringComparer.Ordinal)).ToList());

        var services = new List<Service>();
        foreach (var (key, value) in Entries(fm, "services"))
            if (ReadService(key, value) is { } service) services.Add(service);
        foreach (var sink in sinks)
            if (AtticEnvRule.Evaluate(sink, services) is { Satisfied: false } runner)
                problems.Warn(ErrorCodes.ManifestAtticEnvWithoutPublicKey, runner.Location, runner.Message, runner.Hint);

        var publishers = ReadTrustedPublishers(Entries(fm, "trustedPublishers"));
        var gate = fm.Mapping("gate") is { } g ? ReadGate(g, fm.KeyAt("gate")) : AtticGateSettings.Default;

        return new KeywardManifest(file, recipients, _kindDefaults, _credentialOrder, sinks.Where(s => s.Hosts.Count == 0).ToList(), services)
        {
            Hosts = hosts,
            HostSinks = sinks.Where(s => s.Hosts.Count > 0).ToList(),
            TrustedPublishers = publishers,
            Gate = gate,
        };
    }

    /// <summary>The pairs of a name → mapping section, with names checked.</summary>
    private IEnumerable<(YScalar Key, YNode Value)> Entries(FieldMap fm, string section)
    {
        var map = fm.Mapping(section);
        if (map is null) yield break;
        foreach (var pair in map.Pairs)
        {
            if (!NameRegex().IsMatch(pair.Key.Value))
                problems.Fail(ErrorCodes.ManifestInvalidName, pair.Key.Location, $"'{FieldMap.Clip(pair.Key.Value)}' is not a valid name under {section}");
            yield return (pair.Key, pair.Value);
        }
    }

    private YMapping? AsMapping(YNode node, string what)
    {
        if (node is YMapping m) return m;
        problems.Fail(ErrorCodes.ManifestWrongType, node.Location, $"{what} must be a mapping, not {FieldMap.Describe(node)}");
        return null;
    }

    /// <summary>The discriminator's text when it is one of the allowed values (else null: conditional checks are skipped).</summary>
    private static string? Discriminator(YMapping map, ObjectSpec spec) =>
        map.Find(spec.Discriminator!)?.Value is YScalar s && spec.DiscriminatorValues.Contains(s.Value) ? s.Value : null;

    // ---------------------------------------------------------------- defaults, rotation, recipients

    private void ReadDefaults(YMapping node, SourceLocation at)
    {
        var fm = new FieldMap(node, ManifestFields.Defaults, "defaults", at, problems);
        if (fm.Mapping("rotation") is not { } rotation) return;
        var perKind = new FieldMap(rotation, ManifestFields.DefaultRotation, "defaults.rotation", fm.KeyAt("rotation"), problems);
        foreach (var kindName in ManifestFields.CredentialKinds)
        {
            if (perKind.Mapping(kindName) is not { } m || !CredentialKinds.TryParse(kindName, out var kind)) continue;
            _kindDefaults[kind] = ReadRotation(m, $"defaults.rotation.{kindName}", perKind.KeyAt(kindName), kind);
        }
    }

    private RotationPolicy ReadRotation(YMapping node, string what, SourceLocation at, CredentialKind? kind)
    {
        var fm = new FieldMap(node, ManifestFields.Rotation, what, at, problems);
        var autoContinue = fm.Bool("autoContinue");
        if (autoContinue is not null && kind is not null and not CredentialKind.NixSigningKey)
            problems.Warn(ErrorCodes.ManifestIgnoredSetting, fm.KeyAt("autoContinue"), $"autoContinue of {what} has no effect: only nix-signing-key rotations have two phases");
        var hostDeadline = fm.Duration("hostDeadline");
        if (hostDeadline is { } d && d.Value > RotationPolicy.MaxHostDeadline)
        {
            problems.Fail(ErrorCodes.HostDeadlineOutOfRange, fm.At("hostDeadline"),
                $"hostDeadline of {what} is {d.Text}; a rotation waits for hosts at most {RotationPolicy.MaxHostDeadline.TotalHours:0}h");
            hostDeadline = null;
        }
        return new RotationPolicy(fm.Duration("maxAge"), fm.Duration("renewBefore"), fm.Duration("overlap"), autoContinue, at, hostDeadline);
    }

    private List<string> Recipients(FieldMap fm, string what)
    {
        var list = new List<string>();
        foreach (var s in fm.ScalarList("recipients") ?? [])
        {
            var text = s.Value.Trim();
            if (AgeRecipientRegex().IsMatch(text) || SshRecipientRegex().IsMatch(text)) list.Add(text);
            else if (text.StartsWith("ssh-rsa ", StringComparison.Ordinal))
                problems.Fail(ErrorCodes.ManifestInvalidRecipient, s.Location, $"recipient '{FieldMap.Clip(text)}' of {what} is an ssh-rsa key, which Keyward's age does not encrypt to",
                    "use an ssh-ed25519 host key (agenix's usual choice) or an age1… recipient");
            else problems.Fail(ErrorCodes.ManifestInvalidRecipient, s.Location, $"recipient '{FieldMap.Clip(text)}' of {what} is neither an age X25519 recipient nor an SSH public key");
        }
        return list;
    }

    // ---------------------------------------------------------------- credentials

    private void ReadCredential(YScalar key, YNode value)
    {
        var name = key.Value;
        var what = $"credential '{FieldMap.Clip(name)}'";
        _declared.Add(name);
        if (AsMapping(value, what) is not { } map) return;
        var disc = Discriminator(map, ManifestFields.Credential);
        var fm = new FieldMap(map, ManifestFields.Credential, what, key.Location, problems, disc);
        var kindText = fm.String("kind");
        if (kindText is null || !CredentialKinds.TryParse(kindText, out var kind)) return;

        var owner = fm.String("owner") ?? "";
        var purpose = fm.String("purpose") ?? "";
        var rotation = fm.Mapping("rotation") is { } r ? ReadRotation(r, $"rotation of {what}", fm.KeyAt("rotation"), kind) : null;
        var recipients = Recipients(fm, what);
        var at = key.Location;

        Credential credential = kind switch
        {
            CredentialKind.Secret => new SecretCredential(name, owner, purpose, rotation, recipients, at,
                (int)(fm.Integer("bytes") ?? 32), ParseEncoding(fm.String("encoding"))),
            CredentialKind.RsaKey => new RsaKeyCredential(name, owner, purpose, rotation, recipients, at,
                (int)(fm.Integer("bits") ?? 4096), fm.String("format") == "pkcs8" ? RsaKeyFormat.Pkcs8 : RsaKeyFormat.Pkcs1),
            CredentialKind.NixSigningKey => new NixSigningKeyCredential(name, owner, purpose, rotation, recipients, at, NixKeyName(fm)),
            CredentialKind.AtticToken => ReadAtticToken(fm, name, owner, purpose, rotation, recipients, at),
            _ => ReadExternal(fm, name, owner, purpose, rotation, recipients, at),
        };
        _credentials[name] = credential;
        _credentialOrder.Add(credential);
    }

    private static ValueEncoding ParseEncoding(string? text) =>
        text is not null && ValueEncodings.TryParse(text, out var e) ? e : ValueEncoding.Raw;

    private string NixKeyName(FieldMap fm)
    {
        var keyName = fm.String("keyName");
        if (keyName is null) return "";
        if (keyName.Contains(':', StringComparison.Ordinal) || keyName.Any(char.IsWhiteSpace))
        {
            problems.Fail(ErrorCodes.ManifestInvalidNixKeyName, fm.At("keyName"), $"keyName '{FieldMap.Clip(keyName)}' of {fm.What} contains ':' or whitespace");
            return "";
        }
        return keyName;
    }

    private AtticTokenCredential ReadAtticToken(FieldMap fm, string name, string owner, string purpose, RotationPolicy? rotation, IReadOnlyList<string> recipients, SourceLocation at)
    {
        var signedBy = fm.String("signedBy") ?? "";
        if (signedBy.Length > 0) _signedByAt[name] = fm.At("signedBy");
        var subject = fm.String("subject") ?? "";
        var validity = fm.Duration("validity");
        if (validity is { Value.Ticks: <= 0 })
        {
            problems.Fail(ErrorCodes.ManifestInvalidDuration, fm.At("validity"), $"validity of {fm.What} must be longer than zero");
            validity = null;
        }
        var renewBefore = fm.Duration("renewBefore");

        // The renew-before in force: own field, else rotation.renewBefore, else the kind default.
        var kindDefault = _kindDefaults.GetValueOrDefault(CredentialKind.AtticToken);
        var (effective, effectiveAt) = renewBefore is not null ? (renewBefore, fm.At("renewBefore"))
            : rotation?.RenewBefore is not null ? (rotation.RenewBefore, rotation.Location ?? at)
            : (kindDefault?.RenewBefore, kindDefault?.Location ?? at);
        if (validity is { } v && effective is { } rb && rb.Value >= v.Value)
            problems.Fail(ErrorCodes.ManifestRenewBeforeTooLong, effectiveAt,
                $"renewBefore {rb} of {fm.What} is not shorter than its validity {v}: every token would be due for renewal as soon as it is minted");

        var grants = Grants(fm);
        var issuer = fm.String("issuer");
        var audiences = fm.ScalarList("audiences")?.Select(s => s.Value).ToList() ?? [];
        return new AtticTokenCredential(name, owner, purpose, rotation, recipients, at, signedBy, subject,
            validity ?? HumanDuration.From(TimeSpan.FromDays(30)), renewBefore, grants, issuer, audiences);
    }

    /// <summary>The <c>caches:</c> of an attic-token or a trusted publisher: patterns, permissions, shadowing warnings.</summary>
    private List<CacheGrant> Grants(FieldMap fm)
    {
        var grants = new List<CacheGrant>();
        if (fm.Mapping("caches") is { } caches)
        {
            if (caches.Pairs.Count == 0)
                problems.Fail(ErrorCodes.ManifestEmptyGrant, caches.Location, $"caches of {fm.What} is empty: the token would grant nothing");
            foreach (var pair in caches.Pairs)
            {
                var ok = CacheNamePattern.TryParse(pair.Key.Value, out var pattern);
                if (!ok)
                    problems.Fail(ErrorCodes.ManifestInvalidCachePattern, pair.Key.Location, $"'{FieldMap.Clip(pair.Key.Value)}' of {fm.What} is not a valid Attic cache name pattern");
                var permissions = Permissions(pair, fm.What);
                if (pattern is not null) grants.Add(new CacheGrant(pattern, permissions, pair.Key.Location));
            }
            for (var j = 1; j < grants.Count; j++)
            {
                if (!grants[j].Pattern.HasWildcard) continue; // an exact cache name always wins in Attic, whatever the order
                for (var i = 0; i < j; i++)
                {
                    if (!grants[i].Pattern.HasWildcard || !grants[i].Pattern.Shadows(grants[j].Pattern)) continue;
                    problems.Warn(ErrorCodes.ManifestShadowedPattern, grants[j].Location,
                        $"pattern '{grants[j].Pattern}' of {fm.What} never applies: the earlier '{grants[i].Pattern}' matches every cache it matches, and Attic uses the first match",
                        $"move '{grants[j].Pattern}' before '{grants[i].Pattern}'");
                    break;
                }
            }
        }
        return grants;
    }

    private List<AtticPermission> Permissions(YPair pair, string what)
    {
        var list = new List<AtticPermission>();
        if (pair.Value is not YSequence seq)
        {
            problems.Fail(ErrorCodes.ManifestWrongType, pair.Value.Location,
                $"permissions of '{FieldMap.Clip(pair.Key.Value)}' in {what} must be a list such as [pull, push], not {FieldMap.Describe(pair.Value)}");
            return list;
        }
        if (seq.Items.Count == 0)
            problems.Fail(ErrorCodes.ManifestEmptyGrant, seq.Location, $"pattern '{FieldMap.Clip(pair.Key.Value)}' of {what} lists no permissions");
        foreach (var item in seq.Items)
        {
            if (item is not YScalar { IsNull: false } s)
            {
                problems.Fail(ErrorCodes.ManifestWrongType, item.Location, $"permissions of {what} are names such as pull, not {FieldMap.Describe(item)}");
                continue;
            }
            if (!AtticPermissions.TryParseName(s.Value, out var p))
            {
                var suggestion = FieldMap.LooksLikeToken(s.Value) ? null : Suggest.Closest(s.Value, ManifestFields.PermissionNames);
                problems.Fail(ErrorCodes.ManifestInvalidPermission, s.Location, $"'{FieldMap.Clip(s.Value)}' is not an Attic permission ({what})",
                    suggestion is null ? null : $"did you mean '{suggestion}'?");
                continue;
            }
            if (!list.Contains(p)) list.Add(p);
        }
        return list;
    }

    private ExternalCredential ReadExternal(FieldMap fm, string name, string owner, string purpose, RotationPolicy? rotation, IReadOnlyList<string> recipients, SourceLocation at)
    {
        var providerText = fm.String("provider");
        var provider = providerText is not null && ExternalProviders.TryParse(providerText, out var p) ? p : ExternalProvider.Generic;
        var host = fm.String("host");
        if (host is not null && !HostRegex().IsMatch(host))
        {
            problems.Fail(ErrorCodes.ManifestInvalidHost, fm.At("host"), $"host '{FieldMap.Clip(host)}' of {fm.What} is not a host name");
            host = null;
        }
        var username = fm.String("username");
        var expires = fm.Date("expires");
        ExternalSource? source = null;
        if (fm.Mapping("source") is { } src)
        {
            var sfm = new FieldMap(src, ManifestFields.Source, $"source of {fm.What}", fm.KeyAt("source"), problems);
            var envName = sfm.String("env");
            if (envName is not null && !EnvNameRegex().IsMatch(envName))
            {
                problems.Fail(ErrorCodes.ManifestInvalidEnvName, sfm.At("env"), $"'{FieldMap.Clip(envName)}' ({sfm.What}) is not a valid environment variable name");
                envName = null;
            }
            var filePath = sfm.String("file");
            var jsonMap = sfm.String("jsonMap");
            var sops = sfm.String("sops");
            var key = sfm.String("key");
            var loc = fm.KeyAt("source");
            source = sfm.ExactlyOne() switch
            {
                0 when filePath is not null => new FileSource(filePath, loc),
                1 when envName is not null => new EnvSource(envName, loc),
                2 when jsonMap is not null && key is not null => new JsonMapSource(jsonMap, key, loc),
                3 when sops is not null && key is not null => new SopsSource(sops, key, loc),
                _ => null,
            };
        }
        return new ExternalCredential(name, owner, purpose, rotation, recipients, at, provider, host, username, source, expires);
    }

    private void CheckSignedBy()
    {
        foreach (var token in _credentialOrder.OfType<AtticTokenCredential>())
        {
            if (!_signedByAt.TryGetValue(token.Name, out var at)) continue;
            if (Resolve(token.SignedBy, at, $"signedBy of credential '{token.Name}'") is not { } signer) continue;
            if (signer.Kind is not (CredentialKind.Secret or CredentialKind.RsaKey))
                problems.Fail(ErrorCodes.ManifestKindMismatch, at,
                    $"credential '{token.Name}' is signed by '{signer.Name}', {Article(signer.Kind)}; an attic-token is signed by a secret (HS256) or an rsa-key (RS256)");
        }

        // Cycles along signedBy (only possible through mis-kinded signers, but a cycle must never reach the planner).
        var state = new Dictionary<string, int>(StringComparer.Ordinal); // 1 visiting, 2 done
        foreach (var c in _credentialOrder)
        {
            var path = new List<string>();
            var current = c.Name;
            while (_credentials.TryGetValue(current, out var cred) && !state.ContainsKey(current))
            {
                state[current] = 1;
                path.Add(current);
                var next = cred.DependsOn.FirstOrDefault();
                if (next is null) break;
                if (state.TryGetValue(next, out var s) && s == 1)
                {
                    var loop = path.Skip(path.IndexOf(next)).Append(next);
                    problems.Fail(ErrorCodes.ManifestCycle, _signedByAt.GetValueOrDefault(current) ?? cred.Location,
                        $"credentials derive from each other in a cycle: {string.Join(" → ", loop)}");
                    break;
                }
                current = next;
            }
            foreach (var n in path) state[n] = 2;
        }
    }

    /// <summary>Finds a referenced credential; reports a dangling reference (with the closest name) when it is not declared.</summary>
    private Credential? Resolve(string name, SourceLocation at, string what)
    {
        if (_credentials.TryGetValue(name, out var c)) return c;
        if (_declared.Contains(name)) return null; // declared but broken: already reported
        var suggestion = FieldMap.LooksLikeToken(name) ? null : Suggest.Closest(name, _declared);
        problems.Fail(ErrorCodes.ManifestDanglingReference, at, $"{what} refers to '{FieldMap.Clip(name)}', which is not declared under credentials",
            suggestion is null ? null : $"did you mean '{suggestion}'?");
        return null;
    }

    /// <summary>"a secret", "an rsa-key".</summary>
    private static string Article(CredentialKind kind) => (kind is CredentialKind.AtticToken or CredentialKind.External or CredentialKind.RsaKey ? "an " : "a ") + kind.Name();

    [GeneratedRegex(ManifestFields.NamePattern, RegexOptions.CultureInvariant)]
    private static partial Regex NameRegex();

    [GeneratedRegex("^age1[02-9ac-hj-np-z]{58}$", RegexOptions.CultureInvariant)]
    private static partial Regex AgeRecipientRegex();

    [GeneratedRegex("^ssh-ed25519 AAAA[A-Za-z0-9+/]+={0,2}( .*)?$", RegexOptions.CultureInvariant)]
    private static partial Regex SshRecipientRegex();

    [GeneratedRegex(@"^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*(:[0-9]{1,5})?$", RegexOptions.CultureInvariant)]
    private static partial Regex HostRegex();

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]*$", RegexOptions.CultureInvariant)]
    private static partial Regex EnvNameRegex();
}
