using Keyward.Core.Errors;
using Keyward.Core.Graph;
using Keyward.Core.Manifest;
using Keyward.Crypto.Attic;
using Keyward.Engine.Delivery;
using Keyward.Core.Store;

namespace Keyward.Engine.Rotation.Steps;

/// <summary>
/// <c>verify</c>: the rotation's effect is checked before anything old is retired — a sink on disk (and its live Secret)
/// carries the new values, every trusting sink lists a new cache key, a re-minted token verifies against its new signer,
/// and a service or graph check asked live through <see cref="IRotationServicePlane"/>. A refusal fails the step; a
/// service that cannot be asked is reported as not verified and the rotation goes on.
/// </summary>
internal sealed class VerifyStep : IStepHandler
{
    public Task ExecuteAsync(JournalPlanStep step, RotationRun run, CancellationToken ct) => step.Kind switch
    {
        NodeKind.Sink => SinkAsync(run, run.Sink(step.Target), ct),
        NodeKind.Credential when run.Manifest.FindCredential(step.Target) is NixSigningKeyCredential k => TrustedEverywhereAsync(run, k, ct),
        NodeKind.Check when step.Target.StartsWith("signature ", StringComparison.Ordinal) =>
            SignatureAsync(run, (AtticTokenCredential)run.Manifest.FindCredential(step.Credential!)!, ct),
        _ => ServiceAsync(run, step.Target, ct),
    };

    private static async Task SinkAsync(RotationRun run, Sink sink, CancellationToken ct)
    {
        var (resolved, trust) = await run.RenderInputsAsync(sink, retiringTrust: false, ct).ConfigureAwait(false);
        var found = run.Delivery.Inspect(sink, resolved, trust);
        if (found.State != SinkState.Current)
            throw ErrorCodes.RotationVerifyFailed.Exception($"sink '{sink.Name}' ({found.TargetPath}) does not carry the new values: {found.Summary}");
        if (sink.Kubernetes is { Live: true })
        {
            var live = await run.Live.InspectAsync(sink, resolved, ct).ConfigureAwait(false);
            if (live.State is not (LiveState.InSync or LiveState.NotHere))
                throw ErrorCodes.RotationVerifyFailed.Exception($"sink '{sink.Name}': {live.Message}");
            run.Progress($"     {sink.Name}: {live.Message}");
        }
    }

    private static async Task TrustedEverywhereAsync(RotationRun run, NixSigningKeyCredential k, CancellationToken ct)
    {
        var nv = await run.NewVersionAsync(k.Name, ct).ConfigureAwait(false);
        var pk = (nv is null ? null : VersionMetadata.Of(nv).PublicKey) ?? throw ErrorCodes.RotationVerifyFailed.Exception($"no new key staged for '{k.Name}'");
        foreach (var s in run.Manifest.Sinks.Where(s => TrustLists.Carries(s, k.Name)))
        {
            var path = run.Delivery.TargetPath(s);
            var text = File.Exists(path) ? await File.ReadAllTextAsync(path, ct).ConfigureAwait(false) : "";
            if (!text.Contains(pk, StringComparison.Ordinal))
                throw ErrorCodes.RotationVerifyFailed.Exception($"sink '{s.Name}' does not trust the new key {pk}");
        }
    }

    private static async Task SignatureAsync(RotationRun run, AtticTokenCredential t, CancellationToken ct)
    {
        var token = await run.CurrentAsync(t.Name, ct).ConfigureAwait(false);
        var signer = await run.CurrentAsync(t.SignedBy, ct).ConfigureAwait(false);
        if (token is null || signer is null) throw ErrorCodes.RotationVerifyFailed.Exception($"'{t.Name}' or its signer has no value");
        using var tokenValue = token.Value.Value;
        using var signerValue = signer.Value.Value;
        using var key = AtticSigningKey.ForSigner(run.Manifest.FindCredential(t.SignedBy)!.Kind, signerValue, t.SignedBy);
        try
        {
            AtticTokens.Verify(tokenValue.RevealString(), key, run.Options.Time, t.Issuer, t.Audiences.Count > 0 ? t.Audiences : null);
        }
        catch (KeywardException ex)
        {
            throw ErrorCodes.RotationVerifyFailed.Exception($"'{t.Name}' does not verify against {t.SignedBy} version {signer.Value.Version.Version}: {ex.First.Message}");
        }
    }

    private static async Task ServiceAsync(RotationRun run, string target, CancellationToken ct)
    {
        var verdict = run.Options.Services is null ? null
            : await run.Options.Services.VerifyAsync(target, run.CurrentAsync, ct).ConfigureAwait(false);
        switch (verdict?.Status)
        {
            case null:
                run.Progress($"     {target}: no live service to ask (run `keyward check` to verify)");
                break;
            case VerdictStatus.Verified:
                run.Progress($"     {target}: verified: {verdict.Message}");
                break;
            case VerdictStatus.Unverified:
                run.Log($"     {target}: NOT VERIFIED: {verdict.Message}");
                run.Warn($"{target} could not be verified during the rotation ({verdict.Message}): run `keyward check` once it is reachable");
                break;
            default:
                throw ErrorCodes.RotationVerifyFailed.Exception($"{target}: {verdict.Message}");
        }
    }
}
