using System.Security.Cryptography;
using System.Text;
using Keyward.Core.Errors;
using Keyward.Core.Secrets;
using Keyward.Core.Store;
using Keyward.Store.Contract;
using Keyward.Store.Encryption;
using Npgsql;

namespace Keyward.Store.Postgres;

/// <summary>
/// A state whose rows live in PostgreSQL while the replica's identity stays in its state directory
/// (<c>DIR/identity.txt</c>): the database holds the data key only wrapped (age) to the replicas' recipients, so a
/// dump of the database alone reveals no value. The same four ways in as <see cref="StateDirectory"/>: read (no
/// lock), write (the writer lock, <see cref="PostgresWriterLock"/>), open-or-init and init. See docs/store.md, "PostgreSQL".
/// </summary>
public static class PostgresState
{
    /// <summary>For commands that only read: no writer lock (PostgreSQL gives each statement a consistent snapshot).</summary>
    public static Task<OpenedState> OpenAsync(string dir, PostgresConnection store, TimeProvider time, CancellationToken ct) =>
        OpenAsync(dir, store, time, AgeDataKeyWrap.Instance, ct);

    /// <summary>For commands that write: waits for the writer lock and holds it until the state is disposed.</summary>
    public static Task<OpenedState> OpenForWriteAsync(string dir, PostgresConnection store, StateLockOptions lockOptions, TimeProvider time, CancellationToken ct) =>
        OpenCoreAsync(dir, store, lockOptions, time, AgeDataKeyWrap.Instance, init: null, ct);

    /// <summary>Opens for writing, creating the store in the (empty) database first when it holds none; the replica's
    /// identity is created in <paramref name="dir"/> when missing. <see cref="OpenedState.Created"/> says which.</summary>
    public static Task<OpenedState> OpenOrInitAsync(string dir, PostgresConnection store, IReadOnlyList<string> extraRecipients, StateLockOptions lockOptions, TimeProvider time, CancellationToken ct) =>
        OpenCoreAsync(dir, store, lockOptions, time, AgeDataKeyWrap.Instance, extraRecipients, ct);

    internal static Task<OpenedState> OpenAsync(string dir, PostgresConnection store, TimeProvider time, IDataKeyWrap wrap, CancellationToken ct) =>
        OpenCoreAsync(dir, store, null, time, wrap, init: null, ct);

    internal static Task<OpenedState> OpenForWriteAsync(string dir, PostgresConnection store, StateLockOptions lockOptions, TimeProvider time, IDataKeyWrap wrap, CancellationToken ct) =>
        OpenCoreAsync(dir, store, lockOptions, time, wrap, init: null, ct);

    internal static Task<OpenedState> OpenOrInitAsync(string dir, PostgresConnection store, IReadOnlyList<string> extraRecipients, StateLockOptions lockOptions, TimeProvider time, IDataKeyWrap wrap, CancellationToken ct) =>
        OpenCoreAsync(dir, store, lockOptions, time, wrap, extraRecipients, ct);

