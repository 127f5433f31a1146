using Keyward.Core.Errors;
using Keyward.Core.Secrets;
using Keyward.Services.Gitea;
using Keyward.Services.Http;
using Keyward.Services.Tests.ContractServers;

namespace Keyward.Services.Tests;

/// <summary>KW0905's hint points at the right next step for the service that answered 404.</summary>
public sealed class NotFoundHintContractTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Gitea_InstallerAnswers404Html_HintNamesTheInstaller_NotAttic()
    {
        // Issue 10 bug 6: the hint said "for Attic, create the cache with `keyward reconcile`".
        await using var gitea = new GiteaContractServer { Installed = false };
        var client = new GiteaClient(new ServiceHttp("gitea", gitea.Url, ErrorShape.Gitea, ServiceHttp.CreateClient(), M.FastHttp()));
        var ex = await Assert.ThrowsAsync<KeywardException>(() => client.ValidateAsync(Secret.FromUtf8(new string('a', 40)), Ct));
        Assert.Equal(ErrorCodes.ServiceNotFound, ex.First.Code);
        Assert.Contains("installer", ex.First.Hint, StringComparison.Ordinal);
        Assert.Contains("keyward bootstrap gitea", ex.First.Hint, StringComparison.Ordinal);
        Assert.DoesNotContain("Attic", ex.First.Hint, StringComparison.Ordinal);
    }
}
