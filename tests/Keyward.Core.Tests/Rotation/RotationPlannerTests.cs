using Keyward.Core.Errors;
using Keyward.Core.Graph;
using Keyward.Core.Manifest;
using Keyward.Core.Rotation;
using Keyward.Core.Store;
using Keyward.Core.Time;

namespace Keyward.Core.Tests.Rotation;

public sealed class RotationPlannerTests
{
    private static readonly DateTimeOffset Now = new(2025, 6, 1, 12, 0, 0, TimeSpan.Zero);

    private static RotationPlan Plan(KeywardManifest m, params string[] names) =>
        RotationPlanner.Plan(m, StoreFacts.Empty, new RotationIntent(names), Now);

    private static IEnumerable<string> Targets(RotationPlan p, StepAction a) => p.Steps.Where(s => s.Action == a).Select(s => s.Target);

    [Fact]
    public void ConsumerToken_ReMintsThatTokenOnly()
    {
        var p = Plan(HomelabModel.Build(), "ci-push-token");
        Assert.Equal(RotationRule.ConsumerToken, Assert.Single(p.Rotations).Rule);
        Assert.Equal(["ci-push-token"], p.NewVersions);
        Assert.Equal(["ci-attic-config"], Targets(p, StepAction.ReRender));
        Assert.Equal(["restart ci-runner.service"], Targets(p, StepAction.Restart));
        Assert.DoesNotContain(p.Steps, s => s.Target == "attic-jwt-secret" || s.Target == "atticd-env");
        Assert.Contains(p.Unchanged, u => u.Contains("attic-jwt-secret is unchanged", StringComparison.Ordinal) && u.Contains("2 other token", StringComparison.Ordinal));
        Assert.Contains(p.Unchanged, u => u == "the cache public key of attic-cache-key (main-1) is unchanged");
    }

    [Fact]
    public void SigningSecret_ReMintsEveryTokenItSigned_AndEverySinkCarryingOne()
    {
        var p = Plan(HomelabModel.Build(), "attic-jwt-secret");
        var r = Assert.Single(p.Rotations);
        Assert.Equal(RotationRule.SigningSecret, r.Rule);
        Assert.Equal(["ci-push-token", "admin-token", "reader-token"], r.Derived);
        Assert.Equal(["ci-push-token", "admin-token", "reader-token"], Targets(p, StepAction.ReMint));
        Assert.Equal(["atticd-env", "ci-attic-config", "admin-attic-config", "reader-netrc"], Targets(p, StepAction.ReRender));
        Assert.Contains("restart atticd.service", Targets(p, StepAction.Restart));
        Assert.Contains("reload nix-daemon.service", Targets(p, StepAction.Reload));
        Assert.Contains(p.Unchanged, u => u == "the cache public key of attic-cache-key (main-1) is unchanged");
        Assert.DoesNotContain(p.Steps, s => s.Target is "nix-conf" or "attic-cache-key" or "access-tokens");
    }

    [Fact]
    public void Steps_AreInExecutionOrder()
    {
        var p = Plan(HomelabModel.Build(), "attic-jwt-secret");
        int First(StepAction a) => p.Steps.First(s => s.Action == a).Order;
        int Last(StepAction a) => p.Steps.Last(s => s.Action == a).Order;
        Assert.Equal(StepAction.Stage, p.Steps[0].Action);
        Assert.True(Last(StepAction.ReMint) < First(StepAction.ReRender));
        Assert.True(Last(StepAction.ReRender) < First(StepAction.Restart));
        Assert.True(Last(StepAction.Reload) < First(StepAction.Verify));
        Assert.True(Last(StepAction.Verify) < First(StepAction.Activate));
        Assert.True(Last(StepAction.Activate) < First(StepAction.Retire));
        Assert.Equal(Enumerable.Range(1, p.Steps.Count), p.Steps.Select(s => s.Order));
    }

    [Fact]
    public void SecretAndOneOfItsTokens_TokenReMintedOnce()
    {
        var p = Plan(HomelabModel.Build(), "ci-push-token", "attic-jwt-secret");
        Assert.Single(Targets(p, StepAction.ReMint), "ci-push-token");
        Assert.DoesNotContain(p.Steps, s => s.Action == StepAction.Stage && s.Target == "ci-push-token");
    }