    /// <summary><paramref name="lockOptions"/> null: a reader. <paramref name="init"/> non-null: create the store when the database has none.</summary>
    private static async Task<OpenedState> OpenCoreAsync(string dir, PostgresConnection store, StateLockOptions? lockOptions, TimeProvider time, IDataKeyWrap wrap,
        IReadOnlyList<string>? init, CancellationToken ct)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(dir);
        ct.ThrowIfCancellationRequested();
        var extras = init?.Select(wrap.NormaliseRecipient).ToList(); // validate before creating anything
        var dataSource = store.CreateDataSource();
        NpgsqlConnection? connection = null;
        StoreKeys? keys = null;
        try
        {
            connection = await dataSource.OpenConnectionAsync(ct).ConfigureAwait(false);
            var held = lockOptions is null ? null : await PostgresWriterLock.AcquireAsync(connection, store.Display, lockOptions, ct).ConfigureAwait(false);
            await PostgresSchema.MigrateAsync(connection, store.Display, time, ct).ConfigureAwait(false);
            var identityPath = Path.Combine(dir, StateDirectory.IdentityFileName);
            var created = false;
            if (await ReadMetaAsync(connection, StoreMetaKeys.StoreId, ct).ConfigureAwait(false) is null)
            {
                if (extras is null)
                    throw ErrorCodes.StoreNotInitialised.Exception($"{store.Display} holds no Keyward store yet",
                        "run `keyward init --state DIR --store CONN` once (or `keyward apply`, which initialises an empty store)");
                await CreateStoreAsync(connection, dir, identityPath, extras, time, wrap, ct).ConfigureAwait(false);
                created = true;
            }
            var permissionWarnings = StatePermissions.Tighten(dir, identityPath);
            using var identityText = await ReadIdentityAsync(dir, identityPath, store, ct).ConfigureAwait(false);
            var storeId = Text(await ReadMetaAsync(connection, StoreMetaKeys.StoreId, ct).ConfigureAwait(false));
            var wrapped = await ReadMetaAsync(connection, StoreMetaKeys.WrappedDataKey, ct).ConfigureAwait(false);
            var keyCheck = Text(await ReadMetaAsync(connection, StoreMetaKeys.KeyCheck, ct).ConfigureAwait(false));
            if (storeId is null || wrapped is null || keyCheck is null)
                throw ErrorCodes.StoreCorrupt.Exception($"{store.Display} has no store id or wrapped data key", "restore the database from a backup");
            var recipient = wrap.RecipientOf(identityText);
            using (var dataKey = wrap.Unwrap(wrapped, identityText))
            {
                if (dataKey.Length != StoreKeys.DataKeyLength)
                    throw ErrorCodes.StoreKeyMismatch.Exception($"the data key unwrapped from {store.Display} has the wrong length");
                keys = new StoreKeys(dataKey, storeId);
            }
            if (!CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(keys.KeyCheck), Encoding.ASCII.GetBytes(keyCheck)))
                throw ErrorCodes.StoreKeyMismatch.Exception($"the data key unwrapped from {store.Display} does not match the store's key check");
            var recipients = (Text(await ReadMetaAsync(connection, StoreMetaKeys.Recipients, ct).ConfigureAwait(false)) ?? "").Split('\n', StringSplitOptions.RemoveEmptyEntries);
            var credentialStore = new PostgresCredentialStore(dataSource, connection, keys, store);
            await credentialStore.VerifySealAsync(ct).ConfigureAwait(false);
            var state = new OpenedState(credentialStore, dir, identityPath, recipient, recipients, wrap)
            {
                Warnings = permissionWarnings,
                Created = created,
            };
            if (held is not null) state.Hold(held);
            return state;
        }
        catch (Exception e) when (PostgresErrors.IsTranslatable(e))
        {
            keys?.Dispose();
            if (connection is not null) await connection.DisposeAsync().ConfigureAwait(false);
            await dataSource.DisposeAsync().ConfigureAwait(false);
            throw PostgresErrors.Translate(e, store.Display);
        }
        catch
        {
            keys?.Dispose();
            if (connection is not null) await connection.DisposeAsync().ConfigureAwait(false);
            await dataSource.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Under the writer lock: the replica's identity (created 0600 in a 0700 directory when missing), then the
    /// store's meta rows in one transaction — a kill between the two leaves an identity and an empty store, which the
    /// next init completes.</summary>
    private static async Task CreateStoreAsync(NpgsqlConnection connection, string dir, string identityPath, List<string> extras, TimeProvider time, IDataKeyWrap wrap, CancellationToken ct)
    {
        StateDirectory.PrepareDirectory(dir);
        string recipient;
        if (File.Exists(identityPath))
        {
            using var existing = Secret.Adopt(await File.ReadAllBytesAsync(identityPath, ct).ConfigureAwait(false));
            recipient = wrap.RecipientOf(existing);
        }
        else
        {
            var generated = wrap.GenerateIdentity(time.GetUtcNow());
            using (generated.FileText)
            {
                StateDirectory.WriteNewFile(identityPath, generated.FileText.Reveal());
            }
            StatePosix.FsyncDirectory(dir);
            recipient = generated.Recipient;
        }
        var recipients = new List<string> { recipient };
        recipients.AddRange(extras.Where(r => !recipients.Contains(r, StringComparer.Ordinal)).Distinct(StringComparer.Ordinal));
        var storeId = "kws_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
        using var dataKey = Secret.Random(StoreKeys.DataKeyLength);
        using var keys = new StoreKeys(dataKey, storeId);
        await WriteMetaRowsAsync(connection, storeId, wrap.Wrap(dataKey.Reveal(), recipients), recipients, keys.KeyCheck, time.GetUtcNow(), ct).ConfigureAwait(false);
    }

    /// <summary>For <c>store copy</c>: fills an empty database with <paramref name="source"/>'s store id and data key
    /// (wrapped to the same recipients), then opens it for writing. KW0323 when the database already holds a store.</summary>
    internal static async Task<OpenedState> CreateCopyTargetAsync(string dir, PostgresConnection store, OpenedState source, StateLockOptions lockOptions, TimeProvider time, CancellationToken ct)
    {
        await using (var dataSource = store.CreateDataSource())
        {
            try
            {
                await using var connection = await dataSource.OpenConnectionAsync(ct).ConfigureAwait(false);
                await PostgresWriterLock.AcquireAsync(connection, store.Display, lockOptions with { Purpose = "store copy" }, ct).ConfigureAwait(false);
                await PostgresSchema.MigrateAsync(connection, store.Display, time, ct).ConfigureAwait(false);
                if (await ReadMetaAsync(connection, StoreMetaKeys.StoreId, ct).ConfigureAwait(false) is not null)
                    throw ErrorCodes.StoreCopyTargetNotEmpty.Exception($"{store.Display} already holds a Keyward store");
                var keys = source.KeyedStore.Keys;
                await WriteMetaRowsAsync(connection, keys.StoreId, source.Wrap.Wrap(keys.DataKey.Reveal(), source.Recipients), source.Recipients, keys.KeyCheck, time.GetUtcNow(), ct).ConfigureAwait(false);
            }
            catch (Exception e) when (PostgresErrors.IsTranslatable(e))
            {
                throw PostgresErrors.Translate(e, store.Display);
            }
        }
        return await OpenCoreAsync(dir, store, lockOptions, time, source.Wrap, init: null, ct).ConfigureAwait(false);
    }

    /// <summary>The five meta rows a store starts with (also what <c>store copy</c> writes into an empty target).</summary>
    internal static async Task WriteMetaRowsAsync(NpgsqlConnection connection, string storeId, byte[] wrapped, IReadOnlyList<string> recipients, string keyCheck, DateTimeOffset createdAt, CancellationToken ct)
    {
        await using var tx = await connection.BeginTransactionAsync(ct).ConfigureAwait(false);
        foreach (var (key, value) in new (string, byte[])[]
        {
            (StoreMetaKeys.StoreId, Encoding.UTF8.GetBytes(storeId)),
            (StoreMetaKeys.WrappedDataKey, wrapped),
            (StoreMetaKeys.Recipients, Encoding.UTF8.GetBytes(string.Join('\n', recipients))),
            (StoreMetaKeys.KeyCheck, Encoding.UTF8.GetBytes(keyCheck)),
            (StoreMetaKeys.CreatedAt, Encoding.UTF8.GetBytes(StoreTime.Format(createdAt))),
        })
        {
            await using var command = new NpgsqlCommand("INSERT INTO meta (key, value) VALUES (@k, @v);", connection, tx);
            command.Parameters.AddWithValue("k", key);
            command.Parameters.AddWithValue("v", value);
            await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }
        await tx.CommitAsync(ct).ConfigureAwait(false);
    }

    private static async Task<Secret> ReadIdentityAsync(string dir, string identityPath, PostgresConnection store, CancellationToken ct)
    {
        if (Directory.Exists(identityPath))
            throw ErrorCodes.StoreIdentityInvalid.Exception($"{identityPath} is a directory, not an identity file");
        if (!File.Exists(identityPath))
            throw ErrorCodes.StoreIdentityMissing.Exception($"{identityPath} is missing; the store in {store.Display} cannot be decrypted without this replica's identity",
                $"copy identity.txt from a replica that opens the store into {dir}, or create one (age-keygen -o {identityPath}) and add its recipient on such a replica with `keyward store add-recipient`");
        try
        {
            return Secret.Adopt(await File.ReadAllBytesAsync(identityPath, ct).ConfigureAwait(false));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new KeywardException(ErrorCodes.StoreIdentityMissing.With($"{identityPath} cannot be read ({e.GetType().Name})", "check the identity file's owner and mode (0600, owned by the user running keyward)"), e);
        }
    }

    internal static async Task<byte[]?> ReadMetaAsync(NpgsqlConnection connection, string key, CancellationToken ct)
    {
        await using var command = new NpgsqlCommand("SELECT value FROM meta WHERE key = @k;", connection);
        command.Parameters.AddWithValue("k", key);
        return await command.ExecuteScalarAsync(ct).ConfigureAwait(false) as byte[];
    }

    private static string? Text(byte[]? value) => value is null ? null : Encoding.UTF8.GetString(value);
}
