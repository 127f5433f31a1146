using Keyward.Core.Errors;
using Keyward.Core.Manifest;
using Keyward.Core.Rotation;
using Keyward.Core.Store;

namespace Keyward.Core.Tests.Rotation;

/// <summary>What a service's API allows for rotating its own token decides the plan, the due policy and refusals:
/// Gitea creates a token only with Basic auth and the user's password (a token cannot create a token).</summary>
public sealed class ApiRotationTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 23, 12, 0, 0, TimeSpan.Zero);

    private static KeywardManifest Gitea(bool password, bool source)
    {
        var yaml = $$"""
            apiVersion: keyward/v1
            credentials:
              gitea-token:
                kind: external
                provider: gitea
                owner: platform
                purpose: admin API token
                rotation: { maxAge: 90d }
            {{(source ? "    source: { file: /etc/gitea-token }\n" : "")}}  gitea-admin-password: { kind: external, provider: generic, owner: platform, purpose: Gitea admin login, source: { env: GITEA_PASSWORD } }
            services:
              gitea:
                kind: gitea
                url: https://git.example.org
                token: gitea-token
                scopes: [write:repository]
            {{(password ? "    adminUser: admin\n    adminPassword: gitea-admin-password\n" : "")}}
            """;
        var result = ManifestLoader.Parse(yaml, "keyward.yaml");
        return result.Manifest ?? throw new InvalidOperationException(string.Join("\n", result.Diagnostics.Select(d => d.Error.ToString())));
    }

    private static StoreFacts Stored(DateTimeOffset created) =>
        new([new CredentialVersion("gitea-token", 1, "external", VersionState.Active, created, null, "fp", "import", new Dictionary<string, string>())], []);

    [Theory]
    [InlineData(true, false, ApiRotationKind.Gitea)]
    [InlineData(false, false, ApiRotationKind.GiteaWithoutPassword)]
    [InlineData(false, true, ApiRotationKind.GiteaWithoutPassword)]
    public void For_GiteaToken_DependsOnTheAdminPassword(bool password, bool source, ApiRotationKind expected) =>
        Assert.Equal(expected, ApiRotation.For(Gitea(password, source), (ExternalCredential)Gitea(password, source).FindCredential("gitea-token")!));

    [Fact]
    public void Plan_GiteaTokenWithoutPasswordOrSource_IsRefusedWithKW0816AndTheWaysOut()
    {
        var ex = Assert.Throws<KeywardException>(() => RotationPlanner.Plan(Gitea(password: false, source: false), Stored(Now.AddDays(-1)), new RotationIntent(["gitea-token"], RotationReason.Manual), Now));
        var error = Assert.Single(ex.Errors);
        Assert.Equal(ErrorCodes.ServiceTokenNotRotatable, error.Code);
        Assert.Contains("Basic auth", error.Message, StringComparison.Ordinal);
        Assert.Contains("adminPassword", error.Hint, StringComparison.Ordinal);
        Assert.Contains("source", error.Hint, StringComparison.Ordinal);
        Assert.NotNull(error.Location);
    }

    [Fact]
    public void Plan_GiteaTokenWithSourceButNoPassword_ReImportsAHandMadeToken()
    {
        var plan = RotationPlanner.Plan(Gitea(password: false, source: true), Stored(Now.AddDays(-1)), new RotationIntent(["gitea-token"], RotationReason.Manual), Now);
        var step = plan.Steps.First(s => s.Target == "gitea-token");
        Assert.Contains("generate-access-token", step.Detail, StringComparison.Ordinal);
        Assert.Contains("/etc/gitea-token", step.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Plan_GiteaTokenWithPassword_CreatesTheNextThroughTheApi()
    {
        var plan = RotationPlanner.Plan(Gitea(password: true, source: false), Stored(Now.AddDays(-1)), new RotationIntent(["gitea-token"], RotationReason.Manual), Now);
        Assert.Contains("through Gitea's API with Basic auth", plan.Steps.First(s => s.Target == "gitea-token").Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Due_GiteaTokenWithPassword_IsRenewedAtMaxAge_ItNeverExpires()
    {
        var due = DuePolicy.Evaluate(Gitea(password: true, source: false), Stored(Now.AddDays(-91)), Now);
        var item = Assert.Single(due.Due);
        Assert.True(item.Rotatable);
        Assert.Equal(Now.AddDays(-1), item.DueAt);
        Assert.Equal(["gitea-token"], due.ToRotate);
        Assert.Empty(DuePolicy.Evaluate(Gitea(password: true, source: false), Stored(Now.AddDays(-30)), Now).Due);
    }

    [Fact]
    public void Due_GiteaTokenWithoutPassword_IsNeverRotatedByPolicy()
    {
        var due = DuePolicy.Evaluate(Gitea(password: false, source: true), Stored(Now.AddDays(-91)), Now);
        Assert.Empty(due.ToRotate);
    }
}
