using Keyward.Core.Secrets;
using Keyward.Core.Store;

using Keyward.Services;

namespace Keyward.Engine.Checks;

/// <summary>What checks read from and write to Keyward's state: active values (metadata and secrets),
/// learned expiries, and the condition history that gives <c>lastTransitionTime</c> and "when last true".</summary>
public interface ICheckState
{
    Task<IReadOnlyDictionary<string, CredentialVersion>> ActiveVersionsAsync(CancellationToken cancellationToken);

    Task<IReadOnlyDictionary<string, Secret>> RevealActiveAsync(IReadOnlyCollection<string> names, CancellationToken cancellationToken);

    /// <summary>Records an expiry a service reported (GitHub, GitLab) on the version's metadata and expires_at.</summary>
    Task LearnExpiryAsync(CredentialVersion version, DateTimeOffset expiresAt, string source, CancellationToken cancellationToken);

    Task<IReadOnlyDictionary<string, IReadOnlyDictionary<string, ConditionMemory>>> LoadConditionsAsync(CancellationToken cancellationToken);

    Task SaveConditionsAsync(IReadOnlyList<CheckReport> reports, CancellationToken cancellationToken);

    /// <summary>Audits the requests a check run made with stored tokens (<see cref="ServiceUse"/>: never a value).</summary>
    Task RecordUsesAsync(IReadOnlyList<ServiceUse> uses, CancellationToken cancellationToken);
}

/// <summary>"Is this sink correct?" for <c>keyward check</c>: the Ready and Verified observations of one sink (its file, its
/// persisted directory and runtime link, its live Kubernetes Secret). The engine implements it with the inspection plan
/// and apply use, so check can never call a file "ok" that plan would rewrite.</summary>
public interface ISinkVerifier
{
    Task<IReadOnlyList<Observation>> VerifyAsync(Core.Manifest.Sink sink, CancellationToken cancellationToken);
}

/// <summary>"Has this host's agent got what the server renders for it now?" for <c>keyward check</c>: the engine answers
/// from the confirmations the server records in the store (one condition set per host).</summary>
public interface IHostVerifier
{
    /// <summary>The declared hosts to report; none when the store holds no host confirmations at all (no server has
    /// ever heard from an agent through this store, so there is nothing to compare with).</summary>
    Task<IReadOnlyList<string>> HostsAsync(CancellationToken cancellationToken);

    Task<IReadOnlyList<Observation>> VerifyAsync(string host, CancellationToken cancellationToken);
}
