using Keyward.Core.Errors;
using Keyward.Core.Manifest.Schema;
using Keyward.Core.Manifest.Yaml;

namespace Keyward.Core.Manifest.Loading;

/// <summary><c>hosts:</c> (the machines whose agents receive sinks) and a sink's <c>host:</c>/<c>hosts:</c>.</summary>
internal sealed partial class ManifestReader
{
    private List<HostSpec> ReadHosts(FieldMap root)
    {
        var list = new List<HostSpec>();
        var keys = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in Entries(root, "hosts"))
        {
            _declaredHosts.Add(key.Value);
            var what = $"host '{FieldMap.Clip(key.Value)}'";
            if (AsMapping(value, what) is not { } map) continue;
            var fm = new FieldMap(map, ManifestFields.Host, what, key.Location, problems);
            if (fm.ExactlyOne() < 0) continue;
            HostSpec? host = null;
            if (fm.String("sshKey") is { } ssh)
            {
                if (HostKey.TryParse(ssh, out var hk, out var error)) host = new HostSpec(key.Value, hk, null, key.Location);
                else problems.Fail(ErrorCodes.HostKeyInvalid, fm.At("sshKey"), $"sshKey of {what}: {error}");
            }
            else if (fm.String("ageRecipient") is { } age)
            {
                var text = age.Trim();
                if (AgeRecipientRegex().IsMatch(text)) host = new HostSpec(key.Value, null, text, key.Location);
                else problems.Fail(ErrorCodes.HostKeyInvalid, fm.At("ageRecipient"), $"ageRecipient of {what} is not an age X25519 recipient (age1…)",
                    SshRecipientRegex().IsMatch(text) ? "an SSH public key goes under sshKey:" : null);
            }
            if (host is null) continue;
            if (keys.TryGetValue(host.KeyText, out var other))
            {
                problems.Fail(ErrorCodes.HostKeyShared, fm.At(host.SshKey is null ? "ageRecipient" : "sshKey"), $"{what} declares the same key as host '{other}'");
                continue;
            }
            keys[host.KeyText] = host.Name;
            list.Add(host);
        }
        return list;
    }

    // A host whose key was refused still counts as declared: its sinks report nothing more, not "unknown host".
    private readonly HashSet<string> _declaredHosts = new(StringComparer.Ordinal);

    private List<string> SinkHosts(FieldMap fm, string what)
    {
        var result = new List<string>();
        if (fm.Has("host") && fm.Has("hosts"))
        {
            problems.Fail(ErrorCodes.HostSinkConflict, fm.KeyAt("hosts"), $"{what} has both host: and hosts:; use one");
            return result;
        }
        IEnumerable<YScalar> names;
        if (fm.Has("host"))
        {
            if (fm.Node("host") is not YScalar { IsNull: false } one) return result;
            names = [one];
        }
        else if (fm.ScalarList("hosts") is { } many)
        {
            if (many.Count == 0) problems.Fail(ErrorCodes.HostSinkConflict, fm.At("hosts"), $"{what} has an empty hosts: list; leave it out for the authority's own sinks");
            names = many;
        }
        else return result;
        foreach (var n in names)
        {
            if (result.Contains(n.Value, StringComparer.Ordinal))
                problems.Fail(ErrorCodes.HostSinkConflict, n.Location, $"{what} names host '{FieldMap.Clip(n.Value)}' twice");
            else if (!_declaredHosts.Contains(n.Value))
            {
                var near = Suggest.Closest(n.Value, _declaredHosts);
                problems.Fail(ErrorCodes.HostUnknown, n.Location, $"{what} is for host '{FieldMap.Clip(n.Value)}', which is not declared under hosts:"
                    + (near is null ? "" : $" (did you mean '{near}'?)"));
            }
            else result.Add(n.Value);
        }
        return result;
    }
}
