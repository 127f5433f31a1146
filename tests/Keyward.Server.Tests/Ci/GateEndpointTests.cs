using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Keyward.Core.Attic;
using Keyward.Core.Manifest;
using Keyward.Core.Secrets;
using Keyward.Crypto.Attic;
using Keyward.Engine.Minting;
using Keyward.Store;
using Keyward.Core.Store;

namespace Keyward.Server.Tests.Ci;

/// <summary>GET /api/v1/attic/auth called directly (no nginx): the manifest's gate switches and signer rollover.</summary>
public sealed class GateEndpointTests
{
    private static string Manifest(string gate = "") => $"""
        apiVersion: keyward/v1
        credentials:
          attic-jwt-secret: {"{"} kind: secret, bytes: 64, owner: o, purpose: p {"}"}
          reader: {"{"} kind: attic-token, signedBy: attic-jwt-secret, subject: reader, validity: 1d, caches: {"{"} main: [pull] {"}"}, owner: o, purpose: p {"}"}
        {gate}
        """;

    private static async Task<(HttpStatusCode Status, string Reason)> AskAsync(ServedState s, AuthenticationHeaderValue? auth, string? uri = "/main/nix-cache-info")
    {
        using var http = new HttpClient { BaseAddress = s.Url };
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/v1/attic/auth");
        request.Headers.Authorization = auth;
        if (uri is not null) request.Headers.Add("X-Original-URI", uri);
        using var response = await http.SendAsync(request, TestContext.Current.CancellationToken);
        return (response.StatusCode, response.Headers.TryGetValues("X-Keyward-Gate", out var v) ? v.Single() : "");
    }

    private static async Task<string> MintLedgeredAsync(ServedState s, int signerVersion, byte[] secret)
    {
        await using var state = await StateDirectory.OpenForWriteAsync(s.StateDir, StateLockOptions.Default, TimeProvider.System, CancellationToken.None);
        var m = ManifestLoader.Load(Path.Combine(s.Dir, "keyward.yaml")).OrThrow();
        var spec = (AtticTokenCredential)m.FindCredential("reader")! with { Subject = "reader-" + Guid.NewGuid().ToString("N") };
        using var signer = Secret.FromBytes(secret);
        var minted = new CredentialMinter(TimeProvider.System).MintToken(spec, new SignerValue(m.FindCredential("attic-jwt-secret")!, signer, signerVersion), 1, state.Store.Fingerprint);
        await state.Store.RecordTokenAsync(minted.Ledger!, CancellationToken.None);
        return minted.Value.RevealString();
    }

    private static string Foreign(byte[] secret)
    {
        using var key = AtticSigningKey.ForSigner(CredentialKind.Secret, Secret.FromBytes(secret), "x");
        var now = TimeProvider.System.GetUtcNow();
        return AtticTokens.Mint(new AtticTokenRequest("atticadm", now.AddHours(1), now, [new AtticGrant(CacheNamePattern.Parse("main"), [AtticPermission.Pull])]), key).Jwt.RevealString();
    }

    [Fact]
    public async Task A_token_of_the_previous_secret_passes_during_the_overlap_and_is_refused_once_that_version_is_retired()
    {
        await using var s = await ServedState.StartAsync(Manifest());
        var token = await MintLedgeredAsync(s, 1, s.JwtSecret);
        var bearer = new AuthenticationHeaderValue("Bearer", token);
        Assert.Equal((HttpStatusCode.NoContent, "ok"), await AskAsync(s, bearer));

        await using (var state = await StateDirectory.OpenForWriteAsync(s.StateDir, StateLockOptions.Default, TimeProvider.System, CancellationToken.None))
            await state.Store.PutAsync(new NewVersion("attic-jwt-secret", "secret", Secret.Random(64), VersionState.Active,
                TimeProvider.System.GetUtcNow(), null, "generated", new Dictionary<string, string>()), CancellationToken.None);
        Assert.Equal((HttpStatusCode.NoContent, "ok"), await AskAsync(s, bearer)); // version 1 is now previous

        await using (var state = await StateDirectory.OpenForWriteAsync(s.StateDir, StateLockOptions.Default, TimeProvider.System, CancellationToken.None))
            await state.Store.SetStateAsync("attic-jwt-secret", 1, VersionState.Retired, CancellationToken.None);
        Assert.Equal((HttpStatusCode.Unauthorized, "unknown-signer"), await AskAsync(s, bearer));
    }

    [Fact]
    public async Task A_token_that_passed_before_is_refused_once_it_expires_even_when_remembered()
    {
        var clock = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(TimeProvider.System.GetUtcNow().AddSeconds(5)); // ahead of the minted nbf whatever the second
        await using var s = await ServedState.StartAsync(Manifest(), time: clock);
        var bearer = new AuthenticationHeaderValue("Bearer", await MintLedgeredAsync(s, 1, s.JwtSecret));
        Assert.Equal((HttpStatusCode.NoContent, "ok"), await AskAsync(s, bearer));
        Assert.Equal((HttpStatusCode.NoContent, "ok"), await AskAsync(s, bearer)); // answered from the snapshot's memory
        clock.Advance(TimeSpan.FromDays(2));
        Assert.Equal((HttpStatusCode.Unauthorized, "expired"), await AskAsync(s, bearer));
    }

    [Fact]
    public async Task Basic_auth_with_the_token_as_password_is_read_as_Nix_sends_netrc_credentials()
    {
        await using var s = await ServedState.StartAsync(Manifest());
        var token = await MintLedgeredAsync(s, 1, s.JwtSecret);
        var basic = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes("ci:" + token)));
        Assert.Equal((HttpStatusCode.NoContent, "ok"), await AskAsync(s, basic));
        Assert.Equal((HttpStatusCode.Forbidden, "not-granted"), await AskAsync(s, basic, "/_api/v1/cache-config/main".Replace("main", "other", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task Foreign_tokens_are_refused_by_default_and_pass_when_the_manifest_allows_them()
    {
        await using (var refuse = await ServedState.StartAsync(Manifest()))
            Assert.Equal((HttpStatusCode.Unauthorized, "not-minted-by-keyward"), await AskAsync(refuse, new AuthenticationHeaderValue("Bearer", Foreign(refuse.JwtSecret))));
        await using var allow = await ServedState.StartAsync(Manifest("gate: { foreignTokens: allow }"));
        Assert.Equal((HttpStatusCode.NoContent, "foreign-token"), await AskAsync(allow, new AuthenticationHeaderValue("Bearer", Foreign(allow.JwtSecret))));
    }

    [Fact]
    public async Task Requests_without_a_token_pass_by_default_and_are_refused_when_anonymous_is_refuse()
    {
        await using (var pass = await ServedState.StartAsync(Manifest()))
            Assert.Equal((HttpStatusCode.NoContent, "anonymous"), await AskAsync(pass, null));
        await using var refuse = await ServedState.StartAsync(Manifest("gate: { anonymous: refuse }"));
        Assert.Equal((HttpStatusCode.Unauthorized, "no-token"), await AskAsync(refuse, null));
    }
}
