using Keyward.Core.Manifest;

using Keyward.Services;

namespace Keyward.Engine.Checks;

public sealed partial class CheckRunner
{
    /// <summary>`keyward bootstrap coder NAME` for the token of a Coder or Gitea service (what obtains it), else null.</summary>
    private string? BootstrapCommandFor(string credential) =>
        _manifest.Services.FirstOrDefault(s => s.Token == credential && s.Kind is ServiceKind.Coder or ServiceKind.Gitea) is { } s
            ? $"`keyward bootstrap {s.Kind.ToString().ToLowerInvariant()} {s.Name}`"
            : null;

    private async Task<List<Observation>> CheckSinkAsync(Sink sink, CancellationToken ct)
    {
        if (_sinks is null)
            return [Observation.Unknown(ConditionTypes.Verified, "NotVerified", "this check run was given no sink verifier")];
        var list = (await _sinks.VerifyAsync(sink, ct).ConfigureAwait(false)).ToList();
        // A sink waiting for a token a service creates: the command that obtains it, not `apply`.
        if (list.Count > 0 && list[0] is { Type: ConditionTypes.Ready, Status: ConditionStatus.False, Reason: "NoValue" or "Missing" } notReady &&
            sink.CredentialNames.Select(BootstrapCommandFor).FirstOrDefault(b => b is not null) is { } bootstrap)
            list[0] = notReady with { Message = $"{sink.StoragePath} has nothing to compare with yet: run {bootstrap} (it delivers the token once one is valid), or `keyward apply` if the token is stored already" };
        var problems = new List<(string Reason, string Text)>();
        if (sink.NixConf is { } nix) CheckNixConsumer(sink, nix, (r, t) => problems.Add((r, t)));
        if (AtticEnvRule.Evaluate(sink, _manifest.Services) is { Satisfied: false } runner) problems.Add((runner.Reason, $"{runner.Message}: {runner.Hint}"));
        if (problems.Count == 0) return list;
        var i = list.FindIndex(o => o.Type == ConditionTypes.Verified);
        var text = string.Join("; ", problems.Select(p => p.Text));
        // A declaration apply cannot repair leads; what the file shows follows.
        var merged = Observation.False(ConditionTypes.Verified, problems[0].Reason,
            i >= 0 && list[i].Status == ConditionStatus.False ? text + "; " + list[i].Message : text);
        if (i >= 0) list[i] = merged;
        else list.Add(merged);
        return list;
    }

    /// <summary>A sink another host's agent writes: the authority cannot look at the file, but the runner template rule
    /// (<see cref="AtticEnvRule"/>) is a question of the declaration, answered here for host sinks it concerns.</summary>
    private Task<List<Observation>> CheckHostSinkDeclarationAsync(Sink sink, AtticEnvFinding finding)
    {
        var where = $" (delivered by the agent of {string.Join(", ", sink.Hosts)}; its file is not checked here)";
        return Task.FromResult<List<Observation>>(finding.Satisfied
            ? [Observation.True(ConditionTypes.Verified, finding.Reason, finding.Message + where)]
            : [Observation.False(ConditionTypes.Verified, finding.Reason, $"{finding.Message}: {finding.Hint}{where}")]);
    }

    /// <summary>Every sink that makes Nix use an Attic cache as a substituter must also make it trust the cache's key.</summary>
    private void CheckNixConsumer(Sink sink, NixConfOptions nix, Action<string, string> problem)
    {
        foreach (var (service, cache) in AtticCaches())
        {
            var url = new Uri(service.Url, cache.Name).AbsoluteUri.TrimEnd('/');
            if (!nix.Substituters.Any(s => string.Equals(s.TrimEnd('/'), url, StringComparison.Ordinal))) continue;
            var trusted = nix.TrustedPublicKeys;
            var ok = cache.SigningKey is { } key && trusted.Contains(key, StringComparer.Ordinal);
            if (!ok && cache.SigningKey is { } k2 && _values.TryGetValue(k2, out var sk))
            {
                try
                {
                    using var parsed = Crypto.Nix.NixSecretKey.Parse(sk);
                    ok = trusted.Contains(parsed.PublicKey.ToString(), StringComparer.Ordinal);
                }
                catch (Core.Errors.KeywardException) { /* reported on the key itself */ }
            }
            if (!ok) problem("MissingCachePublicKey", $"substituter {url} is configured without the cache's public key ({cache.SigningKey ?? "undeclared signing key"}) in trusted-public-keys");
        }
    }

}
