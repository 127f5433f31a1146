using Keyward.Core.Manifest;
using Keyward.Core.Rotation;
using Keyward.Core.Store;

namespace Keyward.Core.Tests.Rotation;

public sealed class DuePolicyTests
{
    private static readonly DateTimeOffset Now = new(2025, 6, 1, 0, 0, 0, TimeSpan.Zero);
    private static readonly Dictionary<string, string> NoMeta = [];

    private static CredentialVersion Active(string name, DateTimeOffset created, DateTimeOffset? expires = null) =>
        new(name, 1, "secret", VersionState.Active, created, expires, "fp", "generated", NoMeta);

    [Fact]
    public void Token_DueAtExpiryMinusOneThirdValidity()
    {
        // ci-push-token: 30d validity, no renewBefore → due 10d before expiry.
        var created = Now.AddDays(-21);
        var facts = new StoreFacts([Active("ci-push-token", created, created.AddDays(30))], []);
        var r = DuePolicy.Evaluate(HomelabModel.Build(), facts, Now);
        var item = Assert.Single(r.Due);
        Assert.Equal("ci-push-token", item.Credential);
        Assert.Equal(created.AddDays(20), item.DueAt);
        Assert.Equal(["ci-push-token"], r.ToRotate);
    }

    [Fact]
    public void Token_NotYetDue_IsUpcomingWithin30Days()
    {
        var created = Now.AddDays(-5);
        var r = DuePolicy.Evaluate(HomelabModel.Build(), new StoreFacts([Active("ci-push-token", created, created.AddDays(30))], []), Now);
        Assert.Empty(r.Due);
        Assert.Equal(created.AddDays(20), Assert.Single(r.Upcoming).DueAt);
    }

    [Fact]
    public void MaxAge_DueAtCreatedPlusMaxAge()
    {
        var r = DuePolicy.Evaluate(HomelabModel.Build(), new StoreFacts([Active("attic-jwt-secret", Now.AddDays(-366))], []), Now);
        Assert.Equal("attic-jwt-secret", Assert.Single(r.Due).Credential);
        var fresh = DuePolicy.Evaluate(HomelabModel.Build(), new StoreFacts([Active("attic-jwt-secret", Now.AddDays(-300))], []), Now);
        Assert.Empty(fresh.Due);
        Assert.Empty(fresh.Upcoming); // due in 65 days: beyond the window
    }

    [Fact]
    public void ExternalWithExpiry_IsReportedNotRotated()
    {
        var facts = new StoreFacts([Active("github-token", Now.AddDays(-80), Now.AddDays(10))], []);
        var r = DuePolicy.Evaluate(HomelabModel.Build(), facts, Now);
        var item = Assert.Single(r.Due); // lifetime 90d → report 30d before
        Assert.False(item.Rotatable);
        Assert.Empty(r.ToRotate);
    }

    /// <summary>The reasons are written only for reported items; each kind still says what it said.</summary>
    [Fact]
    public void ReportedItems_SayWhyTheyAreDue()
    {
        var created = Now.AddDays(-21);
        var facts = new StoreFacts([
            Active("ci-push-token", created, created.AddDays(30)),
            Active("attic-jwt-secret", Now.AddDays(-366)),
            Active("github-token", Now.AddDays(-80), Now.AddDays(10)),
        ], []);
        var r = DuePolicy.Evaluate(HomelabModel.Build(), facts, Now);
        var reasons = r.Due.ToDictionary(d => d.Credential, d => d.Reason);
        Assert.Equal("expires 2025-06-10T00:00:00Z (validity 30d, renew 10d before)", reasons["ci-push-token"]);
        Assert.Equal("version 1 reaches maxAge 365d on 2025-05-31T00:00:00Z", reasons["attic-jwt-secret"]);
        Assert.Equal("expires 2025-06-11T00:00:00Z; externally minted: create a new one at github and re-import it", reasons["github-token"]);

        var soon = DuePolicy.Evaluate(HomelabModel.Build(), new StoreFacts([Active("ci-push-token", Now.AddDays(-5), Now.AddDays(25))], []), Now);
        var upcoming = Assert.Single(soon.Upcoming);
        Assert.Equal(DueStatus.Upcoming, upcoming.Status);
        Assert.Equal("expires 2025-06-26T00:00:00Z (validity 30d, renew 10d before)", upcoming.Reason);
    }

    [Fact]
    public void NeverMinted_IsNotDue()
    {
        var r = DuePolicy.Evaluate(HomelabModel.Build(), StoreFacts.Empty, Now);
        Assert.Empty(r.Due);
        Assert.Empty(r.Upcoming);
    }
}
