using Keyward.Core.Errors;
using Keyward.Core.Manifest.Schema;
using Keyward.Core.Manifest.Yaml;
using Keyward.Core.Time;

namespace Keyward.Core.Manifest.Loading;

// trustedPublishers: (CI jobs trusted through their OIDC ID token) and gate: (the Attic revocation gate).
internal sealed partial class ManifestReader
{
    private static readonly HumanDuration DefaultCiValidity = HumanDuration.From(TimeSpan.FromMinutes(15));

    private List<TrustedPublisher> ReadTrustedPublishers(IEnumerable<(YScalar Key, YNode Value)> entries)
    {
        var list = new List<TrustedPublisher>();
        foreach (var (key, value) in entries)
        {
            var what = $"trusted publisher '{FieldMap.Clip(key.Value)}'";
            if (AsMapping(value, what) is not { } map) continue;
            var fm = new FieldMap(map, ManifestFields.TrustedPublisher, what, key.Location, problems);

            var issuer = fm.Url("issuer");
            if (issuer is not null && issuer.Scheme != Uri.UriSchemeHttps && !issuer.IsLoopback)
            {
                problems.Fail(ErrorCodes.TrustedIssuerInsecure, fm.At("issuer"), $"issuer '{FieldMap.Clip(issuer.OriginalString)}' of {what} is plain http: its keys could be replaced on the way");
                issuer = null;
            }
            var audience = fm.String("audience");

            var signedBy = fm.String("signedBy");
            if (signedBy is not null && Resolve(signedBy, fm.At("signedBy"), $"signedBy of {what}") is { } signer
                && signer.Kind is not (CredentialKind.Secret or CredentialKind.RsaKey))
                problems.Fail(ErrorCodes.ManifestKindMismatch, fm.At("signedBy"),
                    $"{what} is signed by '{signer.Name}', {Article(signer.Kind)}; Attic tokens are signed by a secret (HS256) or an rsa-key (RS256)");

            var claims = Claims(fm, what);
            var grants = Grants(fm);

            var validity = fm.Duration("validity") ?? DefaultCiValidity;
            if (validity.Value <= TimeSpan.Zero || validity.Value > TrustedPublisher.MaxValidity)
                problems.Fail(ErrorCodes.TrustedPublisherValidity, fm.At("validity"), $"validity {validity} of {what} is not between 1s and 1h");

            if (issuer is null || audience is null || signedBy is null) continue;
            list.Add(new TrustedPublisher(key.Value, issuer, audience, signedBy, claims, grants, validity, key.Location));
        }
        return list;
    }

    private List<ClaimMatcher> Claims(FieldMap fm, string what)
    {
        var list = new List<ClaimMatcher>();
        if (fm.Mapping("claims") is not { } map) return list;
        foreach (var pair in map.Pairs)
        {
            var values = new List<string>();
            switch (pair.Value)
            {
                case YScalar { IsNull: false } s:
                    values.Add(s.Value);
                    break;
                case YSequence seq:
                    foreach (var item in seq.Items)
                    {
                        if (item is YScalar { IsNull: false } si) values.Add(si.Value);
                        else problems.Fail(ErrorCodes.ManifestWrongType, item.Location, $"values of claim '{FieldMap.Clip(pair.Key.Value)}' in {what} are text, not {FieldMap.Describe(item)}");
                    }
                    break;
                default:
                    problems.Fail(ErrorCodes.ManifestWrongType, pair.Value.Location,
                        $"claim '{FieldMap.Clip(pair.Key.Value)}' of {what} must be a value or a list of values, not {FieldMap.Describe(pair.Value)}");
                    continue;
            }
            if (values.Count == 0 || values.Any(v => v.Length == 0))
            {
                problems.Fail(ErrorCodes.ManifestEmptyValue, pair.Value.Location, $"claim '{FieldMap.Clip(pair.Key.Value)}' of {what} has an empty value");
                continue;
            }
            list.Add(new ClaimMatcher(pair.Key.Value, values, pair.Key.Location));
        }
        if (list.Count == 0 && map.Pairs.Count == 0)
            problems.Fail(ErrorCodes.TrustedPublisherNoClaims, fm.At("claims"), $"claims of {what} is empty: every job of the issuer would qualify");
        else if (list.Count > 0 && !list.Any(c => c.IsExact && ManifestFields.IdentityClaims.Contains(c.Claim, StringComparer.Ordinal)))
            problems.Fail(ErrorCodes.TrustedPublisherUnpinned, fm.At("claims"),
                $"claims of {what} match no repository exactly ({string.Join(", ", ManifestFields.IdentityClaims)}): a job of any repository could match");
        return list;
    }

    private AtticGateSettings ReadGate(YMapping node, SourceLocation at)
    {
        var fm = new FieldMap(node, ManifestFields.Gate, "gate", at, problems);
        var d = AtticGateSettings.Default;
        return new AtticGateSettings(
            fm.String("foreignTokens") switch { "allow" => ForeignTokens.Allow, "refuse" => ForeignTokens.Refuse, _ => d.ForeignTokens },
            fm.String("anonymous") switch { "refuse" => false, "pass" => true, _ => d.AllowAnonymous },
            fm.Bool("checkPermissions") ?? d.CheckPermissions);
    }
}