    [Fact]
    public void CacheSigningKey_IsTwoPhase_TrustBothBeforeSwitch()
    {
        var p = Plan(HomelabModel.Build(), "attic-cache-key");
        Assert.Equal(RotationRule.CacheSigningKey, Assert.Single(p.Rotations).Rule);
        Assert.True(p.IsTwoPhase);
        var propagate = Assert.Single(p.Steps, s => s.Action == StepAction.PropagatePublicKey);
        Assert.Equal("nix-conf", propagate.Target);
        Assert.Equal(RotationPhase.PublishTrust, propagate.Phase);
        Assert.Contains("main-1 and main-2", propagate.Detail, StringComparison.Ordinal);
        var switchSigning = Assert.Single(p.Steps, s => s.Action == StepAction.SwitchSigning);
        Assert.Equal("attic", switchSigning.Target);
        Assert.True(propagate.Order < switchSigning.Order);
        Assert.Equal(RotationPhase.SwitchSigning, p.Steps.Single(s => s.Action == StepAction.RetirePublicKey).Phase);
        Assert.Contains("cache-signing-key", p.Steps.Where(s => s.Phase == RotationPhase.SwitchSigning && s.Action == StepAction.ReRender).Select(s => s.Target));
        Assert.Contains(p.Unchanged, u => u == "attic-jwt-secret and every token it signed are unchanged");
        Assert.Contains(p.Notes, n => n.Contains("--continue", StringComparison.Ordinal));
    }

    [Fact]
    public void CacheSigningKey_OverlapKeepsOldKeyTrusted_AutoContinueNoted()
    {
        var m = HomelabModel.Build(cacheKeyPolicy: new RotationPolicy(Overlap: HumanDuration.Parse("24h"), AutoContinue: true));
        var p = Plan(m, "attic-cache-key");
        var retire = p.Steps.Single(s => s.Action == StepAction.RetirePublicKey);
        Assert.Contains("until 2025-06-02T12:00:00Z", retire.Detail, StringComparison.Ordinal);
        Assert.Contains(p.Notes, n => n.Contains("autoContinue", StringComparison.Ordinal));
    }

    [Fact]
    public void StorageCredential_StoragePlaneOnly()
    {
        var p = Plan(HomelabModel.Build(), "s3-secret");
        Assert.Equal(RotationRule.StorageCredential, Assert.Single(p.Rotations).Rule);
        Assert.Equal(["s3-secret"], Targets(p, StepAction.ReImport));
        Assert.Equal(["atticd-env"], Targets(p, StepAction.ReRender));
        Assert.Empty(Targets(p, StepAction.ReMint));
        Assert.Contains(p.Unchanged, u => u.Contains("no public key or token changes", StringComparison.Ordinal));
    }

    [Fact]
    public void ExternalToken_IsReImportedNotMinted()
    {
        var p = Plan(HomelabModel.Build(), "github-token");
        Assert.Equal(RotationRule.ExternalToken, Assert.Single(p.Rotations).Rule);
        var step = p.Steps.Single(s => s.Action == StepAction.ReImport);
        Assert.Contains("tokens.json", step.Detail, StringComparison.Ordinal);
        Assert.Contains(p.Steps, s => s.Action == StepAction.Verify && s.Target == "live github-token");
    }

    [Fact]
    public void StandaloneSecret_Regenerated()
    {
        var p = Plan(HomelabModel.Build(), "grafana-password");
        Assert.Equal(RotationRule.StandaloneSecret, Assert.Single(p.Rotations).Rule);
        Assert.Equal(["grafana-env"], Targets(p, StepAction.ReRender));
    }

    [Fact]
    public void Exposed_CiToken_ProposesThatTokenAlone()
    {
        var m = HomelabModel.Build();
        var intent = RotationPlanner.NarrowestFor(m, ["ci-push-token"], broad: false);
        Assert.Equal(["ci-push-token"], intent.Credentials);
        var p = RotationPlanner.Plan(m, StoreFacts.Empty, intent, Now);
        Assert.Equal(["ci-push-token"], p.NewVersions);
        Assert.Contains(p.Notes, n => n.Contains("no revocation list", StringComparison.Ordinal));
    }

    [Fact]
    public void Exposed_JwtSecret_ProposesSecretAndEveryToken()
    {
        var m = HomelabModel.Build();
        var p = RotationPlanner.Plan(m, StoreFacts.Empty, RotationPlanner.NarrowestFor(m, ["attic-jwt-secret"], false), Now);
        Assert.Equal(["attic-jwt-secret", "ci-push-token", "admin-token", "reader-token"], p.NewVersions);
    }

