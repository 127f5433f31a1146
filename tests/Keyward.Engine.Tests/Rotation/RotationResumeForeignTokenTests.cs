using Keyward.Core.Attic;
using Keyward.Core.Graph;
using Keyward.Core.Manifest;
using Keyward.Core.Rotation;
using Keyward.Crypto.Attic;
using Keyward.Engine.Rotation;
using Keyward.Core.Store;

namespace Keyward.Engine.Tests.Rotation;

/// <summary>
/// The KW0808 stuck rotation of issue 9: while a JWT-secret rotation was open, another writer (an apply without the state
/// lock) minted <c>ci-push-token</c> with the OLD secret. The rotation reused that version as "staged before a crash",
/// so every <c>--resume</c> failed at the verify step. Resume now checks the signer of any token version it reuses.
/// </summary>
public sealed class RotationResumeForeignTokenTests
{
    /// <summary>The crash points: before the token's re-mint (the stage path meets the foreign version) and before its
    /// signature check (the re-mint step is already done with the foreign version).</summary>
    public static TheoryData<string> Points()
    {
        var plan = RotationFixture.Plan("attic-jwt-secret");
        var remint = plan.Steps.First(s => s.Action == StepAction.ReMint && s.Target == "ci-push-token").Order;
        var verify = plan.Steps.First(s => s.Action == StepAction.Verify && s.TargetKind == NodeKind.Check && s.Credential == "ci-push-token").Order;
        return new TheoryData<string> { $"step-{remint}-before", $"step-{remint}-after", $"step-{verify}-before" };
    }

    [Theory]
    [MemberData(nameof(Points))]
    public async Task Resume_ReMintsATokenVersionSignedByTheOldSecret_InsteadOfFailingForever(string point)
    {
        await using var f = await RotationFixture.CreateAsync();
        await Assert.ThrowsAsync<InjectedFaultException>(() => f.Executor(new RotationFixture.FaultAt(point)).StartAsync(new RotationIntent(["attic-jwt-secret"]), default));

        // The other writer: a token for ci-push-token signed by the secret that was active before the rotation.
        var now = f.Time.GetUtcNow();
        var oldSecret = f.Initial["attic-jwt-secret"];
        var spec = (AtticTokenCredential)f.Manifest.FindCredential("ci-push-token")!;
        using var oldValue = await f.Store.RevealAsync("attic-jwt-secret", oldSecret, default);
        using var key = AtticSigningKey.Hs256(oldValue);
        var jwt = AtticTokens.Mint(new AtticTokenRequest(spec.Subject, now + spec.Validity.Value, now, spec.Caches.Select(g => new AtticGrant(g.Pattern, g.Permissions)).ToList()), key).Jwt;
        var foreign = await f.Store.PutAsync(new NewVersion("ci-push-token", "attic-token", jwt, VersionState.Active, now, now + spec.Validity.Value, "generated",
            new Dictionary<string, string> { ["signedBy"] = "attic-jwt-secret", ["signedByVersion"] = oldSecret.ToString(System.Globalization.CultureInfo.InvariantCulture) }), default);
        await f.Store.RecordTokenAsync(new LedgerEntry("foreign", "ci-push-token", foreign.Version, spec.Subject, "main", now, now + spec.Validity.Value,
            foreign.Fingerprint, "attic-jwt-secret", oldSecret, null), default);

        var outcome = await f.Executor().ResumeAsync(false, default);

        Assert.Equal(RotationState.Committed, outcome.State);
        await f.AssertConsistentAsync($"{point}, foreign token, then resume"); // ci.env verifies against the new secret
        var versions = await f.Store.GetVersionsAsync("ci-push-token", default);
        Assert.Equal(VersionState.Retired, versions.Single(v => v.Version == foreign.Version).State);
        var active = (await f.Store.GetActiveAsync("ci-push-token", default))!;
        Assert.NotEqual(foreign.Version, active.Version);
        Assert.Equal((await f.Store.GetActiveAsync("attic-jwt-secret", default))!.Version.ToString(System.Globalization.CultureInfo.InvariantCulture), active.Metadata["signedByVersion"]);
        Assert.NotNull((await f.Store.ListLedgerAsync(default)).Single(t => t.TokenId == "foreign").RevokedAt);
    }
}
