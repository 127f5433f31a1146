using Keyward.Core.Store;
using Keyward.Store.Postgres;
using Keyward.Store.Tests.Support;
using Npgsql;

namespace Keyward.Store.Tests.Contract;

/// <summary>The store contract against a real PostgreSQL (KEYWARD_TEST_POSTGRES; skipped without it): each store in
/// its own fresh database, dropped afterwards, with the replica's identity in its own temporary state directory.</summary>
public sealed class PostgresCredentialStoreContractTests : CredentialStoreContractTests
{
    private readonly List<TempDirectory> _dirs = [];
    private readonly List<TestDatabase> _databases = [];
    private readonly Dictionary<string, (string Dir, TestDatabase Db)> _where = new(StringComparer.Ordinal);

    protected override async Task<ICredentialStore> CreateEmptyStoreAsync(CancellationToken cancellationToken)
    {
        var db = await TestPostgres.CreateDatabaseAsync(cancellationToken);
        _databases.Add(db);
        var dir = new TempDirectory();
        _dirs.Add(dir);
        var state = await PostgresState.OpenOrInitAsync(dir.Combine("state"), db.Connection, [], StateLockOptions.Default, TestStates.Time, new FakeDataKeyWrap(), cancellationToken);
        _where[state.Store.StoreId] = (dir.Combine("state"), db);
        return state.Store;
    }

    protected override async Task<ICredentialStore> ReopenStoreAsync(ICredentialStore store, CancellationToken cancellationToken)
    {
        var (dir, db) = _where[store.StoreId];
        await store.DisposeAsync();
        var state = await PostgresState.OpenAsync(dir, db.Connection, TestStates.Time, new FakeDataKeyWrap(), cancellationToken);
        return state.Store;
    }

    protected override async Task<ICredentialStore> OpenSecondStoreAsync(ICredentialStore store, CancellationToken cancellationToken)
    {
        var (dir, db) = _where[store.StoreId];
        return (await PostgresState.OpenAsync(dir, db.Connection, TestStates.Time, new FakeDataKeyWrap(), cancellationToken)).Store;
    }

    protected override async Task<(byte[] Nonce, byte[] Ciphertext)> ReadCiphertextAsync(ICredentialStore store, string name, int version)
    {
        await using var raw = await _where[store.StoreId].Db.OpenRawAsync(Ct);
        await using var command = new NpgsqlCommand("SELECT nonce, ciphertext FROM versions WHERE name = @n AND version = @v;", raw);
        command.Parameters.AddWithValue("n", name);
        command.Parameters.AddWithValue("v", version);
        await using var reader = await command.ExecuteReaderAsync(Ct);
        Assert.True(await reader.ReadAsync(Ct));
        return ((byte[])reader.GetValue(0), (byte[])reader.GetValue(1));
    }

    protected override async Task WriteCiphertextAsync(ICredentialStore store, string name, int version, byte[] nonce, byte[] ciphertext)
    {
        await using var raw = await _where[store.StoreId].Db.OpenRawAsync(Ct);
        await using var command = new NpgsqlCommand("UPDATE versions SET nonce = @nonce, ciphertext = @c WHERE name = @n AND version = @v;", raw);
        command.Parameters.AddWithValue("nonce", nonce);
        command.Parameters.AddWithValue("c", ciphertext);
        command.Parameters.AddWithValue("n", name);
        command.Parameters.AddWithValue("v", version);
        Assert.Equal(1, await command.ExecuteNonQueryAsync(Ct));
    }

    protected override async Task TamperAuditAsync(ICredentialStore store, AuditTamper tamper)
    {
        var db = _where[store.StoreId].Db;
        await db.ExecAsync($"ALTER TABLE audit DISABLE TRIGGER USER; {tamper.Sql} ALTER TABLE audit ENABLE TRIGGER USER;", Ct);
    }

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        foreach (var db in _databases) await db.DisposeAsync();
        foreach (var dir in _dirs) dir.Dispose();
    }
}
