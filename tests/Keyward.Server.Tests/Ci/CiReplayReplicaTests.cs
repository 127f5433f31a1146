using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using Keyward.Store.Postgres;
using Npgsql;

namespace Keyward.Server.Tests.Ci;

/// <summary>Replay across replicas: two <c>serve</c> replicas on one real PostgreSQL (<c>KEYWARD_TEST_POSTGRES</c>) and a
/// real issuer (PyJWT). One ID token sent to both at once buys exactly one Attic token; the other replica refuses it as a
/// replay (KW1420), because the ledger row both try to write has one id.</summary>
[Trait("Category", "Interop")]
public sealed class CiReplayReplicaTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task One_ID_token_sent_to_two_replicas_at_once_is_exchanged_exactly_once()
    {
        var admin = Environment.GetEnvironmentVariable("KEYWARD_TEST_POSTGRES");
        if (string.IsNullOrEmpty(admin)) Assert.Skip("needs KEYWARD_TEST_POSTGRES (./test.sh starts a throwaway PostgreSQL)");
        var db = "kw_test_" + Guid.NewGuid().ToString("N")[..12];
        await using (var c = new NpgsqlConnection(admin))
        {
            await c.OpenAsync(Ct);
            await using var create = new NpgsqlCommand($"CREATE DATABASE {db}", c);
            await create.ExecuteNonQueryAsync(Ct);
        }
        var store = PostgresConnection.Parse(new NpgsqlConnectionStringBuilder(admin) { Database = db, Pooling = false }.ConnectionString);
        await using var issuer = await PythonIssuer.StartAsync();
        ServedState? served = null;
        Microsoft.AspNetCore.Builder.WebApplication? second = null;
        try
        {
            served = await ServedState.StartAsync($$"""
                apiVersion: keyward/v1
                credentials:
                  attic-jwt-secret: { kind: secret, bytes: 64, owner: o, purpose: signs Attic tokens }
                trustedPublishers:
                  gh-main:
                    issuer: {{issuer.Issuer}}
                    audience: https://keyward.test
                    signedBy: attic-jwt-secret
                    claims: { repository: example-org/infra }
                    caches: { main: [pull, push] }
                """, store: store);
            second = await served.StartReplicaAsync();
            var now = TimeProvider.System.GetUtcNow().ToUnixTimeSeconds();
            var idToken = await issuer.MintAsync("rsa-1", new JsonObject
            {
                ["jti"] = Guid.NewGuid().ToString(), ["iss"] = issuer.Issuer, ["aud"] = "https://keyward.test", ["sub"] = "repo:example-org/infra:ref:refs/heads/main",
                ["repository"] = "example-org/infra", ["iat"] = now, ["nbf"] = now - 60, ["exp"] = now + 300,
            });

            using var a = new HttpClient { BaseAddress = served.Url, Timeout = TimeSpan.FromSeconds(60) };
            using var b = new HttpClient { BaseAddress = KeywardServer.BoundAddress(second), Timeout = TimeSpan.FromSeconds(60) };
            async Task<(HttpStatusCode Status, JsonNode Body)> Exchange(HttpClient http)
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/ci/attic-token");
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", idToken);
                using var response = await http.SendAsync(request, Ct);
                return (response.StatusCode, JsonNode.Parse(await response.Content.ReadAsStringAsync(Ct))!);
            }
            var answers = await Task.WhenAll(Exchange(a), Exchange(b));
            var ok = Assert.Single(answers, x => x.Status == HttpStatusCode.OK);
            var refused = Assert.Single(answers, x => x.Status != HttpStatusCode.OK);
            Assert.True(refused.Status == HttpStatusCode.Unauthorized, $"{(int)refused.Status} {refused.Body.ToJsonString()}");
            Assert.Equal("replayed", (string?)refused.Body["error"]);
            // And later, on either replica.
            foreach (var http in new[] { a, b })
                Assert.Equal("replayed", (string?)(await Exchange(http)).Body["error"]);

            await using var state = await served.OpenAsync();
            var entry = Assert.Single(await state.Store.ListLedgerAsync(Ct));
            Assert.Equal((string?)ok.Body["tokenId"], entry.TokenId);
            Assert.Empty(await state.Store.VerifyAuditAsync(Ct));
        }
        finally
        {
            if (second is not null)
            {
                await second.StopAsync(CancellationToken.None);
                await second.DisposeAsync();
            }
            if (served is not null) await served.DisposeAsync();
            NpgsqlConnection.ClearAllPools();
            await using var c = new NpgsqlConnection(admin);
            await c.OpenAsync(CancellationToken.None);
            await Keyward.Store.Tests.Support.TestDatabaseDrop.DropAsync(c, db);
        }
    }
}
