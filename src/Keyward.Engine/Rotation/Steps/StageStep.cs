using Keyward.Core.Errors;
using Keyward.Core.Manifest;
using Keyward.Core.Rotation;
using Keyward.Core.Secrets;
using Keyward.Crypto.Attic;
using Keyward.Crypto.Nix;
using Keyward.Engine.Delivery;
using Keyward.Engine.Minting;
using Keyward.Core.Store;

namespace Keyward.Engine.Rotation.Steps;

/// <summary>
/// <c>stage</c>, <c>re-mint</c> and <c>re-import</c>: the credential's next version is made and stored as <c>staged</c>
/// (activated by a later step). Generated values and Attic tokens go through the same <see cref="CredentialMinter"/> as
/// apply; a service-issued token is created through its service with the current one; an external token is read from its
/// source. A version staged before a crash is reused — unless it is an Attic token another writer minted meanwhile with
/// a signer this rotation does not use (see <see cref="ReMintForeignTokensAsync"/>).
/// </summary>
internal sealed class StageStep : IStepHandler
{
    public async Task ExecuteAsync(JournalPlanStep step, RotationRun run, CancellationToken ct)
    {
        var c = run.Manifest.FindCredential(step.Target)
            ?? throw ErrorCodes.JournalCorrupt.Exception($"the journal names credential '{step.Target}', which the manifest no longer declares");
        while (await run.NewVersionAsync(c.Name, ct).ConfigureAwait(false) is { } staged)
        {
            if (c is not AtticTokenCredential t || await SignedByCurrentAsync(run, t, staged, ct).ConfigureAwait(false)) return; // staged before a crash: reuse
            await ForgetForeignAsync(run, t.Name, staged, ct).ConfigureAwait(false);
        }
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        DateTimeOffset? expires = null;
        Secret value;
        LedgerEntry? ledger = null;
        var origin = "rotation";
        switch (c)
        {
            case SecretCredential or RsaKeyCredential:
            {
                var generated = run.Minter.Generate(c);
                value = generated.Value;
                foreach (var (k, v) in generated.Metadata) metadata[k] = v;
                break;
            }
            case NixSigningKeyCredential k:
            {
                var active = await run.Store.GetActiveAsync(k.Name, ct).ConfigureAwait(false);
                var name = active is null ? k.KeyName : RotationPlanner.NextKeyName(active.Metadata.GetValueOrDefault(RotationPlanner.KeyNameMetadata) ?? k.KeyName);
                using var key = NixSecretKey.Generate(name);
                value = key.ToSecret();
                metadata[RotationPlanner.KeyNameMetadata] = name;
                metadata[VersionMetadata.PublicKeyKey] = key.PublicKey.ToString();
                break;
            }
            case AtticTokenCredential t:
            {
                var signer = await run.CurrentAsync(t.SignedBy, ct).ConfigureAwait(false)
                    ?? throw ErrorCodes.RotationStepFailed.Exception($"signer '{t.SignedBy}' of '{t.Name}' has no value");
                // The same minting as apply: claims, ledger row and metadata cannot differ between the two paths.
                var minted = run.Minter.MintToken(t, new SignerValue(run.Manifest.FindCredential(t.SignedBy)!, signer.Value, signer.Version.Version), 0, run.Store.Fingerprint);
                value = minted.Value;
                expires = minted.ExpiresAt;
                ledger = minted.Ledger;
                foreach (var (k, v) in minted.Metadata) metadata[k] = v;
                break;
            }
            case ExternalCredential x when run.Options.ServiceTokens?.Handles(x) == true:
            {
                var stored = await run.Store.GetActiveAsync(x.Name, ct).ConfigureAwait(false)
                    ?? throw ErrorCodes.RotationStepFailed.Exception($"'{x.Name}' has no stored token to create the next one with", "run `keyward bootstrap` first");
                using var held = await run.Store.RevealAsync(x.Name, stored.Version, ct).ConfigureAwait(false);
                var created = await run.Options.ServiceTokens.CreateAsync(x, held, ct).ConfigureAwait(false);
                value = created.Value;
                expires = created.ExpiresAt;
                foreach (var (k, v) in created.Metadata) metadata[k] = v;
                break;
            }
            case ExternalCredential x:
                value = ReadExternal(run, x);
                origin = "import";
                if (await run.Store.GetActiveAsync(x.Name, ct).ConfigureAwait(false) is { } current && current.Fingerprint == run.Store.Fingerprint(value.Reveal()))
                {
                    value.Dispose();
                    throw ErrorCodes.RotationStepFailed.Exception($"the source of '{x.Name}' still holds the current value ({current.Fingerprint})",
                        "create a new token at the provider and put it in the source first");
                }
                break;
            default:
                throw new InvalidOperationException($"cannot stage {c.Kind.Name()}");
        }
        using (value)
        {
            var put = await run.Store.PutAsync(new NewVersion(c.Name, c.Kind.Name(), value, VersionState.Staged, run.Now, expires, origin, metadata), ct).ConfigureAwait(false);
            if (ledger is not null) await run.Store.RecordTokenAsync(ledger with { Version = put.Version }, ct).ConfigureAwait(false);
            await run.AuditAsync(origin == "import" ? "import" : c is ExternalCredential ? "create" : "mint", c.Name, put.Version, put.Fingerprint,
                c is ExternalCredential && origin != "import" ? "created through its service's API, staged by rotation" : "staged by rotation", ct).ConfigureAwait(false);
        }
    }

