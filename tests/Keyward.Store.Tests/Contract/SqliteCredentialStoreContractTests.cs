using Keyward.Core.Store;
using Keyward.Store.Tests.Support;

namespace Keyward.Store.Tests.Contract;

/// <summary>The store contract against the embedded SQLite store (each store in its own temporary state directory).</summary>
public sealed class SqliteCredentialStoreContractTests : CredentialStoreContractTests
{
    private readonly List<TempDirectory> _dirs = [];

    protected override async Task<ICredentialStore> CreateEmptyStoreAsync(CancellationToken cancellationToken)
    {
        var dir = new TempDirectory();
        _dirs.Add(dir);
        var state = await TestStates.InitAsync(dir.Combine("state"), cancellationToken);
        return state.Store;
    }

    protected override async Task<ICredentialStore> ReopenStoreAsync(ICredentialStore store, CancellationToken cancellationToken)
    {
        var dir = TestStates.DirectoryOf(store);
        await store.DisposeAsync();
        var state = await TestStates.OpenAsync(dir, cancellationToken);
        return state.Store;
    }

    protected override async Task<ICredentialStore> OpenSecondStoreAsync(ICredentialStore store, CancellationToken cancellationToken) =>
        (await TestStates.OpenAsync(TestStates.DirectoryOf(store), cancellationToken)).Store;

    protected override Task<(byte[] Nonce, byte[] Ciphertext)> ReadCiphertextAsync(ICredentialStore store, string name, int version)
    {
        using var raw = TestStates.Raw(TestStates.DirectoryOf(store));
        using var command = raw.CreateCommand();
        command.CommandText = "SELECT nonce, ciphertext FROM versions WHERE name = $n AND version = $v;";
        command.Parameters.AddWithValue("$n", name);
        command.Parameters.AddWithValue("$v", version);
        using var reader = command.ExecuteReader();
        Assert.True(reader.Read());
        return Task.FromResult(((byte[])reader.GetValue(0), (byte[])reader.GetValue(1)));
    }

    protected override Task WriteCiphertextAsync(ICredentialStore store, string name, int version, byte[] nonce, byte[] ciphertext)
    {
        using var raw = TestStates.Raw(TestStates.DirectoryOf(store));
        Assert.Equal(1, TestStates.Exec(raw, "UPDATE versions SET nonce = $nonce, ciphertext = $c WHERE name = $n AND version = $v;",
            ("$nonce", nonce), ("$c", ciphertext), ("$n", name), ("$v", version)));
        return Task.CompletedTask;
    }

    protected override Task TamperAuditAsync(ICredentialStore store, AuditTamper tamper)
    {
        using var raw = TestStates.Raw(TestStates.DirectoryOf(store));
        TestStates.Exec(raw, "DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete;");
        TestStates.Exec(raw, tamper.Sql);
        return Task.CompletedTask;
    }

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        foreach (var dir in _dirs) dir.Dispose();
    }
}
