using Keyward.Core.Manifest;
using Keyward.Core.Store;

namespace Keyward.Engine.Rotation.Steps;

/// <summary><c>activate</c>: the rotation's new version becomes the active one.</summary>
internal sealed class ActivateStep : IStepHandler
{
    public async Task ExecuteAsync(JournalPlanStep step, RotationRun run, CancellationToken ct)
    {
        var name = step.Target;
        var nv = await run.NewVersionAsync(name, ct).ConfigureAwait(false);
        if (nv is null || nv.State == VersionState.Active) return;
        await run.Store.SetStateAsync(name, nv.Version, VersionState.Active, ct).ConfigureAwait(false);
        await run.AuditAsync("rotate", name, nv.Version, nv.Fingerprint, $"replaces version {run.Journal.Snapshot[name]} ({run.Journal.Reason})", ct).ConfigureAwait(false);
    }
}

/// <summary><c>retire</c>: the version active when the rotation started is retired (kept for its overlap when the policy
/// has one); a service-issued token is deleted at its service, an Attic token's ledger rows are revoked.</summary>
internal sealed class RetireStep : IStepHandler
{
    public async Task ExecuteAsync(JournalPlanStep step, RotationRun run, CancellationToken ct)
    {
        var name = step.Target;
        var old = run.Journal.Snapshot.GetValueOrDefault(name);
        if (old == 0) return;
        var credential = run.Manifest.FindCredential(name);
        var keep = run.Journal.OverlapSeconds.ContainsKey(name) && credential is not AtticTokenCredential;
        var version = (await run.Store.GetVersionsAsync(name, ct).ConfigureAwait(false)).FirstOrDefault(v => v.Version == old);
        if (version is null) return;
        if (!keep && version.State != VersionState.Retired)
        {
            await run.Store.SetStateAsync(name, old, VersionState.Retired, ct).ConfigureAwait(false);
            await run.AuditAsync("retire", name, old, version.Fingerprint, "rotated", ct).ConfigureAwait(false);
        }
        if (credential is ExternalCredential x && run.Options.ServiceTokens?.Handles(x) == true && await run.NewVersionAsync(name, ct).ConfigureAwait(false) is { } nv)
        {
            using var retired = await run.Store.RevealAsync(name, old, ct).ConfigureAwait(false);
            using var current = await run.Store.RevealAsync(name, nv.Version, ct).ConfigureAwait(false);
            await run.Options.ServiceTokens.DeleteAsync(x, retired, current, ct).ConfigureAwait(false);
        }
        if (credential is AtticTokenCredential && !run.Journal.OverlapSeconds.ContainsKey(name))
            await run.RevokeLedgerAsync(name, old, ct).ConfigureAwait(false);
    }
}

/// <summary><c>revoke</c>: every ledger row of a token that cannot be re-minted (its signing secret rotated) is revoked.</summary>
internal sealed class RevokeStep : IStepHandler
{
    public async Task ExecuteAsync(JournalPlanStep step, RotationRun run, CancellationToken ct)
    {
        foreach (var t in (await run.Store.ListLedgerAsync(ct).ConfigureAwait(false)).Where(t => t.Credential == step.Target && t.RevokedAt is null))
            await run.Store.RevokeTokenAsync(t.TokenId, run.Now, ct).ConfigureAwait(false);
        await run.AuditAsync("revoke", step.Target, null, null, "its signing secret rotated", ct).ConfigureAwait(false);
    }
}
