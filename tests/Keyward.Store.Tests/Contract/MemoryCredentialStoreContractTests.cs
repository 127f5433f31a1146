using Keyward.Core.Store;
using Keyward.Store.Memory;

namespace Keyward.Store.Tests.Contract;

/// <summary>The store contract against the in-memory store (each store its own <see cref="MemoryDatabase"/>; reopening
/// opens a new instance over the same rows, as closing and opening a database file does).</summary>
public sealed class MemoryCredentialStoreContractTests : CredentialStoreContractTests
{
    private readonly List<MemoryDatabase> _databases = [];

    private static MemoryDatabase Db(ICredentialStore store) => ((MemoryCredentialStore)store).Database;

    protected override Task<ICredentialStore> CreateEmptyStoreAsync(CancellationToken cancellationToken)
    {
        var db = new MemoryDatabase();
        _databases.Add(db);
        return Task.FromResult<ICredentialStore>(db.Open());
    }

    protected override async Task<ICredentialStore> ReopenStoreAsync(ICredentialStore store, CancellationToken cancellationToken)
    {
        var db = Db(store);
        await store.DisposeAsync();
        return db.Open();
    }

    protected override Task<(byte[] Nonce, byte[] Ciphertext)> ReadCiphertextAsync(ICredentialStore store, string name, int version) =>
        Task.FromResult(Db(store).ReadCiphertext(name, version));

    protected override Task WriteCiphertextAsync(ICredentialStore store, string name, int version, byte[] nonce, byte[] ciphertext)
    {
        Db(store).WriteCiphertext(name, version, nonce, ciphertext);
        return Task.CompletedTask;
    }

    protected override Task TamperAuditAsync(ICredentialStore store, AuditTamper tamper)
    {
        switch (tamper)
        {
            case AuditTamper.EditColumn { Column: "detail" } edit:
                Db(store).EditAudit(edit.Sequence, e => e with { Detail = edit.Value });
                break;
            case AuditTamper.EditColumn { Column: "actor" } edit:
                Db(store).EditAudit(edit.Sequence, e => e with { Actor = edit.Value });
                break;
            case AuditTamper.DeleteRows { Sequence: { } seq }:
                Db(store).DeleteAudit(s => s == seq);
                break;
            case AuditTamper.DeleteRows:
                Db(store).DeleteAudit(_ => true);
                break;
            default:
                throw new ArgumentException($"no in-memory form of {tamper}", nameof(tamper));
        }
        return Task.CompletedTask;
    }

    /// <summary>Beyond the shared contract: a write of another instance while one holds a transaction fails instead of
    /// slipping in between (SQLite would make it wait), and the transaction's rows are invisible to it until commit.</summary>
    [Fact]
    public async Task SecondInstance_SeesOnlyCommittedRows_AndCannotWriteDuringATransaction()
    {
        var a = await NewStoreAsync();
        var b = Db(a).Open();
        await using (b)
        {
            await using (var tx = await a.BeginAsync(Ct))
            {
                await a.PutAsync(Version("inside", Keyward.Core.Secrets.Secret.Random(8)), Ct);
                Assert.Empty(await b.ListVersionsAsync(Ct));
                await Assert.ThrowsAsync<InvalidOperationException>(() => b.PutAsync(Version("other", Keyward.Core.Secrets.Secret.Random(8)), Ct));
                await tx.CommitAsync(Ct);
            }
            Assert.Equal(["inside"], (await b.ListVersionsAsync(Ct)).Select(v => v.Name));
            await b.PutAsync(Version("other", Keyward.Core.Secrets.Secret.Random(8)), Ct);
            Assert.Equal(2, (await a.ListVersionsAsync(Ct)).Count);
        }
    }

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        foreach (var db in _databases) db.Dispose();
    }
}
