using Keyward.Store.Contract;
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

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        foreach (var dir in _dirs) dir.Dispose();
    }
}
