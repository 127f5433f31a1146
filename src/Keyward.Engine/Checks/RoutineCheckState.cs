using Keyward.Engine;
using Keyward.Core.Secrets;
using Keyward.Core.Store;
using Keyward.Services;

namespace Keyward.Engine.Checks;

/// <summary>The check state of a loop that checks again and again (<c>keyward serve</c>): everything goes to
/// <paramref name="inner"/>, but the service uses it audits pass through <paramref name="filter"/> (a use is recorded when it
/// is new, changed, or a day old; see <see cref="RoutineUseFilter"/>).</summary>
internal sealed class RoutineCheckState(ICheckState inner, RoutineUseFilter filter) : ICheckState
{
    public Task<IReadOnlyDictionary<string, CredentialVersion>> ActiveVersionsAsync(CancellationToken cancellationToken) =>
        inner.ActiveVersionsAsync(cancellationToken);

    public Task<IReadOnlyDictionary<string, Secret>> RevealActiveAsync(IReadOnlyCollection<string> names, CancellationToken cancellationToken) =>
        inner.RevealActiveAsync(names, cancellationToken);

    public Task LearnExpiryAsync(CredentialVersion version, DateTimeOffset expiresAt, string source, CancellationToken cancellationToken) =>
        inner.LearnExpiryAsync(version, expiresAt, source, cancellationToken);

    public Task<IReadOnlyDictionary<string, IReadOnlyDictionary<string, ConditionMemory>>> LoadConditionsAsync(CancellationToken cancellationToken) =>
        inner.LoadConditionsAsync(cancellationToken);

    public Task SaveConditionsAsync(IReadOnlyList<CheckReport> reports, CancellationToken cancellationToken) =>
        inner.SaveConditionsAsync(reports, cancellationToken);

    public async Task RecordUsesAsync(IReadOnlyList<ServiceUse> uses, CancellationToken cancellationToken)
    {
        var due = filter.Due(uses);
        if (due.Count == 0) return;
        await inner.RecordUsesAsync(due, cancellationToken).ConfigureAwait(false);
        filter.Recorded(due);
    }
}