    /// <summary>--resume reuses what a crashed run staged, but a token version newer than the snapshot that does not verify
    /// against the signer this rotation uses (minted meanwhile by another writer with the old secret) would fail the
    /// verify step on every resume: it is retired and revoked, and its re-mint step and every step after it run again.</summary>
    public static async Task ReMintForeignTokensAsync(RotationRun run, CancellationToken ct)
    {
        foreach (var step in run.Journal.Steps.Where(s => s.Action is StepAction.Stage or StepAction.ReMint && run.Done.Contains(s.Order)).OrderBy(s => s.Order))
        {
            if (run.Manifest.FindCredential(step.Target) is not AtticTokenCredential t) continue;
            var again = false;
            while (await run.NewVersionAsync(t.Name, ct).ConfigureAwait(false) is { } staged && !await SignedByCurrentAsync(run, t, staged, ct).ConfigureAwait(false))
            {
                await ForgetForeignAsync(run, t.Name, staged, ct).ConfigureAwait(false);
                again = true;
            }
            if (again) run.Done.RemoveWhere(o => o >= step.Order);
        }
    }

    /// <summary>True when <paramref name="version"/> of <paramref name="t"/> verifies against the signer value this rotation
    /// uses now — the verify step's own check.</summary>
    private static async Task<bool> SignedByCurrentAsync(RotationRun run, AtticTokenCredential t, CredentialVersion version, CancellationToken ct)
    {
        var signer = await run.CurrentAsync(t.SignedBy, ct).ConfigureAwait(false);
        if (signer is null) return true; // nothing to check against: the mint or verify step says so
        using var signerValue = signer.Value.Value;
        using var token = await run.Store.RevealAsync(t.Name, version.Version, ct).ConfigureAwait(false);
        using var key = AtticSigningKey.ForSigner(run.Manifest.FindCredential(t.SignedBy)!.Kind, signerValue, t.SignedBy);
        try
        {
            AtticTokens.Verify(token.RevealString(), key, run.Options.Time, t.Issuer, t.Audiences.Count > 0 ? t.Audiences : null);
            return true;
        }
        catch (KeywardException)
        {
            return false;
        }
    }

    private static async Task ForgetForeignAsync(RotationRun run, string name, CredentialVersion version, CancellationToken ct)
    {
        await run.Store.SetStateAsync(name, version.Version, VersionState.Retired, ct).ConfigureAwait(false);
        await run.RevokeLedgerAsync(name, version.Version, ct).ConfigureAwait(false);
        await run.AuditAsync("retire", name, version.Version, version.Fingerprint, "not signed by the rotation's signer; minted again", ct).ConfigureAwait(false);
        run.Progress($"{name} version {version.Version} is not signed by the rotation's signer: retired, minted again");
    }

    private static Secret ReadExternal(RotationRun run, ExternalCredential x)
    {
        if (x.Source is null)
            throw ErrorCodes.NotRotatable.Exception($"'{x.Name}' has no source; `keyward bootstrap` creates its token");
        var importer = new ExternalImporter(Path.GetDirectoryName(Path.GetFullPath(run.Manifest.File)) ?? ".", run.Options.GetEnv, run.Options.Root, run.Options.SopsIdentityFiles);
        try
        {
            return importer.Read(x) ?? throw ErrorCodes.RotationStepFailed.Exception($"the source of '{x.Name}' holds the bootstrap placeholder, not a token",
                "put the new token in its source (or run `keyward bootstrap`), then resume");
        }
        catch (KeywardException e) when (e.First.Code == ErrorCodes.ExternalSourceMissing)
        {
            throw ErrorCodes.RotationStepFailed.Exception($"the source of '{x.Name}' is missing or empty", "put the new token in its source, then resume");
        }
    }
}
