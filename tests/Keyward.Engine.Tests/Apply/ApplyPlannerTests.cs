using Keyward.Core.Manifest;
using Keyward.Core.Rotation;
using Keyward.Core.Store;
using Keyward.Engine.Apply;
using Keyward.Engine.Delivery;

namespace Keyward.Engine.Tests.Apply;

/// <summary>Apply's decisions as a pure function: facts in, changes out — no store, no disk, no clock.</summary>
public sealed class ApplyPlannerTests : IDisposable
{
    private static readonly DateTimeOffset Now = new(2026, 12, 2, 12, 0, 0, TimeSpan.Zero);
    private readonly string _dir = Directory.CreateTempSubdirectory("kw-applyplanner-").FullName;
    private readonly KeywardManifest _m;

    public ApplyPlannerTests()
    {
        var path = Path.Combine(_dir, "keyward.yaml");
        File.WriteAllText(path, """
            apiVersion: keyward/v1
            credentials:
              signer: { kind: secret, bytes: 48, owner: attic, purpose: signs tokens, rotation: { maxAge: 90d } }
              ci: { kind: attic-token, signedBy: signer, subject: ci, validity: 30d, owner: ci, purpose: push, caches: { main: [pull, push] } }
              gh: { kind: external, provider: github, host: github.com, owner: platform, purpose: flakes, source: { file: gh.txt } }
            sinks:
              runner-env:
                path: /etc/runner.env
                format: env
                owner: root
                mode: "0600"
                entries:
                  ATTIC_TOKEN: { credential: ci }
                  GH: { credential: gh }
            """);
        _m = ManifestLoader.Load(path).OrThrow();
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static CredentialVersion V(string name, int version, string fingerprint, VersionState state = VersionState.Active, DateTimeOffset? created = null,
        DateTimeOffset? expires = null, Dictionary<string, string>? metadata = null) =>
        new(name, version, "secret", state, created ?? Now.AddDays(-1), expires, fingerprint, "generated", metadata ?? []);

    private static Dictionary<string, string> SignedBy(int version) => new() { [VersionMetadata.SignedByKey] = "signer", [VersionMetadata.SignedByVersionKey] = $"{version}" };

    private IReadOnlyDictionary<string, CredentialChange> Plan(StoreFacts facts, ExternalReading gh)
    {
        var due = DuePolicy.Evaluate(_m, facts, Now);
        return ApplyPlanner.Credentials(_m, facts, due, new Dictionary<string, ExternalReading> { ["gh"] = gh }, Now)
            .ToDictionary(c => c.Credential.Name);
    }

    [Fact]
    public void EmptyStore_CreatesEverything_AndAPlaceholderSourceWaitsForBootstrap()
    {
        var plan = Plan(StoreFacts.Empty, new ExternalReading("file gh.txt", null));
        Assert.Equal(ChangeAction.Create, plan["signer"].Action);
        Assert.Equal(ChangeAction.Create, plan["ci"].Action);
        Assert.Equal(ChangeAction.Pending, plan["gh"].Action);
        Assert.Contains("file gh.txt holds the bootstrap placeholder", plan["gh"].Reason, StringComparison.Ordinal);
        Assert.Equal(["signer", "ci", "gh"], plan.Keys); // manifest order, though tokens are decided after signers
    }

    [Fact]
    public void TokenSignedByAnOlderSignerVersion_IsReMinted_AndAMatchingOneIsNot()
    {
        var signer = V("signer", 2, "kw1:s2");
        var stale = Plan(new StoreFacts([signer, V("ci", 1, "kw1:t1", expires: Now.AddDays(25), metadata: SignedBy(1)), V("gh", 1, "kw1:g1")], []),
            new ExternalReading("file gh.txt", "kw1:g1"));
        Assert.Equal(ChangeAction.Update, stale["ci"].Action);
        Assert.Contains("signed by signer version 1, now version 2", stale["ci"].Reason, StringComparison.Ordinal);
        Assert.Equal(ChangeAction.Unchanged, stale["gh"].Action);

        var current = Plan(new StoreFacts([signer, V("ci", 1, "kw1:t1", expires: Now.AddDays(25), metadata: SignedBy(2)), V("gh", 1, "kw1:g1")], []),
            new ExternalReading("file gh.txt", "kw1:g1"));
        Assert.Equal(ChangeAction.Unchanged, current["ci"].Action);
    }

    [Fact]
    public void SignerPastMaxAge_GoesThroughRotation_AndTakesItsTokensWithIt()
    {
        var plan = Plan(new StoreFacts([V("signer", 1, "kw1:s1", created: Now.AddDays(-91)), V("ci", 1, "kw1:t1", expires: Now.AddDays(25), metadata: SignedBy(1))], []),
            new ExternalReading("file gh.txt", null));
        Assert.True(plan["signer"].ViaRotation);
        Assert.Equal(ChangeAction.Update, plan["signer"].Action);
        Assert.True(plan["ci"].ViaRotation);
        Assert.Contains("re-minted by the rotation of signer", plan["ci"].Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void ExternalSource_NewValueImports_ButAValueKeywardReplacedIsNeverImportedBack()
    {
        var facts = new StoreFacts([V("gh", 1, "kw1:old", VersionState.Retired), V("gh", 2, "kw1:new")], []);
        Assert.Equal(ChangeAction.Update, Plan(facts, new ExternalReading("file gh.txt", "kw1:other"))["gh"].Action);
        var back = Plan(facts, new ExternalReading("file gh.txt", "kw1:old"))["gh"];
        Assert.Equal(ChangeAction.Unchanged, back.Action);
        Assert.Contains("still holds the replaced version 1 (not imported)", back.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Sink_FollowsItsCredentials_ThenItsFile()
    {
        var sink = _m.FindSink("runner-env")!;
        var pending = Plan(StoreFacts.Empty, new ExternalReading("file gh.txt", null));
        Assert.Equal(ChangeAction.Pending, ApplyPlanner.FromCredentials(sink, pending, "/x", fileExists: _ => false)!.Action);

        var moving = Plan(StoreFacts.Empty, new ExternalReading("file gh.txt", "kw1:g"));
        var created = ApplyPlanner.FromCredentials(sink, moving, "/x", fileExists: _ => false)!;
        Assert.Equal((ChangeAction.Create, "ci, gh change"), (created.Action, created.Reason));
        Assert.Equal(ChangeAction.Update, ApplyPlanner.FromCredentials(sink, moving, "/x", fileExists: _ => true)!.Action);

        var settled = Plan(new StoreFacts([V("signer", 1, "kw1:s"), V("ci", 1, "kw1:t", expires: Now.AddDays(25), metadata: SignedBy(1)), V("gh", 1, "kw1:g")], []),
            new ExternalReading("file gh.txt", "kw1:g"));
        Assert.Null(ApplyPlanner.FromCredentials(sink, settled, "/x", fileExists: _ => true)); // only the disk can say now
    }

    [Fact]
    public void FromDisk_ARightFileWithADriftedLiveSecret_IsAnUpdateThatSaysWhy()
    {
        var sink = _m.FindSink("runner-env")!;
        var current = new SinkInspection(sink, "/x", SinkState.Current, []);
        Assert.Equal(ChangeAction.Unchanged, ApplyPlanner.FromDisk(current, null).Action);
        Assert.Equal(ChangeAction.Unchanged, ApplyPlanner.FromDisk(current, new LiveInspection(LiveState.InSync, "in sync")).Action);
        var drifted = ApplyPlanner.FromDisk(current, new LiveInspection(LiveState.Differs, "live Secret ci/env: key GH differs"));
        Assert.Equal((ChangeAction.Update, "live Secret ci/env: key GH differs"), (drifted.Action, drifted.Reason));
    }
}
