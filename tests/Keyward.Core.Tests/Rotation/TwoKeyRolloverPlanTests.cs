using Keyward.Core.Store;
using Keyward.Core.Manifest;
using Keyward.Core.Rotation;

namespace Keyward.Core.Tests.Rotation;

/// <summary>
/// Two cache signing keys rolled over in one rotation (<c>keyward rotate key-a key-b</c>) whose public halves reach the
/// same hosts: each key's phase needs its own deliver steps (the hosts must confirm the trust list that names the second
/// key's new half too), and phase one of both keys comes before phase two of either.
/// </summary>
public sealed class TwoKeyRolloverPlanTests
{
    private static readonly DateTimeOffset Now = new(2025, 6, 1, 12, 0, 0, TimeSpan.Zero);
    private const string R1 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOsCyxd30V4V79+Eabrhe6xoLVHQcMm61Yb1xrwCeUem";
    private const string R2 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINyjAiU/kxduccuSaoyCcgo9KBDjB7RzOvx17K6fcqFl";

    private static KeywardManifest Manifest() => ManifestLoader.Parse($$"""
        apiVersion: keyward/v1
        hosts:
          runner-1: { sshKey: "{{R1}}" }
          runner-2: { sshKey: "{{R2}}" }
        credentials:
          key-a: { kind: nix-signing-key, keyName: a-1, owner: o, purpose: p }
          key-b: { kind: nix-signing-key, keyName: b-1, owner: o, purpose: p }
        sinks:
          both-keys:
            hosts: [runner-1, runner-2]
            path: /etc/nix/keyward.conf
            format: nix-conf
            trustedPublicKeys: [key-a, key-b]
          b-only:
            host: runner-2
            path: /etc/nix/keyward-b.conf
            format: nix-conf
            trustedPublicKeys: [key-b]
        """.ReplaceLineEndings("\n"), "keyward.yaml").OrThrow();

    private static RotationPlan Plan() => RotationPlanner.Plan(Manifest(), StoreFacts.Empty, new RotationIntent(["key-a", "key-b"]), Now);

    [Theory]
    [InlineData("key-a", RotationPhase.PublishTrust)]
    [InlineData("key-b", RotationPhase.PublishTrust)]
    [InlineData("key-a", RotationPhase.SwitchSigning)]
    [InlineData("key-b", RotationPhase.SwitchSigning)]
    public void EachKey_WaitsForEveryHostThatTrustsIt(string key, RotationPhase phase)
    {
        var p = Plan();
        var delivers = p.Steps.Where(s => s.Action == StepAction.Deliver && s.Phase == phase && s.Credential == key).Select(s => s.Target);
        Assert.Equal(["runner-1", "runner-2"], delivers);
    }

    [Fact]
    public void SecondKeysDeliverSteps_ComeAfterItIsStaged()
    {
        var p = Plan();
        var stageB = p.Steps.Single(s => s.Action == StepAction.Stage && s.Target == "key-b");
        var deliverB = p.Steps.Where(s => s.Action == StepAction.Deliver && s.Phase == RotationPhase.PublishTrust).Last();
        Assert.True(stageB.Order < deliverB.Order, "a host must confirm a trust list naming key-b's new half before key-b may sign");
        // The shared sink is re-rendered for key-b as well (its trust list changes again once key-b is staged).
        Assert.Contains(p.Steps, s => s.Action == StepAction.PropagatePublicKey && s.Target == "both-keys" && s.Credential == "key-b" && s.Order > stageB.Order);
    }

    [Fact]
    public void PhaseOneOfBothKeys_ComesBeforePhaseTwoOfEither()
    {
        var p = Plan();
        var lastPhaseOne = p.Steps.Where(s => s.Phase == RotationPhase.PublishTrust).Max(s => s.Order);
        var firstPhaseTwo = p.Steps.Where(s => s.Phase == RotationPhase.SwitchSigning).Min(s => s.Order);
        Assert.True(lastPhaseOne < firstPhaseTwo, "--continue must follow the publication of both new keys");
        Assert.Equal(Enumerable.Range(1, p.Steps.Count), p.Steps.Select(s => s.Order));
    }
}