    [Fact]
    public void Exposed_Broad_AddsTheSigner()
    {
        var intent = RotationPlanner.NarrowestFor(HomelabModel.Build(), ["ci-push-token"], broad: true);
        Assert.Equal(["attic-jwt-secret", "ci-push-token"], intent.Credentials);
    }

    [Fact]
    public void RotateSecret_ForExposedToken_IsRefusedWithReason_UnlessBroad()
    {
        var m = HomelabModel.Build();
        var ex = Assert.Throws<KeywardException>(() =>
            RotationPlanner.Plan(m, StoreFacts.Empty, new RotationIntent(["attic-jwt-secret"], RotationReason.Exposed, ["ci-push-token"]), Now));
        Assert.Equal(ErrorCodes.RotationBroaderThanExposure, ex.First.Code);
        Assert.Contains("admin-token", ex.First.Message, StringComparison.Ordinal);
        Assert.Contains("contained by rotating ci-push-token alone", ex.First.Message, StringComparison.Ordinal);

        var broad = RotationPlanner.Plan(m, StoreFacts.Empty, new RotationIntent(["attic-jwt-secret"], RotationReason.Exposed, ["ci-push-token"], Broad: true), Now);
        Assert.Contains("ci-push-token", broad.NewVersions);
    }

    [Fact]
    public void RotateToken_ForExposedSecret_IsRefusedAsInsufficient()
    {
        var ex = Assert.Throws<KeywardException>(() =>
            RotationPlanner.Plan(HomelabModel.Build(), StoreFacts.Empty, new RotationIntent(["ci-push-token"], RotationReason.Exposed, ["attic-jwt-secret"], Broad: true), Now));
        Assert.Equal(ErrorCodes.RotationMissesExposure, ex.First.Code);
    }

    [Fact]
    public void Exposure_IgnoresOverlap()
    {
        var m = HomelabModel.Build(cacheKeyPolicy: new RotationPolicy(Overlap: HumanDuration.Parse("24h")));
        var p = RotationPlanner.Plan(m, StoreFacts.Empty, RotationPlanner.NarrowestFor(m, ["attic-cache-key"], false), Now);
        Assert.Contains("drop main-1", p.Steps.Single(s => s.Action == StepAction.RetirePublicKey).Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void UnknownCredential_IsBadInput()
    {
        var ex = Assert.Throws<KeywardException>(() => Plan(HomelabModel.Build(), "nope"));
        Assert.Equal(ErrorCodes.NotInManifest, ex.First.Code);
        Assert.Equal(ErrorKind.BadInput, ex.Kind);
    }

    [Fact]
    public void LedgerOnlyTokens_AreRevokedNotReMinted()
    {
        var facts = new StoreFacts([], [new LedgerEntry("t1", "hand-issued", 1, "laptop", "", Now.AddDays(5).AddDays(-30), Now.AddDays(5), "fp", "attic-jwt-secret", 1, null)]);
        var p = RotationPlanner.Plan(HomelabModel.Build(), facts, new RotationIntent(["attic-jwt-secret"]), Now);
        Assert.Equal(["hand-issued"], Targets(p, StepAction.Revoke));
        Assert.DoesNotContain("hand-issued", p.NewVersions);
    }

    [Fact]
    public void KeyNames_Increment()
    {
        Assert.Equal("main-2", RotationPlanner.NextKeyName("main-1"));
        Assert.Equal("cache.example.org-10", RotationPlanner.NextKeyName("cache.example.org-9"));
        Assert.Equal("main-2", RotationPlanner.NextKeyName("main"));
    }

    [Fact]
    public void StageDetail_UsesStoreVersions()
    {
        var facts = new StoreFacts([new CredentialVersion("attic-cache-key", 3, "nix-signing-key", VersionState.Active, Now.AddDays(-100), null, "fp", "generated", new Dictionary<string, string> { ["keyName"] = "main-3" })], []);
        var p = RotationPlanner.Plan(HomelabModel.Build(), facts, new RotationIntent(["attic-cache-key"]), Now);
        Assert.Contains("main-4", p.Steps[0].Detail, StringComparison.Ordinal);
    }
}
